/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: drop notifications (Cilium 1.13 bpf/lib/drop.h), sent where the
 * entry programs turn an error into TC_ACT_SHOT (ctx_finish, metrics.h).
 */
#ifndef __LIB_DROP_H_
#define __LIB_DROP_H_

#include "events.h"

struct drop_notify {
	NOTIFY_CAPTURE_HDR
	__u32	src_label;
	__u32	dst_label;
	__u32	dst_id;
	__u16	line;
	__u8	file;
	__s8	ext_error;
	__u32	ifindex;
};

static __always_inline void send_drop_notify(struct __sk_buff *ctx, int error)
{
	__u64 cap_len = notify_cap_len(ctx, 0);
	struct drop_notify msg = {
		.type = CILIUM_NOTIFY_DROP,
		.subtype = (__u8)-error,
		.source = EVENT_SOURCE,
		.hash = notify_hash(ctx),
		.len_orig = ctx->len,
		.len_cap = cap_len,
		.version = NOTIFY_CAPTURE_VER,
		.ifindex = ctx->ingress_ifindex,
	};

	notify_output(ctx, &msg, sizeof(msg), cap_len);
}

#endif /* __LIB_DROP_H_ */
