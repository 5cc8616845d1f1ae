/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: Ethernet header access. */
#ifndef __LIB_ETH_H_
#define __LIB_ETH_H_

#include "common.h"

/* Read the ethertype (network byte order).  Returns false when the frame
 * cannot even hold an Ethernet header; callers let such frames pass, the
 * stack drops runts on its own.
 */
static __always_inline bool validate_ethertype(struct __sk_buff *ctx,
					       __u16 *proto)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (data + ETH_HLEN > data_end)
		return false;
	*proto = eth->h_proto;
	return true;
}

static __always_inline void eth_copy_addr(__u8 *dst, const __u8 *src)
{
	/* 4 + 2 byte stores: the verifier is happier with fixed-size
	 * accesses than with a byte loop, and the compiler will not emit a
	 * memcpy call for it.
	 */
	*(__u32 *)dst = *(const __u32 *)src;
	*(__u16 *)(dst + 4) = *(const __u16 *)(src + 4);
}

/* Rewrite both MACs of the frame in place.  Returns DROP_INVALID if the
 * frame is shorter than an Ethernet header (checked again because helpers
 * called earlier may have invalidated packet pointers).
 */
static __always_inline int eth_rewrite_macs(struct __sk_buff *ctx,
					    const __u8 *smac, const __u8 *dmac)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (data + ETH_HLEN > data_end)
		return DROP_INVALID;
	eth_copy_addr(eth->h_source, smac);
	eth_copy_addr(eth->h_dest, dmac);
	return 0;
}

static __always_inline int eth_store_daddr(struct __sk_buff *ctx,
					   const __u8 *dmac)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (data + ETH_HLEN > data_end)
		return DROP_INVALID;
	eth_copy_addr(eth->h_dest, dmac);
	return 0;
}

#endif /* __LIB_ETH_H_ */
