/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: the service load balancer (kube-proxy replacement), as Cilium
 * 1.13's lb4_local() / lb4_rev_nat() do it, minus affinity, Maglev and
 * scopes.
 *
 * A new flow to a frontend gets a random backend slot; the choice is kept
 * in a TUPLE_F_SERVICE conntrack entry so every later packet of the flow
 * goes to the same backend (while the backend exists).  The translated
 * flow gets a TUPLE_F_OUT entry carrying the rev_nat_index, found again by
 * the tuple of the backend's reply, which lb4_rev_nat_reply() rewrites
 * back to the frontend.
 *
 * Service loopback (hairpin): when the backend picked is the client itself,
 * DNAT alone would make a packet from the pod's address to the same
 * address, which the pod's stack drops as martian.  As Cilium does, the
 * source then becomes IPV4_LOOPBACK (169.254.42.1, --ipv4-service-loopback-
 * address) and the TUPLE_F_OUT entry, marked lb_loopback, is keyed by the
 * reply the pod sends to that address: its source goes back to the
 * frontend, its destination back to the pod.
 */
#ifndef __LIB_LB_H_
#define __LIB_LB_H_

#include "common.h"
#include "maps.h"
#include "ipv4.h"
#include "l4.h"

#ifdef ENABLE_LB_NAT_MAPS

static __always_inline __u32 bpf_sec_now(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000000000ULL);
}

#endif /* ENABLE_LB_NAT_MAPS */

#ifdef ENABLE_SERVICES
#ifndef IPV4_LOOPBACK
# error "services need IPV4_LOOPBACK (node_config.h)"
#endif

static __always_inline __u32 ct_lifetime(__u8 proto)
{
	return bpf_sec_now() + (proto == IPPROTO_TCP ? CT_CONNECTION_LIFETIME_TCP :
				CT_CONNECTION_LIFETIME_NONTCP);
}

/* The TUPLE_F_OUT tuple of the reply @l4 from @saddr to @daddr: addresses
 * and ports as they sit in the packet.
 */
static __always_inline void ct_reply_tuple(struct ipv4_ct_tuple *tuple,
					   __be32 saddr, __be32 daddr,
					   const struct ipv4_l4 *l4)
{
	tuple->daddr = daddr;
	tuple->saddr = saddr;
	tuple->dport = l4->sport;
	tuple->sport = l4->dport;
	tuple->nexthdr = l4->proto;
	tuple->flags = TUPLE_F_OUT;
}

/* The service frontend @addr:@dport (network order), or NULL. */
static __always_inline struct lb4_service *lb4_lookup_service(__be32 addr,
							      __be16 dport)
{
	struct lb4_key key = {
		.address = addr,
		.dport = dport,
	};

	return bpf_map_lookup_elem(&cilium_lb4_services_v2, &key);
}

static __always_inline struct lb4_backend *lb4_lookup_backend(__u32 backend_id)
{
	return bpf_map_lookup_elem(&cilium_lb4_backends_v2, &backend_id);
}

/* Random slot in 1..count, as Cilium's default (random) selection. */
static __always_inline __u32 lb4_select_backend_id(__be32 addr, __be16 dport,
						   __u16 count)
{
	struct lb4_key key = {
		.address = addr,
		.dport = dport,
		.backend_slot = (bpf_get_prandom_u32() % count) + 1,
	};
	struct lb4_service *slot;

	slot = bpf_map_lookup_elem(&cilium_lb4_services_v2, &key);
	return slot ? slot->backend_id : 0;
}

/* Translate a packet to frontend @fe_addr:@l4->dport (the key it was found
 * under; the packet's own destination is @daddr) to a backend of @svc:
 * pick or keep the backend, record the flow, DNAT.
 * @node_port: the translation happens at the node's edge (from-netdev), so
 *             the reply is reverse-translated at the backend's side.
 * On success *backend is a copy of the chosen backend and @l4->dport is
 * the backend's port.  When the backend is the client itself (@saddr, a
 * pod of this node: !@node_port), the source becomes IPV4_LOOPBACK too
 * (service loopback, see above); the packet then goes back to the pod it
 * came from.  Invalidates packet pointers.
 */
static __always_inline int lb4_local(struct __sk_buff *ctx, struct ipv4_l4 *l4,
				     __be32 saddr, __be32 daddr, __be32 fe_addr,
				     const struct lb4_service *svc, bool node_port,
				     struct lb4_backend *backend)
{
	struct ipv4_ct_tuple tuple = {
		.daddr = daddr,
		.saddr = saddr,
		.dport = l4->sport,
		.sport = l4->dport,
		.nexthdr = l4->proto,
		.flags = TUPLE_F_SERVICE,
	};
	struct ct_entry entry = {}, *ct;
	struct lb4_backend *be = NULL;
	__u16 rev_nat_index = svc->rev_nat_index;
	__u16 count = svc->count;
	__u32 backend_id = 0;
	bool loopback;
	int ret;

	if (count == 0)
		return DROP_NO_SERVICE;

