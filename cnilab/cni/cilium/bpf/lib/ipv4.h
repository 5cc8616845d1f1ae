/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: IPv4 header access. */
#ifndef __LIB_IPV4_H_
#define __LIB_IPV4_H_

#include "common.h"

/* Point *ip4 at the IPv4 header of an ETH_P_IP frame, or say why not.
 *
 * What is dropped (DROP_INVALID): a frame whose ethertype claims IPv4 but
 * whose header cannot be one: fewer than 20 bytes after Ethernet, version
 * != 4, ihl < 5, or ihl pointing past the end of the frame.  Forwarding it
 * on a guess would misroute garbage; the stack would drop it as well.
 * Nothing else is judged here: options, total length and the checksum are
 * left to the receiver, as a router does.
 */
static __always_inline int ipv4_load_header(struct __sk_buff *ctx,
					    struct iphdr **ip4)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end)
		return DROP_INVALID;
	if (ip->version != 4 || ip->ihl < 5)
		return DROP_INVALID;
	if ((void *)ip + ip->ihl * 4 > data_end)
		return DROP_INVALID;
	*ip4 = ip;
	return 0;
}

/* 224.0.0.0/4 and 255.255.255.255, which this datapath does not route: a
 * router never forwards the limited broadcast (RFC 1812 5.3.5.1), and
 * multicast is the business of a multicast router, if the stack is one.
 */
static __always_inline bool ipv4_is_mcast_or_bcast(__be32 addr)
{
	return (addr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) ||
	       addr == bpf_htonl(0xffffffff);
}

/* Decrement the TTL and patch the header checksum incrementally (RFC 1624),
 * as the kernel's ip_decrease_ttl() does: TTL is the high byte of its
 * 16-bit word, so the checksum grows by htons(0x0100) with end-around carry.
 * Returns DROP_INVALID when the packet has no hop left; like Cilium 1.13 we
 * do not send ICMP time exceeded.
 */
static __always_inline int ipv4_dec_ttl(struct iphdr *ip4)
{
	__u32 check;

	if (ip4->ttl <= 1)
		return DROP_INVALID;
	check = (__u32)ip4->check + (__u32)bpf_htons(0x0100);
	ip4->check = (__u16)(check + (check >= 0xFFFF));
	ip4->ttl--;
	return 0;
}

#endif /* __LIB_IPV4_H_ */
