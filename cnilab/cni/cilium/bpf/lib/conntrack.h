/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: connection tracking of the flows endpoints send and receive, as
 * Cilium 1.13's ct_lookup4() / ct_create4() do it (bpf/lib/conntrack.h),
 * minus TCP state, policy and proxy: what `cnilab bpf ct list` shows and
 * what `cnilab monitor` reports as "Conntrack lookup", "CT verdict",
 * "Conntrack create".
 *
 * Tuples keep Cilium's conventions: the caller fills daddr/saddr from the
 * packet; the ports are read into &tuple->dport, so dport holds the
 * packet's source port and sport its destination port; an ICMP echo
 * request's identifier goes in dport, a reply's in sport.  A lookup first
 * tries the tuple as given, flagged as the reverse of @dir (a reply of a
 * known flow), then reversed (the flow itself); a new flow is stored
 * reversed.  TCP lives in cilium_ct4_global, the rest in
 * cilium_ct_any4_global.
 */
#ifndef __LIB_CONNTRACK_H_
#define __LIB_CONNTRACK_H_

#include "common.h"
#include "maps.h"
#include "l4.h"
#include "dbg.h"
#include "trace.h"

enum ct_dir {
	CT_EGRESS,
	CT_INGRESS,
};

enum ct_status {
	CT_NEW,
	CT_ESTABLISHED,
	CT_REPLY,
	CT_RELATED,
};

struct ct_state {
	__u16	rev_nat_index;
	__u32	src_sec_id;
	__u32	monitor;	/* bytes a trace of this packet carries; 0: not worth one */
	__u8	tcp_flags;	/* the packet's, for TCP */
};

#define TCP_FLAG_FIN		0x01
#define TCP_FLAG_SYN		0x02
#define TCP_FLAG_RST		0x04
/* A TCP flow's lifetimes as Cilium's defaults: until it is established, once both
 * sides closed (FIN or RST each way).
 */
#define CT_SYN_TIMEOUT		60
#define CT_CLOSE_TIMEOUT	10

/* A flow's packets are traced again after this many seconds per direction
 * (Cilium's CT_REPORT_INTERVAL), when monitor aggregation is on.
 */
#define CT_REPORT_INTERVAL	5

static __always_inline __u32 ct_now(void)
{
	return (__u32)(bpf_ktime_get_ns() / 1000000000ULL);
}

static __always_inline void *get_ct_map4(const struct ipv4_ct_tuple *tuple)
{
	if (tuple->nexthdr == IPPROTO_TCP)
		return &cilium_ct4_global;
	return &cilium_ct_any4_global;
}

static __always_inline void ipv4_ct_tuple_reverse(struct ipv4_ct_tuple *tuple)
{
	__be32 addr = tuple->saddr;
	__be16 port = tuple->sport;

	tuple->saddr = tuple->daddr;
	tuple->daddr = addr;
	tuple->sport = tuple->dport;
	tuple->dport = port;
	tuple->flags ^= TUPLE_F_IN;
}

static __always_inline __u32 ct_lifetime_of(const struct ipv4_ct_tuple *tuple,
					    const struct ct_entry *entry)
{
	if (tuple->nexthdr != IPPROTO_TCP)
		return CT_CONNECTION_LIFETIME_NONTCP;
	if (entry->rx_closing && entry->tx_closing)
		return CT_CLOSE_TIMEOUT;
	return entry->seen_non_syn ? CT_CONNECTION_LIFETIME_TCP : CT_SYN_TIMEOUT;
}

/* TCP: the flags seen each way, closing (FIN, RST), past the handshake;
 * a SYN on a closing entry opens it again.  Returns whether the packet
 * shows a flag this direction had not shown (worth a trace).
 */
