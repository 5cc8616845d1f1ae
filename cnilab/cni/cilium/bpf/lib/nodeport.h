/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: NodePort, BPF masquerade and BPF host routing: what happens at
 * the node's native device (eth0) and what is forwarded to it.
 *
 * NodePort (from-netdev, Cilium's nodeport_lb4()): a packet to this node's
 * address and a port of NODEPORT_PORT_MIN..MAX whose 0.0.0.0:<port>
 * frontend exists is translated to a backend.  A local backend gets it
 * directly; a remote one gets it with the source translated to this node
 * (the node IP natively, the router IP through the tunnel, as Cilium does
 * so the reply comes back through the tunnel), so its reply returns here
 * to be un-SNATed and reverse-NATed.
 *
 * Masquerade (to-netdev): pod traffic leaving through eth0 for a
 * destination outside IPV4_SNAT_EXCLUSION_DST_CIDR gets the node IP as
 * source; in native routing, traffic to other nodes' addresses keeps the
 * pod's (Cilium's remote-node exception).
 */
#ifndef __LIB_NODEPORT_H_
#define __LIB_NODEPORT_H_

#include "common.h"
#include "maps.h"
#include "ipv4.h"
#include "l4.h"
#include "lb.h"
#include "nat.h"
#include "encap.h"
#include "local_delivery.h"

/* Whether this node delivers in BPF (Cilium's "Host Routing: BPF") or
 * lets the host stack route (legacy).
 */
static __always_inline bool host_routing_bpf(void)
{
#ifdef ENABLE_HOST_ROUTING
	return true;
#else
	return false;
#endif
}

/* Forward to another host through the native device, as a router: TTL-1,
 * the kernel's route and neighbour table supply next hop and MACs.  This
 * skips the host's IP stack (netfilter FORWARD included).
 */
static __always_inline int redirect_to_native(struct __sk_buff *ctx)
{
	struct iphdr *ip4;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	ret = ipv4_dec_ttl(ip4);
	if (ret < 0)
		return ret;
	return bpf_redirect_neigh(NATIVE_DEV_IFINDEX, NULL, 0, 0);
}

static __always_inline struct remote_endpoint_info *
lookup_ip4_remote_endpoint(__be32 addr)
{
	struct ipcache_key key = {
		.prefixlen = IPCACHE_PREFIX_LEN(32),
		.family = ENDPOINT_KEY_IPV4,
		.ip4 = addr,
	};

	return bpf_map_lookup_elem(&cilium_ipcache, &key);
}

#ifdef ENABLE_LB_NAT_MAPS
/* Send a packet whose addresses were just translated where it now goes:
 * a local pod (in BPF when @deliver, else through the stack), the node
 * itself (stack), a pod behind the tunnel (VNI @seclabel), anything else
 * out of the native device.  Never the stack for foreign destinations: the
 * source may now be one of this node's addresses, which the stack would
 * drop as martian.
 */
static __always_inline int fwd_translated(struct __sk_buff *ctx, bool deliver,
					  __u32 seclabel __maybe_unused)
{
	struct endpoint_info *ep;
	struct iphdr *ip4;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	ep = lookup_ip4_endpoint(ip4->daddr);
	if (ep) {
		if ((ep->flags & ENDPOINT_F_HOST) || !deliver)
			return CTX_ACT_OK;
		return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER, seclabel);
	}
#ifdef TUNNEL_MODE
	{
		struct tunnel_value *tunnel = lookup_ip4_tunnel(ip4->daddr);

		if (tunnel)
			return encap_and_redirect(ctx, tunnel, seclabel, 0, TRACE_REASON_UNKNOWN, TRACE_PAYLOAD_LEN);
	}
#endif /* TUNNEL_MODE */
	return redirect_to_native(ctx);
}

/* A packet to one of this node's translation addresses (@l4 from @saddr to
 * @daddr): un-SNAT it, and if it answers a NodePort flow, reverse-NAT its
 * source to the NodePort.  Returns 1 when translated (the caller forwards
 * it with fwd_translated()), 0 when it is nobody's reply, or DROP_*.
 */
static __always_inline int nodeport_rev_snat(struct __sk_buff *ctx, struct ipv4_l4 *l4,
					     __be32 saddr, __be32 daddr)
{
	int ret;

	ret = snat_v4_rev(ctx, l4, saddr, &daddr);
	if (ret <= 0)
		return ret;
#ifdef ENABLE_SERVICES
	if (l4->proto != IPPROTO_ICMP) {
		bool node_port = false;

		ret = lb4_rev_nat_reply(ctx, l4, saddr, daddr, &node_port);
		if (ret < 0)
			return ret;
	}
#endif /* ENABLE_SERVICES */
	return 1;
}
#endif /* ENABLE_LB_NAT_MAPS */

