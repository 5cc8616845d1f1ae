/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: datapath debug messages (Cilium 1.13 bpf/lib/dbg.h), emitted only
 * when the lab asks for them (Helm debug.verbose=datapath: DEBUG).  The
 * subtypes keep Cilium's numbers, which `cilium monitor` turns into text
 * (cnilab/cni/cilium/monitor_format.py).
 */
#ifndef __LIB_DBG_H_
#define __LIB_DBG_H_

#include "events.h"

enum {
	DBG_LOCAL_DELIVERY = 2,	/* lxc_id, seclabel */
	DBG_ENCAP = 3,		/* tunnel endpoint (host order), seclabel */
	DBG_CT_MATCH = 8,	/* lifetime, rev_nat_index */
	DBG_CT_VERDICT = 15,	/* ct status, rev_nat_index */
	DBG_DECAP = 16,		/* tunnel id, tunnel label */
	DBG_CT_LOOKUP4_1 = 48,	/* saddr, daddr, sport << 16 | dport */
	DBG_CT_LOOKUP4_2 = 49,	/* nexthdr << 8 | flags */
	DBG_CT_CREATED4 = 50,	/* rev_nat_index, src identity, lb address */
	DBG_IP_ID_MAP_FAILED4 = 56, /* address, identity */
	DBG_IP_ID_MAP_SUCCEED4 = 58, /* address, identity */
};

struct debug_msg {
	NOTIFY_COMMON_HDR
	__u32	arg1;
	__u32	arg2;
	__u32	arg3;
};

#ifdef DEBUG
static __always_inline void cilium_dbg3_from(struct __sk_buff *ctx, __u16 source,
					     __u8 type, __u32 arg1, __u32 arg2,
					     __u32 arg3)
{
	struct debug_msg msg = {
		.type = CILIUM_NOTIFY_DBG_MSG,
		.subtype = type,
		.source = source,
		.hash = notify_hash(ctx),
		.arg1 = arg1,
		.arg2 = arg2,
		.arg3 = arg3,
	};

	notify_output(ctx, &msg, sizeof(msg), 0);
}
#else
static __always_inline void cilium_dbg3_from(struct __sk_buff *ctx __maybe_unused,
					     __u16 source __maybe_unused,
					     __u8 type __maybe_unused,
					     __u32 arg1 __maybe_unused,
					     __u32 arg2 __maybe_unused,
					     __u32 arg3 __maybe_unused)
{
}
#endif /* DEBUG */

#define cilium_dbg3(ctx, type, a1, a2, a3) cilium_dbg3_from(ctx, EVENT_SOURCE, type, a1, a2, a3)
#define cilium_dbg(ctx, type, a1, a2) cilium_dbg3_from(ctx, EVENT_SOURCE, type, a1, a2, 0)

#endif /* __LIB_DBG_H_ */
