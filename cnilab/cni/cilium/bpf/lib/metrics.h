/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: counters, and the one exit path of every entry program. */
#ifndef __LIB_METRICS_H_
#define __LIB_METRICS_H_

#include "common.h"
#include "maps.h"
#include "drop.h"

static __always_inline void update_metrics(__u64 bytes, __u8 dir, __u8 reason,
					   __u16 point, __u16 verdict)
{
	struct metrics_key key = {
		.reason = reason,
		.dir = dir,
		.point = point,
		.verdict = verdict,
	};
	struct metrics_value *entry, new_entry = {};

	/* Per-CPU map: no other writer on this CPU, no atomics needed. */
	entry = bpf_map_lookup_elem(&cilium_metrics, &key);
	if (entry) {
		entry->count += 1;
		entry->bytes += bytes;
	} else {
		new_entry.count = 1;
		new_entry.bytes = bytes;
		bpf_map_update_elem(&cilium_metrics, &key, &new_entry, 0);
	}
}

/* Turn a handler's result into the verdict tc gets, and count it.
 * @ret: a tc verdict (>= 0) or a DROP_* error (< 0).
 */
static __always_inline int ctx_finish(struct __sk_buff *ctx, int ret,
				      __u8 dir, __u16 point)
{
	if (IS_ERR(ret)) {
		send_drop_notify(ctx, ret);
		update_metrics(ctx->len, dir, (__u8)-ret, point, CTX_ACT_DROP);
		return CTX_ACT_DROP;
	}
	update_metrics(ctx->len, dir, REASON_FORWARDED, point, (__u16)ret);
	return ret;
}

#endif /* __LIB_METRICS_H_ */