	ct = bpf_map_lookup_elem(&cilium_ct4_global, &tuple);
	if (ct && ct->rev_nat_index == rev_nat_index) {
		backend_id = (__u32)ct->backend_id;
		be = lb4_lookup_backend(backend_id);
	}
	if (!be) {
		/* New flow, or its backend is gone: pick again. */
		backend_id = lb4_select_backend_id(fe_addr, l4->dport, count);
		be = lb4_lookup_backend(backend_id);
		if (!be)
			return DROP_NO_SERVICE;
		entry.backend_id = backend_id;
		entry.rev_nat_index = rev_nat_index;
		entry.lifetime = ct_lifetime(l4->proto);
		entry.node_port = node_port;
		if (bpf_map_update_elem(&cilium_ct4_global, &tuple, &entry, BPF_ANY) < 0)
			return DROP_CT_CREATE_FAILED;
	}
	*backend = *be;
	/* Only where the client is a pod of this node, translated on its way
	 * out (from-container).  At the node's edge a client that is the
	 * backend is a pod of another node: SNAT to this node separates the
	 * two addresses already (nodeport_lb4()).
	 */
	loopback = !node_port && saddr == backend->address;

	/* The entry the backend's reply finds: to the client, or to
	 * IPV4_LOOPBACK when the client is the backend.
	 */
	tuple.daddr = loopback ? IPV4_LOOPBACK : saddr;
	tuple.saddr = backend->address;
	tuple.dport = backend->port;
	tuple.sport = l4->sport;
	tuple.flags = TUPLE_F_OUT;
	ct = bpf_map_lookup_elem(&cilium_ct4_global, &tuple);
	if (!ct || ct->rev_nat_index != rev_nat_index || ct->node_port != node_port ||
	    ct->lb_loopback != loopback) {
		__builtin_memset(&entry, 0, sizeof(entry));
		entry.backend_id = backend_id;
		entry.rev_nat_index = rev_nat_index;
		entry.lifetime = ct_lifetime(l4->proto);
		entry.node_port = node_port;
		entry.lb_loopback = loopback;
		if (bpf_map_update_elem(&cilium_ct4_global, &tuple, &entry, BPF_ANY) < 0)
			return DROP_CT_CREATE_FAILED;
	}

	ret = ipv4_l4_rewrite(ctx, l4, L4_DST, daddr, backend->address, backend->port);
	if (ret < 0 || !loopback)
		return ret;
	return ipv4_l4_rewrite(ctx, l4, L4_SRC, saddr, IPV4_LOOPBACK, l4->sport);
}

/* If the packet (@saddr -> @daddr, @l4) is the reply of a flow this node
 * translated, rewrite its source back to the frontend; the reply of a
 * looped-back flow (pod -> IPV4_LOOPBACK) also gets its destination back:
 * the pod itself, @saddr.  Returns 1 when
 * rewritten (*node_port tells which kind of frontend), 0 when the packet is
 * no such reply, or a DROP_* error.  Invalidates packet pointers when it
 * returns 1.
 */
static __always_inline int lb4_rev_nat_reply(struct __sk_buff *ctx,
					     struct ipv4_l4 *l4,
					     __be32 saddr, __be32 daddr,
					     bool *node_port)
{
	struct ipv4_ct_tuple tuple;
	struct lb4_reverse_nat *nat;
	struct ct_entry *ct;
	__be32 new_addr;
	__u16 index;
	int ret;

	ct_reply_tuple(&tuple, saddr, daddr, l4);
	ct = bpf_map_lookup_elem(&cilium_ct4_global, &tuple);
	if (!ct || !ct->rev_nat_index)
		return 0;
	index = ct->rev_nat_index;
	*node_port = ct->node_port;

	nat = bpf_map_lookup_elem(&cilium_lb4_reverse_nat, &index);
	if (!nat)
		return 0;
	/* A NodePort frontend is "any address of this node" (0.0.0.0). */
	new_addr = nat->address ? nat->address : NODE_IPV4;
	ret = ipv4_l4_rewrite(ctx, l4, L4_SRC, saddr, new_addr, nat->port);
	if (ret < 0)
		return ret;
	if (ct->lb_loopback) {
		ret = ipv4_l4_rewrite(ctx, l4, L4_DST, daddr, saddr, l4->dport);
		if (ret < 0)
			return ret;
	}
	return 1;
}

/* Reverse-translate a reply the way it is about to be delivered to a pod:
 * no-op for anything but TCP/UDP replies of translated flows.  *ip4 is
 * reloaded when the packet changed.
 */
static __always_inline int lb4_rev_nat_at_delivery(struct __sk_buff *ctx,
						   struct iphdr **ip4)
{
	struct ipv4_l4 l4;
	bool node_port = false;
	int ret;

	ret = ipv4_load_l4(ctx, *ip4, &l4, false);
	if (ret)
		return ret < 0 ? ret : 0;
	ret = lb4_rev_nat_reply(ctx, &l4, (*ip4)->saddr, (*ip4)->daddr, &node_port);
	if (ret <= 0)
		return ret;
	return ipv4_load_header(ctx, ip4);
}

#endif /* ENABLE_SERVICES */
#endif /* __LIB_LB_H_ */
