// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: the endpoint datapath, compiled once per endpoint.
 *
 * Needs ep_config.h (LXC_ID, LXC_IPV4, SECLABEL, NODE_MAC, ...) and
 * node_config.h (IPV4_MASK, ENCAP_IFINDEX, ...).
 */
#include "lib/common.h"

#include "ep_config.h"
#include "node_config.h"

#define EVENT_SOURCE LXC_ID

#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/eth.h"
#include "lib/ipv4.h"
#include "lib/arp.h"
#include "lib/encap.h"
#include "lib/local_delivery.h"
#include "lib/nodeport.h"
#include "lib/conntrack.h"

#ifdef ENABLE_SERVICES
/* Services seen from the pod, before routing: a packet to a frontend is
 * translated to a backend (ClusterIP; a NodePort of this node's own
 * address too); a reply of a flow translated on this node (this pod is a
 * backend) gets its frontend back as source.  Returns 1 when the packet
 * changed, 0 when not, or DROP_*.  *@force_native: the reply answers a
 * NodePort client elsewhere and must leave through the native device.
 *
 * Hairpin: when the backend picked is this pod, the request leaves here as
 * IPV4_LOOPBACK -> pod and the pod's answer comes back here as pod ->
 * IPV4_LOOPBACK, to be un-NATed to frontend -> pod (lib/lb.h); either way
 * its destination is now this pod, which the caller delivers to through
 * its own lxc.
 */
static __always_inline int lxc_services(struct __sk_buff *ctx, struct iphdr *ip4,
					bool *force_native)
{
	__be32 saddr = ip4->saddr, daddr = ip4->daddr;
	bool node_port = false;
	struct ipv4_l4 l4;
	int ret;

	ret = ipv4_load_l4(ctx, ip4, &l4, false);
	if (ret)
		return ret < 0 ? ret : 0;

#ifdef ENABLE_PER_PACKET_LB
	{
		struct lb4_backend backend;
		struct lb4_service *svc;
		__be32 fe_addr = daddr;

#ifdef ENABLE_NODEPORT
		/* Cilium's 0.0.0.0 surrogate: a NodePort on any address of
		 * this node.  Other nodes' addresses are routed to them and
		 * translated by their from-netdev.
		 */
		if (daddr == NODE_IPV4 && nodeport_port(l4.dport))
			fe_addr = 0;
#endif /* ENABLE_NODEPORT */
		svc = lb4_lookup_service(fe_addr, l4.dport);
		if (svc) {
			ret = lb4_local(ctx, &l4, saddr, daddr, fe_addr, svc, false, &backend);
			return ret < 0 ? ret : 1;
		}
	}
#endif /* ENABLE_PER_PACKET_LB */

	ret = lb4_rev_nat_reply(ctx, &l4, saddr, daddr, &node_port);
	if (ret > 0)
		*force_native = node_port;
	return ret;
}
#endif /* ENABLE_SERVICES */

/* A packet the pod sent: to a pod of this node, to a pod of another node
 * through the tunnel, or to the stack for everything we do not route
 * (the node itself, the world, unknown destinations).  With BPF host
 * routing, what is not for this node leaves through the native device
 * directly (bpf_redirect_neigh), skipping the host stack.
 */
static __always_inline int handle_ipv4_from_lxc(struct __sk_buff *ctx)
{
	struct remote_endpoint_info *info;
	struct ipv4_ct_tuple tuple = {};
	struct endpoint_info *ep;
	struct tunnel_value *tunnel;
	struct ct_state ct_state;
	struct iphdr *ip4;
	bool force_native = false;
	__u32 daddr, dst_id;
	int ret, ct_ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;

#ifdef ENABLE_SERVICES
	ret = lxc_services(ctx, ip4, &force_native);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		ret = ipv4_load_header(ctx, &ip4);
		if (ret < 0)
			return ret;
	}
#endif /* ENABLE_SERVICES */
	daddr = ip4->daddr;

	/* The flow, as Cilium tracks it after service translation; the
	 * destination's identity (for the trace); the flow recorded when new.
	 */
	tuple.daddr = daddr;
	tuple.saddr = ip4->saddr;
	tuple.nexthdr = ip4->protocol;
	ct_ret = ct_lookup4(ctx, EVENT_SOURCE, ETH_HLEN + ip4->ihl * 4, &tuple, CT_EGRESS, &ct_state);
	if (ct_ret < 0)
		return ct_ret;
	info = lookup_ip4_remote_endpoint(daddr);
	dst_id = info && info->sec_label ? info->sec_label : WORLD_ID;
	cilium_dbg(ctx, info ? DBG_IP_ID_MAP_SUCCEED4 : DBG_IP_ID_MAP_FAILED4, daddr, dst_id);
	if (ct_ret == CT_NEW) {
		ret = ct_create4(ctx, EVENT_SOURCE, &tuple, CT_EGRESS, SECLABEL, &ct_state);
		if (ret < 0)
			return ret;
	}
	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;

	/* A local pod, this one included (a service hairpin, looped back
	 * through its own lxc to its eth0).
	 */
	ep = lookup_ip4_endpoint(daddr);
	if (ep) {
		/* The router IP: the node's stack answers it. */
		if (ep->flags & ENDPOINT_F_HOST)
			return CTX_ACT_OK;
		return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER, SECLABEL);
	}

	tunnel = lookup_ip4_tunnel(daddr);
	if (tunnel)
		return encap_and_redirect(ctx, tunnel, SECLABEL, dst_id, ct_ret, ct_state.monitor);

#ifdef ENABLE_HOST_ROUTING
	/* The node's own address is local even when cilium_lxc lacks it;
	 * broadcast and multicast are not ours to forward: the stack
	 * decides, as it does without BPF host routing.
	 */
	if (daddr != NODE_IPV4 && !ipv4_is_mcast_or_bcast(daddr))
		force_native = true;
#endif /* ENABLE_HOST_ROUTING */
	if (force_native)
		return redirect_to_native(ctx);
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

	send_trace_notify4(ctx, TRACE_FROM_LXC, SECLABEL, 0, 0, 0, TRACE_REASON_UNKNOWN, 0,
			   TRACE_PAYLOAD_LEN);
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