static __always_inline bool ct_update_tcp(struct ct_entry *entry, enum ct_dir dir, __u8 flags)
{
	__u8 seen = dir == CT_INGRESS ? entry->rx_flags_seen : entry->tx_flags_seen;

	if ((flags & TCP_FLAG_SYN) && (entry->rx_closing || entry->tx_closing)) {
		entry->rx_closing = 0;
		entry->tx_closing = 0;
	}
	if (flags & (TCP_FLAG_FIN | TCP_FLAG_RST)) {
		if (dir == CT_INGRESS)
			entry->rx_closing = 1;
		else
			entry->tx_closing = 1;
	}
	if (!(flags & TCP_FLAG_SYN))
		entry->seen_non_syn = 1;
	if (dir == CT_INGRESS)
		entry->rx_flags_seen = seen | flags;
	else
		entry->tx_flags_seen = seen | flags;
	return (seen | flags) != seen;
}

/* The entry of @tuple, refreshed and counted, or NULL. */
static __always_inline struct ct_entry *__ct_lookup4(struct __sk_buff *ctx, __u16 source,
						     const struct ipv4_ct_tuple *tuple,
						     enum ct_dir dir, struct ct_state *state)
{
	struct ct_entry *entry = bpf_map_lookup_elem(get_ct_map4(tuple), tuple);

	if (!entry)
		return NULL;
	__u32 now = ct_now(), *last_report;

	bool new_flags = false;

	cilium_dbg3_from(ctx, source, DBG_CT_MATCH, entry->lifetime,
			 entry->rev_nat_index, 0);
	if (tuple->nexthdr == IPPROTO_TCP)
		new_flags = ct_update_tcp(entry, dir, state->tcp_flags);
	entry->lifetime = now + ct_lifetime_of(tuple, entry);
	last_report = dir == CT_INGRESS ? &entry->last_rx_report : &entry->last_tx_report;
	if (new_flags || *last_report + CT_REPORT_INTERVAL < now) {
		*last_report = now;
		state->monitor = TRACE_PAYLOAD_LEN;
	}
	if (dir == CT_INGRESS) {
		__sync_fetch_and_add(&entry->rx_packets, 1);
		/* rx_bytes shares its place with backend_id, which the load
		 * balancer's entries (those with a rev_nat_index) keep.
		 */
		if (!entry->rev_nat_index)
			__sync_fetch_and_add(&entry->rx_bytes, ctx->len);
	} else {
		__sync_fetch_and_add(&entry->tx_packets, 1);
		__sync_fetch_and_add(&entry->tx_bytes, ctx->len);
	}
	state->rev_nat_index = entry->rev_nat_index;
	state->src_sec_id = entry->src_sec_id;
	return entry;
}

/* Fill the ports of @tuple from the L4 header at @off (Cilium's layout, see
 * above).  Returns 0, or DROP_CT_INVALID_HDR.
 */
static __always_inline int ct_tuple_ports4(struct __sk_buff *ctx, __u32 off,
					   struct ipv4_ct_tuple *tuple)
{
	struct icmp_echo_hdr icmph;

	tuple->sport = 0;
	tuple->dport = 0;
	switch (tuple->nexthdr) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (bpf_skb_load_bytes(ctx, off, &tuple->dport, 4) < 0)
			return DROP_CT_INVALID_HDR;
		return 0;
	case IPPROTO_ICMP:
		if (bpf_skb_load_bytes(ctx, off, &icmph, sizeof(icmph)) < 0)
			return DROP_CT_INVALID_HDR;
		if (icmph.type == ICMP_ECHO)
			tuple->dport = icmph.id;
		else if (icmph.type == ICMP_ECHOREPLY)
			tuple->sport = icmph.id;
		else if (icmph.type == 3 || icmph.type == 11 || icmph.type == 12)
			tuple->flags |= TUPLE_F_RELATED; /* unreachable, time exceeded, parameter problem */
		return 0;
	default:
		return 0;
	}
}

/* Look the packet's flow up (@tuple: addresses and nexthdr filled by the
 * caller) on behalf of endpoint @source.  Returns enum ct_status or
 * DROP_*; @tuple is left as the entry is (or would be) stored.
 */
static __always_inline int ct_lookup4(struct __sk_buff *ctx, __u16 source, __u32 off,
				      struct ipv4_ct_tuple *tuple, enum ct_dir dir,
				      struct ct_state *state)
{
	int ret = CT_NEW;

