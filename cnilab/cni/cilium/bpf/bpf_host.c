// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: the host datapath on cilium_host / cilium_net, and on the
 * node's native device (eth0) when kube-proxy replacement, BPF masquerade
 * or BPF host routing need it.  Needs node_config.h.
 */
#include "lib/common.h"

#include "node_config.h"

#define EVENT_SOURCE HOST_EP_ID

#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/encap.h"
#include "lib/local_delivery.h"
#include "lib/nodeport.h"
#include "lib/conntrack.h"

/* The sender's identity from the ipcache, reported as Cilium's
 * resolve_srcid_ipv4() does ("Successfully mapped addr=... to identity=6";
 * the host's own addresses print as 0).
 */
static __always_inline __u32 resolve_srcid_ipv4(struct __sk_buff *ctx, __be32 saddr)
{
	struct remote_endpoint_info *info = lookup_ip4_remote_endpoint(saddr);
	__u32 srcid = info && info->sec_label ? info->sec_label : WORLD_ID;

	if (info)
		cilium_dbg(ctx, DBG_IP_ID_MAP_SUCCEED4, saddr, srcid == HOST_ID ? 0 : srcid);
	else
		cilium_dbg(ctx, DBG_IP_ID_MAP_FAILED4, saddr, 0);
	return srcid;
}

/* The node's own traffic to pods (node routes are `via <router IP> dev
 * cilium_host`): to a local pod, or through the tunnel as identity host.
 */
static __always_inline int handle_ipv4_from_host(struct __sk_buff *ctx)
{
	__u32 srcid;
	struct endpoint_info *ep;
	struct tunnel_value *tunnel;
	struct iphdr *ip4;
	__u32 daddr;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	srcid = resolve_srcid_ipv4(ctx, ip4->saddr);
	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	daddr = ip4->daddr;

	ep = lookup_ip4_endpoint(daddr);
	if (ep) {
		if (ep->flags & ENDPOINT_F_HOST)
			return CTX_ACT_OK;
		return ipv4_local_delivery(ctx, ip4, ep, DELIVER_VIA_LXC, srcid);
	}

	tunnel = lookup_ip4_tunnel(daddr);
	if (tunnel)
		return encap_and_redirect(ctx, tunnel, srcid, 0, TRACE_REASON_UNKNOWN, TRACE_PAYLOAD_LEN);

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

#if defined(ENABLE_NODEPORT) || defined(ENABLE_MASQUERADE_IPV4) || \
    defined(ENABLE_HOST_ROUTING)
#ifdef NODEPORT_PORT_MIN_NAT
# define HOST_FLOW_PORT_MIN	NODEPORT_PORT_MIN_NAT
/* The node's own UDP and TCP flows from its address with a source port in
 * the SNAT range (VXLAN's, for one) are tracked on their way out, as Cilium
 * tracks the host's flows it may SNAT (snat_v4_track_connection(), 1.13
 * lib/nat.h): what `cnilab monitor` shows as a "CT entry found" for every
 * VXLAN packet the node sends.  Their replies are not looked up.
 */
static __always_inline int track_host_flow(struct __sk_buff *ctx)
{
	struct iphdr *ip4;
	__be16 sport;
	__u32 off, monitor;
	int ret;

	/* What is not a whole header is left to the rest of the program. */
	if (ipv4_load_header(ctx, &ip4) < 0)
		return 0;
	if (ip4->saddr != NODE_IPV4 || ip4->frag_off & bpf_htons(0x1FFF) ||
	    (ip4->protocol != IPPROTO_TCP && ip4->protocol != IPPROTO_UDP))
		return 0;
	off = ETH_HLEN + ip4->ihl * 4;
	if (bpf_skb_load_bytes(ctx, off, &sport, sizeof(sport)) < 0 ||
	    off + (ip4->protocol == IPPROTO_TCP ? TCP_HLEN : UDP_HLEN) > ctx->len)
		return 0;
	if (bpf_ntohs(sport) < HOST_FLOW_PORT_MIN)
		return 0;
	ret = ct_track4(ctx, EVENT_SOURCE, off, ip4->saddr, ip4->daddr, ip4->protocol,
			CT_EGRESS, 0, &monitor);
	return ret < 0 ? ret : 0;
}
#endif /* NODEPORT_PORT_MIN_NAT */

/* What arrives on eth0: replies to translated flows (masquerade, NodePort
 * toward a remote backend) are un-SNATed and sent on; NodePort requests are
 * load-balanced; with BPF host routing, packets for local pods are
 * delivered here instead of climbing the stack.  The rest (the node's own
 * traffic, VXLAN, ARP) goes to the stack untouched.
 *
 * Every packet's sender is resolved to its identity (Cilium's
 * resolve_srcid_ipv4(), a debug message).
 */
static __always_inline int handle_ipv4_from_netdev(struct __sk_buff *ctx)
{
	struct iphdr *ip4;
	__u32 srcid __maybe_unused;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;

	srcid = resolve_srcid_ipv4(ctx, ip4->saddr);
	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
#ifdef ENABLE_LB_NAT_MAPS
	if (ip4->daddr == NODE_IPV4) {
		__be32 saddr = ip4->saddr, daddr = ip4->daddr;
		struct ipv4_l4 l4;

		ret = ipv4_load_l4(ctx, ip4, &l4, true);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			ret = nodeport_rev_snat(ctx, &l4, saddr, daddr);
			if (ret < 0)
				return ret;
			if (ret > 0)
				return fwd_translated(ctx, host_routing_bpf(), WORLD_ID);
#ifdef ENABLE_NODEPORT
			if (l4.proto != IPPROTO_ICMP && nodeport_port(l4.dport)) {
				struct lb4_service *svc = lb4_lookup_service(0, l4.dport);

				if (svc)
					return nodeport_lb4(ctx, &l4, saddr, daddr, svc);
			}
#endif /* ENABLE_NODEPORT */
		}
		return CTX_ACT_OK;
	}
#endif /* ENABLE_LB_NAT_MAPS */

#ifdef ENABLE_HOST_ROUTING
	{
		struct endpoint_info *ep = lookup_ip4_endpoint(ip4->daddr);

		if (ep && !(ep->flags & ENDPOINT_F_HOST))
			return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER, srcid);
	}
