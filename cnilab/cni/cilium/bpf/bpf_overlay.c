// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: the overlay datapath on cilium_vxlan.  Needs node_config.h. */
#include "lib/common.h"

#include "node_config.h"

#define EVENT_SOURCE 0 /* as Cilium's bpf_overlay: "FROM 0" */

#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/encap.h"
#include "lib/local_delivery.h"
#include "lib/nodeport.h"

/* A decapsulated packet from another node (@key: its tunnel key; the VNI is the sender's identity):
 * deliver it to its pod, or to the node's stack through cilium_host when
 * it is for the router IP.  With NodePort, a reply to the router IP may
 * answer a NodePort request this node sent through the tunnel: un-SNAT,
 * reverse-NAT and send it back to the client.
 */
static __always_inline int handle_ipv4_from_overlay(struct __sk_buff *ctx,
						    const struct bpf_tunnel_key *key)
{
	__u32 identity = key->tunnel_id;
	union macaddr host_mac = HOST_IFINDEX_MAC;
	struct endpoint_info *ep;
	struct iphdr *ip4;
	int ret;

	cilium_dbg(ctx, DBG_DECAP, key->tunnel_id, key->tunnel_label);
	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	/* A node's own packets say remote-node: which node, the ipcache tells
	 * (1.13 bpf_overlay.c handle_ipv4).  No sender says host.
	 */
	if (identity == HOST_ID)
		return DROP_INVALID_IDENTITY;
	if (identity == REMOTE_NODE_ID) {
		struct remote_endpoint_info *info = lookup_ip4_remote_endpoint(ip4->saddr);

		if (info && info->sec_label)
			identity = info->sec_label;
	}

#if defined(ENABLE_NODEPORT) && defined(TUNNEL_MODE)
	if (ip4->daddr == IPV4_GATEWAY) {
		__be32 saddr = ip4->saddr, daddr = ip4->daddr;
		struct ipv4_l4 l4;

		ret = ipv4_load_l4(ctx, ip4, &l4, false);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			ret = nodeport_rev_snat(ctx, &l4, saddr, daddr);
			if (ret < 0)
				return ret;
			if (ret > 0)
				return fwd_translated(ctx, true, identity);
		}
		ret = ipv4_load_header(ctx, &ip4);
		if (ret < 0)
			return ret;
	}
#endif /* ENABLE_NODEPORT && TUNNEL_MODE */

	ep = lookup_ip4_endpoint(ip4->daddr);
	if (!ep)
		return CTX_ACT_OK;
	if (ep->flags & ENDPOINT_F_HOST) {
		ret = eth_store_daddr(ctx, host_mac.addr);
		if (ret < 0)
			return ret;
		return bpf_redirect(HOST_IFINDEX, BPF_F_INGRESS);
	}
	return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER, identity);
}

/* Attached at tc ingress of cilium_vxlan: every packet the device
 * decapsulated, with its tunnel key (VNI = the sender's identity).
 */
__section("from-overlay")
int cil_from_overlay(struct __sk_buff *ctx)
{
	struct bpf_tunnel_key key = {};
	__u16 proto;
	int ret = CTX_ACT_OK;

	/* Every packet received on a flow-based device carries a tunnel key;
	 * one without cannot be attributed to a sender, Cilium drops it.
	 * The identity is the sender's in the destination's conntrack entry
	 * and traces; it would feed ingress policy, which cnilab does not
	 * enforce.
	 */
	send_trace_notify4(ctx, TRACE_FROM_OVERLAY, 0, 0, 0, ctx->ingress_ifindex,
			   TRACE_REASON_UNKNOWN, 0, TRACE_PAYLOAD_LEN);
	if (ctx_get_tunnel_key(ctx, &key) < 0) {
		ret = DROP_NO_TUNNEL_KEY;
		goto out;
	}
	if (!validate_ethertype(ctx, &proto))
		goto out;
	if (proto == bpf_htons(ETH_P_IP))
		ret = handle_ipv4_from_overlay(ctx, &key);
out:
	return ctx_finish(ctx, ret, METRIC_INGRESS, OBS_FROM_OVERLAY);
}

/* Attached at tc egress of cilium_vxlan: packets from-container and
 * from-host redirected here, their tunnel key already set.  Nothing to do
 * but count them, and trace them without conntrack state (so only
 * without monitor aggregation, as Cilium).
 */
__section("to-overlay")
int cil_to_overlay(struct __sk_buff *ctx)
{
	send_trace_notify4(ctx, TRACE_TO_OVERLAY, 0, 0, 0, 0, TRACE_REASON_UNKNOWN, 0, 0);
	return ctx_finish(ctx, CTX_ACT_OK, METRIC_EGRESS, OBS_TO_OVERLAY);
}

char __license[] __section("license") = "Dual BSD/GPL";
