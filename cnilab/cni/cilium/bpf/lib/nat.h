/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: source NAT in cilium_snat_v4_external, as Cilium 1.13's
 * snat_v4_nat() / snat_v4_rev_nat() keep it: for a flow
 * S:s -> D:d translated to N:n, the TUPLE_F_OUT entry {S:s -> D:d} holds
 * N:n and the TUPLE_F_IN entry {D:d -> N:n} holds S:s.
 *
 * Used by BPF masquerade (pod -> world, source = the node IP) and by
 * NodePort toward a remote backend (source = this node, so the reply comes
 * back here).  Ports are allocated in NODEPORT_PORT_MIN_NAT..MAX_NAT: the
 * original port if it is free and in range, else random ones.
 */
#ifndef __LIB_NAT_H_
#define __LIB_NAT_H_

#include "common.h"
#include "maps.h"
#include "l4.h"
#include "lb.h"

#ifdef ENABLE_LB_NAT_MAPS

struct ipv4_nat_target {
	__be32	addr;
	__u16	min_port;	/* host order */
	__u16	max_port;
	bool	host_local;
};

static __always_inline __u16 snat_random_port(const struct ipv4_nat_target *t)
{
	return t->min_port + bpf_get_prandom_u32() % (t->max_port - t->min_port + 1);
}

/* Create both entries for the new flow @otuple.  *ostate gets the
 * TUPLE_F_OUT value.
 */
static __always_inline int snat_v4_new_mapping(const struct ipv4_ct_tuple *otuple,
					       struct ipv4_nat_entry *ostate,
					       const struct ipv4_nat_target *target)
{
	struct ipv4_nat_entry rstate = {};
	struct ipv4_ct_tuple rtuple = {
		.daddr = target->addr,
		.saddr = otuple->daddr,
		.dport = 0,
		.sport = otuple->dport,
		.nexthdr = otuple->nexthdr,
		.flags = TUPLE_F_IN,
	};
	__u16 port = bpf_ntohs(otuple->sport);
	__u32 now = bpf_sec_now();
	int i;

	rstate.common.created = now;
	rstate.common.host_local = target->host_local;
	rstate.to_daddr = otuple->saddr;
	rstate.to_dport = otuple->sport;

	if (port < target->min_port || port > target->max_port)
		port = snat_random_port(target);

	for (i = 0; i < SNAT_COLLISION_RETRIES; i++) {
		rtuple.dport = bpf_htons(port);
		if (!bpf_map_update_elem(&cilium_snat_v4_external, &rtuple, &rstate, BPF_NOEXIST))
			goto found;
		port = snat_random_port(target);
	}
	return DROP_NAT_NO_MAPPING;
found:
	__builtin_memset(ostate, 0, sizeof(*ostate));
	ostate->common.created = now;
	ostate->common.host_local = target->host_local;
	ostate->to_saddr = target->addr;
	ostate->to_sport = rtuple.dport;
	if (bpf_map_update_elem(&cilium_snat_v4_external, otuple, ostate, BPF_ANY) < 0) {
		bpf_map_delete_elem(&cilium_snat_v4_external, &rtuple);
		return DROP_NAT_NO_MAPPING;
	}
	return 0;
}

/* Translate the source of @l4 (from @saddr to @daddr) to @target, with the
 * flow's existing mapping or a new one.  Invalidates packet pointers.
 */
static __always_inline int snat_v4_egress(struct __sk_buff *ctx, struct ipv4_l4 *l4,
					  __be32 saddr, __be32 daddr,
					  const struct ipv4_nat_target *target)
{
	struct ipv4_ct_tuple otuple = {
		.daddr = daddr,
		.saddr = saddr,
		.dport = l4->dport,
		.sport = l4->sport,
		.nexthdr = l4->proto,
		.flags = TUPLE_F_OUT,
	};
	struct ipv4_nat_entry new_state, *state;
	int ret;

	state = bpf_map_lookup_elem(&cilium_snat_v4_external, &otuple);
	if (!state || state->to_saddr != target->addr) {
		ret = snat_v4_new_mapping(&otuple, &new_state, target);
		if (ret < 0)
			return ret;
		state = &new_state;
	}
	return ipv4_l4_rewrite(ctx, l4, L4_SRC, saddr, state->to_saddr, state->to_sport);
}

/* If @l4 (from @saddr to *@daddr) answers a translated flow, give it back
 * its original destination (*@daddr and @l4->dport follow).  Returns 1 when
 * rewritten, 0 when there is no mapping, or a DROP_* error.  Invalidates
 * packet pointers when it returns 1.
 */
static __always_inline int snat_v4_rev(struct __sk_buff *ctx, struct ipv4_l4 *l4,
				       __be32 saddr, __be32 *daddr)
{
	struct ipv4_ct_tuple rtuple = {
		.daddr = *daddr,
		.saddr = saddr,
		.dport = l4->dport,
		.sport = l4->sport,
		.nexthdr = l4->proto,
		.flags = TUPLE_F_IN,
	};
	struct ipv4_nat_entry *state;
	__u16 port = bpf_ntohs(l4->dport);
	int ret;

	/* Cilium's snat_v4_rev_nat_can_skip(): every mapping has its port (ICMP
	 * echo id) in NODEPORT_PORT_MIN_NAT..MAX_NAT, so a packet to another
	 * port answers no translated flow and needs no lookup.  That is most
	 * of what reaches the node's address: VXLAN (8472), NodePort requests,
	 * the node's own services.
	 */
	if (port < NODEPORT_PORT_MIN_NAT || port > NODEPORT_PORT_MAX_NAT)
		return 0;
	state = bpf_map_lookup_elem(&cilium_snat_v4_external, &rtuple);
	if (!state)
		return 0;
	ret = ipv4_l4_rewrite(ctx, l4, L4_DST, *daddr, state->to_daddr, state->to_dport);
	if (ret < 0)
		return ret;
	*daddr = state->to_daddr;
	return 1;
}

#endif /* ENABLE_LB_NAT_MAPS */
#endif /* __LIB_NAT_H_ */
