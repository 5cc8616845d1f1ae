// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: the endpoint datapath, compiled once per endpoint.
 *
 * Needs ep_config.h (LXC_ID, LXC_IPV4, SECLABEL, NODE_MAC, ...) and
 * node_config.h (IPV4_MASK, ENCAP_IFINDEX, ...).
 */
#include "lib/common.h"

#include "ep_config.h"
#include "node_config.h"

#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/arp.h"
#include "lib/encap.h"
#include "lib/local_delivery.h"

/* A packet the pod sent: to a pod of this node, to a pod of another node
 * through the tunnel, or to the stack for everything we do not route
 * (the node itself, the world, unknown destinations).
 */
static __always_inline int handle_ipv4_from_lxc(struct __sk_buff *ctx)
{
	struct endpoint_info *ep;
	struct tunnel_value *tunnel;
	struct iphdr *ip4;
	__u32 daddr;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	daddr = ip4->daddr;

	ep = lookup_ip4_endpoint(daddr);
	if (ep) {
		/* The router IP: the node's stack answers it. */
		if (ep->flags & ENDPOINT_F_HOST)
			return CTX_ACT_OK;
		return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER);
	}

	tunnel = lookup_ip4_tunnel(daddr);
	if (tunnel)
		return encap_and_redirect(ctx, tunnel, SECLABEL);

	return CTX_ACT_OK;
}

static __always_inline int handle_arp_from_lxc(struct __sk_buff *ctx)
{
	union macaddr mac = NODE_MAC;

	return arp_respond(ctx, &mac, LXC_IPV4);
}

/* Attached at tc ingress of the host-side veth lxc<hash> of this endpoint:
 * sees every packet the pod sends.
 */
__section("from-container")
int cil_from_container(struct __sk_buff *ctx)
{
	__u16 proto;
	int ret = CTX_ACT_OK;

	if (!validate_ethertype(ctx, &proto))
		goto out;

	switch (proto) {
	case bpf_htons(ETH_P_ARP):
		ret = handle_arp_from_lxc(ctx);
		break;
	case bpf_htons(ETH_P_IP):
		ret = handle_ipv4_from_lxc(ctx);
		break;
	default:
		/* IPv6 and the rest: not routed by this datapath. */
		break;
	}
out:
	return ctx_finish(ctx, ret, METRIC_EGRESS, OBS_FROM_CONTAINER);
}

char __license[] __section("license") = "Dual BSD/GPL";