	tuple->flags = dir == CT_EGRESS ? TUPLE_F_IN : TUPLE_F_OUT;
	ret = ct_tuple_ports4(ctx, off, tuple);
	if (ret < 0)
		return ret;
	state->rev_nat_index = 0;
	state->src_sec_id = 0;
	state->monitor = 0;
	state->tcp_flags = 0;
	if (tuple->nexthdr == IPPROTO_TCP &&
	    bpf_skb_load_bytes(ctx, off + 13, &state->tcp_flags, 1) < 0)
		return DROP_CT_INVALID_HDR;

	cilium_dbg3_from(ctx, source, DBG_CT_LOOKUP4_1, tuple->saddr, tuple->daddr,
			 (bpf_ntohs(tuple->sport) << 16) | bpf_ntohs(tuple->dport));
	cilium_dbg3_from(ctx, source, DBG_CT_LOOKUP4_2, (tuple->nexthdr << 8) | tuple->flags, 0, 0);

	if (__ct_lookup4(ctx, source, tuple, dir, state)) {
		ret = tuple->flags & TUPLE_F_RELATED ? CT_RELATED : CT_REPLY;
		goto out;
	}
	ipv4_ct_tuple_reverse(tuple);
	if (__ct_lookup4(ctx, source, tuple, dir, state))
		ret = CT_ESTABLISHED;
	else
		state->monitor = TRACE_PAYLOAD_LEN; /* a new flow is always reported */
out:
	cilium_dbg3_from(ctx, source, DBG_CT_VERDICT, ret, state->rev_nat_index, 0);
	return ret;
}

/* Record the new flow of @tuple (as ct_lookup4() left it), sent by
 * identity @src_sec_id.  Returns 0 or DROP_CT_CREATE_FAILED.
 */
static __always_inline int ct_create4(struct __sk_buff *ctx, __u16 source,
				      const struct ipv4_ct_tuple *tuple, enum ct_dir dir,
				      __u32 src_sec_id, const struct ct_state *state)
{
	__u32 now = ct_now();
	struct ct_entry entry = {
		.src_sec_id = src_sec_id,
	};

	if (tuple->nexthdr == IPPROTO_TCP)
		ct_update_tcp(&entry, dir, state->tcp_flags);
	entry.lifetime = now + ct_lifetime_of(tuple, &entry);

	if (dir == CT_INGRESS) {
		entry.rx_packets = 1;
		entry.rx_bytes = ctx->len;
		entry.last_rx_report = now;
	} else {
		entry.tx_packets = 1;
		entry.tx_bytes = ctx->len;
		entry.last_tx_report = now;
	}
	cilium_dbg3_from(ctx, source, DBG_CT_CREATED4, 0, src_sec_id, 0);
	if (bpf_map_update_elem(get_ct_map4(tuple), tuple, &entry, BPF_ANY) < 0)
		return DROP_CT_CREATE_FAILED;
	return 0;
}

/* Track a packet of @proto from @saddr to @daddr (L4 header at @off) for
 * endpoint @source in direction @dir: look it up, record it when new.
 * Returns enum ct_status or DROP_*.
 */
static __always_inline int ct_track4(struct __sk_buff *ctx, __u16 source, __u32 off,
				     __be32 saddr, __be32 daddr, __u8 proto,
				     enum ct_dir dir, __u32 src_sec_id, __u32 *monitor)
{
	struct ipv4_ct_tuple tuple = {
		.daddr = daddr,
		.saddr = saddr,
		.nexthdr = proto,
	};
	struct ct_state state;
	int ret;

	ret = ct_lookup4(ctx, source, off, &tuple, dir, &state);
	*monitor = state.monitor;
	if (ret == CT_NEW) {
		int err = ct_create4(ctx, source, &tuple, dir, src_sec_id, &state);

		if (err < 0)
			return err;
	}
	return ret;
}

#endif /* __LIB_CONNTRACK_H_ */