#endif /* ENABLE_HOST_ROUTING */
	return CTX_ACT_OK;
}

/* Attached at tc ingress of the node's native device (eth0), in
 * kube-proxy replacement / BPF masquerade / BPF host routing labs.
 */
__section("from-netdev")
int cil_from_netdev(struct __sk_buff *ctx)
{
	__u16 proto;
	int ret = CTX_ACT_OK;

	send_trace_notify4(ctx, TRACE_FROM_NETWORK, 0, 0, 0, ctx->ingress_ifindex,
			   TRACE_REASON_UNKNOWN, 0, TRACE_PAYLOAD_LEN);
	if (!validate_ethertype(ctx, &proto))
		goto out;
	if (proto == bpf_htons(ETH_P_IP))
		ret = handle_ipv4_from_netdev(ctx);
out:
	return ctx_finish(ctx, ret, METRIC_INGRESS, OBS_FROM_NETDEV);
}

/* Attached at tc egress of the node's native device (eth0), same labs:
 * BPF masquerade of pod traffic leaving the node.
 */
__section("to-netdev")
int cil_to_netdev(struct __sk_buff *ctx)
{
	__u16 proto;
	int ret = CTX_ACT_OK;

	if (!validate_ethertype(ctx, &proto))
		goto out;
#ifdef HOST_FLOW_PORT_MIN
	if (proto == bpf_htons(ETH_P_IP)) {
		ret = track_host_flow(ctx);
		if (ret < 0)
			goto out;
		ret = CTX_ACT_OK;
	}
#endif /* HOST_FLOW_PORT_MIN */
#ifdef ENABLE_MASQUERADE_IPV4
	if (proto == bpf_htons(ETH_P_IP))
		ret = snat_v4_masquerade(ctx);
#endif /* ENABLE_MASQUERADE_IPV4 */
	/* Cilium 1.13.0-1.13.6: no conntrack state, so only without aggregation. */
	if (ret >= 0)
		send_trace_notify4(ctx, TRACE_TO_NETWORK, 0, 0, 0, 0, TRACE_REASON_UNKNOWN, 0, 0);
out:
	return ctx_finish(ctx, ret, METRIC_EGRESS, OBS_TO_NETDEV);
}
#endif /* ENABLE_NODEPORT || ENABLE_MASQUERADE_IPV4 || ENABLE_HOST_ROUTING */

char __license[] __section("license") = "Dual BSD/GPL";
