/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: VXLAN encapsulation through the flow-based cilium_vxlan device.
 *
 * cilium_vxlan is `vxlan external`: it has no remote of its own, each packet
 * carries its tunnel metadata (set with bpf_skb_set_tunnel_key) and the
 * device builds the outer headers from it.  VNI = source security identity.
 * Needs from node_config.h: ENCAP_IFINDEX, IPV4_MASK.
 */
#ifndef __LIB_ENCAP_H_
#define __LIB_ENCAP_H_

#include "common.h"
#include "maps.h"
#include "dbg.h"
#include "trace.h"

#define IPDEFTTL	64

#ifdef TEST_MOCK_TUNNEL_KEY
/* BPF_PROG_TEST_RUN cannot attach tunnel metadata to a test packet, and
 * what bpf_skb_set_tunnel_key stored is not visible in its output.  Test
 * builds (tests/bpf) therefore get the received key from slot 0 of this map
 * and record the key they set in slot 1, the way Cilium's bpf/tests mock
 * helpers.  The real helper is still called on the send side.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bpf_tunnel_key);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, 2);
} test_tunnel_key SEC(".maps");

static __always_inline int ctx_get_tunnel_key(struct __sk_buff *ctx __maybe_unused,
					      struct bpf_tunnel_key *key)
{
	__u32 slot = 0;
	struct bpf_tunnel_key *mock;

	mock = bpf_map_lookup_elem(&test_tunnel_key, &slot);
	if (!mock || !mock->remote_ipv4)
		return -2; /* -ENOENT, as with no metadata */
	*key = *mock;
	return 0;
}

static __always_inline int ctx_set_tunnel_key(struct __sk_buff *ctx,
					      struct bpf_tunnel_key *key,
					      __u64 flags)
{
	__u32 slot = 1;

	bpf_map_update_elem(&test_tunnel_key, &slot, key, 0);
	return bpf_skb_set_tunnel_key(ctx, key, sizeof(*key), flags);
}
#else
static __always_inline int ctx_get_tunnel_key(struct __sk_buff *ctx,
					      struct bpf_tunnel_key *key)
{
	return bpf_skb_get_tunnel_key(ctx, key, sizeof(*key), 0);
}

static __always_inline int ctx_set_tunnel_key(struct __sk_buff *ctx,
					      struct bpf_tunnel_key *key,
					      __u64 flags)
{
	return bpf_skb_set_tunnel_key(ctx, key, sizeof(*key), flags);
}
#endif /* TEST_MOCK_TUNNEL_KEY */

/* The node owning @daddr (network order), from its pod CIDR.  All nodes of a
 * lab have pod CIDRs of the same length, so masking with our own
 * IPV4_MASK yields the remote CIDR's base address, which is the key.
 */
static __always_inline struct tunnel_value *lookup_ip4_tunnel(__u32 daddr)
{
	struct tunnel_key key = {
		.ip4 = daddr & IPV4_MASK,
		.family = ENDPOINT_KEY_IPV4,
	};

	return bpf_map_lookup_elem(&cilium_tunnel_map, &key);
}

/* Hand the packet, unchanged (inner MACs are the sender's), to
 * cilium_vxlan with a tunnel key for @tunnel.  @seclabel goes on the wire
 * as the VNI (the host's as LOCAL_NODE_ID).  @dst_id (the destination's identity), @reason (its
 * conntrack state) and @monitor only go into the to-overlay trace, as in
 * Cilium's __encap_and_redirect_with_nodeid().
 */
static __always_inline int encap_and_redirect(struct __sk_buff *ctx,
					      const struct tunnel_value *tunnel,
					      __u32 seclabel, __u32 dst_id, __u8 reason,
					      __u32 monitor)
{
	struct bpf_tunnel_key key = {};
	__u32 trace_label = seclabel;

	if (seclabel == HOST_ID)
		seclabel = LOCAL_NODE_ID;
	key.tunnel_id = seclabel;
	/* The one address in the datapath in host byte order. */
	key.remote_ipv4 = bpf_ntohl(tunnel->ip4);
	key.tunnel_ttl = IPDEFTTL;

	cilium_dbg(ctx, DBG_ENCAP, key.remote_ipv4, seclabel);
	if (ctx_set_tunnel_key(ctx, &key, BPF_F_ZERO_CSUM_TX) < 0)
		return DROP_WRITE_ERROR;
	send_trace_notify4(ctx, TRACE_TO_OVERLAY, trace_label, dst_id, 0, ENCAP_IFINDEX, reason, 0, monitor);
	return bpf_redirect(ENCAP_IFINDEX, 0);
}

#endif /* __LIB_ENCAP_H_ */
