/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: trace notifications (Cilium 1.13 bpf/lib/trace.h): a packet seen
 * at an observation point, with its first bytes.
 */
#ifndef __LIB_TRACE_H_
#define __LIB_TRACE_H_

#include "events.h"

/* Observation points, Cilium's numbers (pkg/monitor/api/types.go). */
enum trace_point {
	TRACE_TO_LXC = 0,
	TRACE_TO_HOST = 2,
	TRACE_TO_STACK = 3,
	TRACE_TO_OVERLAY = 4,
	TRACE_FROM_LXC = 5,
	TRACE_FROM_HOST = 7,
	TRACE_FROM_STACK = 8,
	TRACE_FROM_OVERLAY = 9,
	TRACE_FROM_NETWORK = 10,
	TRACE_TO_NETWORK = 11,
};

/* Reasons: the conntrack state of the packet (enum ct_status). */
#define TRACE_REASON_UNKNOWN	5

struct trace_notify {
	NOTIFY_CAPTURE_HDR
	__u32	src_label;
	__u32	dst_label;
	__u16	dst_id;
	__u8	reason;
	__u8	ipv6:1;
	__u8	pad:7;
	__u32	ifindex;
	union {
		struct {
			__be32	orig_ip4;
			__u32	orig_pad1;
			__u32	orig_pad2;
			__u32	orig_pad3;
		};
		union v6addr	orig_ip6;
	};
};

/* Whether Cilium would emit this point under MONITOR_AGGREGATION
 * (emit_trace_notify, 1.13 trace.h): from "low" on, no FROM_* point; from
 * "medium" on, only packets conntrack says are worth a report (@monitor).
 */
static __always_inline bool emit_trace_notify(enum trace_point point, __u32 monitor)
{
	if (MONITOR_AGGREGATION >= TRACE_AGGREGATE_RX_ONLY) {
		switch (point) {
		case TRACE_FROM_LXC:
		case TRACE_FROM_HOST:
		case TRACE_FROM_STACK:
		case TRACE_FROM_OVERLAY:
		case TRACE_FROM_NETWORK:
			return false;
		default:
			break;
		}
	}
	if (MONITOR_AGGREGATION >= TRACE_AGGREGATE_ACTIVE_CT && !monitor)
		return false;
	return true;
}

static __always_inline void send_trace_notify4_from(struct __sk_buff *ctx, __u16 source,
						    enum trace_point point,
						    __u32 src, __u32 dst, __u16 dst_id,
						    __u32 ifindex, __u8 reason,
						    __be32 orig_addr, __u32 monitor)
{
	__u64 cap_len = notify_cap_len(ctx, monitor);
	struct trace_notify msg = {
		.type = CILIUM_NOTIFY_TRACE,
		.subtype = point,
		.source = source,
		.hash = notify_hash(ctx),
		.len_orig = ctx->len,
		.len_cap = cap_len,
		.version = NOTIFY_CAPTURE_VER,
		.src_label = src,
		.dst_label = dst,
		.dst_id = dst_id,
		.reason = reason,
		.ifindex = ifindex,
		.orig_ip4 = orig_addr,
	};

	if (!emit_trace_notify(point, monitor))
		return;
	notify_output(ctx, &msg, sizeof(msg), cap_len);
}

#define send_trace_notify4(ctx, point, src, dst, dst_id, ifindex, reason, orig, monitor) \
	send_trace_notify4_from(ctx, EVENT_SOURCE, point, src, dst, dst_id, ifindex, reason, orig, monitor)

#endif /* __LIB_TRACE_H_ */
