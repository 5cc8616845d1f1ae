/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: the notifications `cnilab monitor` prints, in Cilium 1.13's
 * layouts (bpf/lib/common.h NOTIFY_*_HDR, trace.h, drop.h, dbg.h), written
 * to cilium_events with the packet's first bytes appended by the kernel.
 *
 * EVENT_SOURCE is the program's endpoint id, as in Cilium: LXC_ID in
 * bpf_lxc, HOST_EP_ID in bpf_host, 0 in bpf_overlay.  What runs on behalf
 * of another endpoint (delivery to a pod) passes that endpoint's id.
 */
#ifndef __LIB_EVENTS_H_
#define __LIB_EVENTS_H_

#include "common.h"
#include "maps.h"

#ifndef EVENT_SOURCE
# error "EVENT_SOURCE: the program's endpoint id (bpf_lxc LXC_ID, bpf_host HOST_EP_ID, bpf_overlay 0)"
#endif

/* Helm bpf.monitorAggregation: none 0, low 2, medium 3, maximum 4 (Cilium's
 * option levels, lowest 1 having no Helm name).
 */
#ifndef MONITOR_AGGREGATION
# define MONITOR_AGGREGATION	0
#endif
#define TRACE_AGGREGATE_NONE	0
#define TRACE_AGGREGATE_RX_ONLY	1
#define TRACE_AGGREGATE_ACTIVE_CT 3

#define CILIUM_NOTIFY_DROP	1
#define CILIUM_NOTIFY_DBG_MSG	2
#define CILIUM_NOTIFY_TRACE	4

/* Bytes of the packet a trace or drop carries (Cilium's TRACE_PAYLOAD_LEN). */
#define TRACE_PAYLOAD_LEN	128ULL
#define NOTIFY_CAPTURE_VER	1

#define NOTIFY_COMMON_HDR \
	__u8	type;	\
	__u8	subtype; \
	__u16	source;	\
	__u32	hash;

#define NOTIFY_CAPTURE_HDR \
	NOTIFY_COMMON_HDR \
	__u32	len_orig; \
	__u16	len_cap; \
	__u16	version;

/* What `cilium monitor` prints as MARK (or "flow" without -v): the skb's
 * flow hash as it stands, never computed here.  A ping's packets carry none
 * (seed 000: MARK 0x0), a TCP socket's its txhash (seed 001: flow
 * 0x8958dbda).
 */
static __always_inline __u32 notify_hash(struct __sk_buff *ctx)
{
	return ctx->hash;
}

/* Emit @msg (@size bytes) followed by up to TRACE_PAYLOAD_LEN bytes of the
 * frame (@cap: whether to append any).
 */
static __always_inline void notify_output(struct __sk_buff *ctx, void *msg,
					  __u64 size, __u64 cap_len)
{
	bpf_perf_event_output(ctx, &cilium_events, (cap_len << 32) | BPF_F_CURRENT_CPU,
			      msg, size);
}

/* min(@monitor or TRACE_PAYLOAD_LEN, packet length), as Cilium. */
static __always_inline __u64 notify_cap_len(struct __sk_buff *ctx, __u32 monitor)
{
	__u64 len = ctx->len, cap = monitor ? monitor : TRACE_PAYLOAD_LEN;

	return len < cap ? len : cap;
}

#endif /* __LIB_EVENTS_H_ */
