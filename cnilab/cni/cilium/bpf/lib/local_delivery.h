/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: delivery to endpoints of this node (cilium_lxc). */
#ifndef __LIB_LOCAL_DELIVERY_H_
#define __LIB_LOCAL_DELIVERY_H_

#include "common.h"
#include "maps.h"
#include "eth.h"
#include "ipv4.h"
#include "lb.h"
#include "dbg.h"
#include "trace.h"
#include "conntrack.h"

static __always_inline struct endpoint_info *lookup_ip4_endpoint(__u32 addr)
{
	struct endpoint_key key = {
		.ip4 = addr,
		.family = ENDPOINT_KEY_IPV4,
	};

	return bpf_map_lookup_elem(&cilium_lxc, &key);
}

enum delivery_mode {
	/* From an ingress hook (lxc, cilium_vxlan): straight into the pod's
	 * namespace, skipping the host-side veth's own transmit path.
	 */
	DELIVER_TO_PEER,
	/* From an egress hook (cilium_host): bpf_redirect_peer only works at
	 * ingress, so transmit on the host-side lxc device instead.
	 */
	DELIVER_VIA_LXC,
};

/* Route @ip4 to endpoint @ep as a router would: TTL-1, source MAC = the
 * lxc's, destination MAC = the pod's.  @ip4 must come from
 * ipv4_load_header() with no helper call in between.  @seclabel: the
 * sender's identity.
 *
 * What Cilium does in the destination endpoint's own program (its policy
 * tail call, ipv4_policy()) happens here on its behalf, reported with its
 * endpoint id: the ingress conntrack lookup and the to-endpoint trace.
 *
 * With services, a reply of a flow this node translated (the pod is the
 * client of a ClusterIP) first gets its source back: the reply enters the
 * client's pod through here whichever way it came (from-container,
 * from-overlay, from-host, from-netdev).
 */
static __always_inline int ipv4_local_delivery(struct __sk_buff *ctx,
					       struct iphdr *ip4,
					       const struct endpoint_info *ep,
					       enum delivery_mode mode,
					       __u32 seclabel)
{
	__be32 saddr, daddr;
	__u32 l4_off, monitor;
	__u8 proto;
	int ret;

	cilium_dbg(ctx, DBG_LOCAL_DELIVERY, ep->lxc_id, seclabel);
#ifdef ENABLE_SERVICES
	ret = lb4_rev_nat_at_delivery(ctx, &ip4);
	if (ret < 0)
		return ret;
#endif /* ENABLE_SERVICES */
	ret = ipv4_dec_ttl(ip4);
	if (ret < 0)
		return ret;
	saddr = ip4->saddr;
	daddr = ip4->daddr;
	proto = ip4->protocol;
	l4_off = ETH_HLEN + ip4->ihl * 4;
	ret = eth_rewrite_macs(ctx, (const __u8 *)&ep->node_mac,
			       (const __u8 *)&ep->mac);
	if (ret < 0)
		return ret;
	ret = ct_track4(ctx, ep->lxc_id, l4_off, saddr, daddr, proto, CT_INGRESS, seclabel, &monitor);
	if (ret < 0)
		return ret;
	send_trace_notify4_from(ctx, ep->lxc_id, TRACE_TO_LXC, seclabel, ep->sec_id,
				ep->lxc_id, ep->ifindex, ret, saddr, monitor);
	if (mode == DELIVER_TO_PEER)
		return bpf_redirect_peer(ep->ifindex, 0);
	return bpf_redirect(ep->ifindex, 0);
}

#endif /* __LIB_LOCAL_DELIVERY_H_ */
