// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: the host datapath on cilium_host / cilium_net.  Needs
 * node_config.h.
 */
#include "lib/common.h"

#include "node_config.h"

#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/encap.h"
#include "lib/local_delivery.h"

/* The node's own traffic to pods (node routes are `via <router IP> dev
 * cilium_host`): to a local pod, or through the tunnel as identity host.
 */
static __always_inline int handle_ipv4_from_host(struct __sk_buff *ctx)
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
		if (ep->flags & ENDPOINT_F_HOST)
			return CTX_ACT_OK;
		return ipv4_local_delivery(ctx, ip4, ep, DELIVER_VIA_LXC);
	}

	tunnel = lookup_ip4_tunnel(daddr);
	if (tunnel)
		return encap_and_redirect(ctx, tunnel, HOST_ID);

	return CTX_ACT_OK;
}

/* Attached at tc egress of cilium_host: what the node routes to pods. */
__section("from-host")
int cil_from_host(struct __sk_buff *ctx)
{
	__u16 proto;
	int ret = CTX_ACT_OK;

	if (!validate_ethertype(ctx, &proto))
		goto out;
	if (proto == bpf_htons(ETH_P_IP))
		ret = handle_ipv4_from_host(ctx);
out:
	return ctx_finish(ctx, ret, METRIC_EGRESS, OBS_FROM_HOST);
}

/* Attached at tc ingress of cilium_host and of cilium_net: packets entering
 * the node's stack through the pair.  Counted and passed.
 */
__section("to-host")
int cil_to_host(struct __sk_buff *ctx)
{
	return ctx_finish(ctx, CTX_ACT_OK, METRIC_INGRESS, OBS_TO_HOST);
}

char __license[] __section("license") = "Dual BSD/GPL";