#ifdef ENABLE_NODEPORT
static __always_inline bool nodeport_port(__be16 dport)
{
	__u16 port = bpf_ntohs(dport);

	return port >= NODEPORT_PORT_MIN && port <= NODEPORT_PORT_MAX;
}

/* A request to NodePort @svc of this node (@l4 from @saddr to @daddr). */
static __always_inline int nodeport_lb4(struct __sk_buff *ctx, struct ipv4_l4 *l4,
					__be32 saddr, __be32 daddr,
					const struct lb4_service *svc)
{
	struct ipv4_nat_target target = {
		.min_port = NODEPORT_PORT_MIN_NAT,
		.max_port = NODEPORT_PORT_MAX_NAT,
	};
	struct lb4_backend backend;
	struct endpoint_info *ep;
	int ret;

	ret = lb4_local(ctx, l4, saddr, daddr, 0, svc, true, &backend);
	if (ret < 0)
		return ret;

	ep = lookup_ip4_endpoint(backend.address);
	if (ep) {
		/* A host-network backend, or a pod of this node. */
		if (ep->flags & ENDPOINT_F_HOST)
			return CTX_ACT_OK;
#ifdef ENABLE_HOST_ROUTING
		{
			struct iphdr *ip4;

			ret = ipv4_load_header(ctx, &ip4);
			if (ret < 0)
				return ret;
			return ipv4_local_delivery(ctx, ip4, ep, DELIVER_TO_PEER, WORLD_ID);
		}
#else
		return CTX_ACT_OK;
#endif /* ENABLE_HOST_ROUTING */
	}

#ifdef TUNNEL_MODE
	{
		struct tunnel_value *tunnel = lookup_ip4_tunnel(backend.address);

		if (tunnel) {
			target.addr = IPV4_GATEWAY;
			ret = snat_v4_egress(ctx, l4, saddr, backend.address, &target);
			if (ret < 0)
				return ret;
			/* The request came from outside: identity world. */
			return encap_and_redirect(ctx, tunnel, WORLD_ID, 0, TRACE_REASON_UNKNOWN, TRACE_PAYLOAD_LEN);
		}
	}
#endif /* TUNNEL_MODE */
	target.addr = NODE_IPV4;
	ret = snat_v4_egress(ctx, l4, saddr, backend.address, &target);
	if (ret < 0)
		return ret;
	return redirect_to_native(ctx);
}
#endif /* ENABLE_NODEPORT */

#ifdef ENABLE_MASQUERADE_IPV4
/* to-netdev: masquerade what a local pod sends out of the node. */
static __always_inline int snat_v4_masquerade(struct __sk_buff *ctx)
{
	struct ipv4_nat_target target = {
		.addr = IPV4_MASQUERADE,
		.min_port = NODEPORT_PORT_MIN_NAT,
		.max_port = NODEPORT_PORT_MAX_NAT,
	};
	struct endpoint_info *ep;
	struct iphdr *ip4;
	struct ipv4_l4 l4;
	__be32 saddr, daddr;
	int ret;

	ret = ipv4_load_header(ctx, &ip4);
	if (ret < 0)
		return ret;
	saddr = ip4->saddr;
	daddr = ip4->daddr;

	/* The node's own traffic (VXLAN among it): its address is a host
	 * endpoint, so the lookup below would say the same; no lookup.
	 */
	if (saddr == NODE_IPV4)
		return CTX_ACT_OK;
	ep = lookup_ip4_endpoint(saddr);
	if (!ep || (ep->flags & ENDPOINT_F_HOST))
		return CTX_ACT_OK;
	if ((daddr & IPV4_SNAT_EXCLUSION_DST_CIDR_MASK) == IPV4_SNAT_EXCLUSION_DST_CIDR)
		return CTX_ACT_OK;
#ifndef TUNNEL_MODE
	/* Natively routed, a remote node knows the pod's address. */
	{
		struct remote_endpoint_info *info = lookup_ip4_remote_endpoint(daddr);

		/* identity_is_remote_node(): the kube-apiserver's node is a remote node too */
		if (info && (info->sec_label == REMOTE_NODE_ID || info->sec_label == KUBE_APISERVER_NODE_ID ||
			     info->sec_label == HOST_ID))
			return CTX_ACT_OK;
	}
#endif /* TUNNEL_MODE */

	ret = ipv4_load_l4(ctx, ip4, &l4, true);
	if (ret)
		return ret < 0 ? ret : CTX_ACT_OK;
	ret = snat_v4_egress(ctx, &l4, saddr, daddr, &target);
	return ret < 0 ? ret : CTX_ACT_OK;
}
#endif /* ENABLE_MASQUERADE_IPV4 */

#endif /* __LIB_NODEPORT_H_ */
