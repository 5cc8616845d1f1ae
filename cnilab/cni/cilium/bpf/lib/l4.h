/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: L4 ports and address/port rewrites with checksum fixes, for the
 * load balancer and NAT.
 */
#ifndef __LIB_L4_H_
#define __LIB_L4_H_

#include <linux/in.h>
#include "common.h"

/* The ICMP echo header, spelled out: <linux/icmp.h> pulls in glibc's
 * <sys/socket.h>, which under -target bpf asks for the 32-bit stubs
 * (gnu/stubs-32.h) that a machine without multilib does not have.
 */
#define ICMP_ECHOREPLY	0
#define ICMP_ECHO	8

struct icmp_echo_hdr {
	__u8	type;
	__u8	code;
	__sum16	checksum;
	__be16	id;
	__be16	sequence;
};

#define IPV4_CSUM_OFF	(ETH_HLEN + __builtin_offsetof(struct iphdr, check))
#define IPV4_SADDR_OFF	(ETH_HLEN + __builtin_offsetof(struct iphdr, saddr))
#define IPV4_DADDR_OFF	(ETH_HLEN + __builtin_offsetof(struct iphdr, daddr))

#define TCP_HLEN	20	/* the fixed headers, options excluded */
#define UDP_HLEN	8

#define TCP_CSUM_OFF	16
#define UDP_CSUM_OFF	6
#define ICMP_CSUM_OFF	2
#define ICMP_ID_OFF	4

/* What the load balancer and NAT need of a packet's L4 header.  For ICMP
 * echo, the identifier plays the port of the side that chose it: sport of
 * a request, dport of a reply (the other one is 0), as Cilium's NAT does.
 */
struct ipv4_l4 {
	__u32	off;		/* L4 header offset from the frame start */
	__be16	sport;
	__be16	dport;
	__u8	proto;
};

enum l4_side {
	L4_SRC,
	L4_DST,
};

/* Fill @l4 from the packet.  Returns 0 when the packet has ports (TCP, UDP,
 * first fragment included) or is an ICMP echo request/reply and @icmp is
 * true; 1 when it has none we translate (other protocols, ICMP errors,
 * non-first fragments: left alone); DROP_CT_INVALID_HDR when the header is
 * cut short: for TCP and UDP the whole fixed header, not only the ports,
 * since a translation rewrites the checksum too and must be refused before
 * it records a flow.  Reads through bpf_skb_load_bytes(): packet pointers
 * stay valid.
 */
static __always_inline int ipv4_load_l4(struct __sk_buff *ctx,
					const struct iphdr *ip4,
					struct ipv4_l4 *l4, bool icmp)
{
	__be16 ports[2];
	struct icmp_echo_hdr icmph;

	l4->off = ETH_HLEN + ip4->ihl * 4;
	l4->proto = ip4->protocol;
	if (ip4->frag_off & bpf_htons(0x1FFF))
		return 1;

	switch (l4->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (l4->off + (l4->proto == IPPROTO_TCP ? TCP_HLEN : UDP_HLEN) > ctx->len)
			return DROP_CT_INVALID_HDR;
		if (bpf_skb_load_bytes(ctx, l4->off, ports, sizeof(ports)) < 0)
			return DROP_CT_INVALID_HDR;
		l4->sport = ports[0];
		l4->dport = ports[1];
		return 0;
	case IPPROTO_ICMP:
		if (!icmp)
			return 1;
		if (bpf_skb_load_bytes(ctx, l4->off, &icmph, sizeof(icmph)) < 0)
			return DROP_CT_INVALID_HDR;
		if (icmph.type == ICMP_ECHO) {
			l4->sport = icmph.id;
			l4->dport = 0;
			return 0;
		}
		if (icmph.type == ICMP_ECHOREPLY) {
			l4->sport = 0;
			l4->dport = icmph.id;
			return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* Rewrite the source or destination address and port of the packet, and
 * patch the IPv4 and L4 checksums incrementally.  UDP without checksum
 * (0) keeps none (BPF_F_MARK_MANGLED_0).  ICMP's checksum has no pseudo
 * header: only the echo identifier counts.  Invalidates packet pointers.
 */
static __always_inline int ipv4_l4_rewrite(struct __sk_buff *ctx,
					   struct ipv4_l4 *l4,
					   enum l4_side side,
					   __be32 old_addr, __be32 new_addr,
					   __be16 new_port)
{
	__u32 addr_off = side == L4_SRC ? IPV4_SADDR_OFF : IPV4_DADDR_OFF;
	__be16 old_port = side == L4_SRC ? l4->sport : l4->dport;
	__u32 port_off, csum_off;
	__u64 flags = 0;

	switch (l4->proto) {
	case IPPROTO_TCP:
		csum_off = l4->off + TCP_CSUM_OFF;
		port_off = l4->off + (side == L4_SRC ? 0 : 2);
		flags = BPF_F_PSEUDO_HDR;
		break;
	case IPPROTO_UDP:
		csum_off = l4->off + UDP_CSUM_OFF;
		port_off = l4->off + (side == L4_SRC ? 0 : 2);
		flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
		break;
	default: /* ICMP echo */
		csum_off = l4->off + ICMP_CSUM_OFF;
		port_off = l4->off + ICMP_ID_OFF;
		break;
	}

	if (old_addr != new_addr) {
		if (bpf_skb_store_bytes(ctx, addr_off, &new_addr, sizeof(new_addr), 0) < 0)
			return DROP_WRITE_ERROR;
		if (bpf_l3_csum_replace(ctx, IPV4_CSUM_OFF, old_addr, new_addr, 4) < 0)
			return DROP_CSUM_L3;
		if (l4->proto != IPPROTO_ICMP &&
		    bpf_l4_csum_replace(ctx, csum_off, old_addr, new_addr, flags | 4) < 0)
			return DROP_CSUM_L4;
	}
	if (old_port != new_port) {
		if (bpf_skb_store_bytes(ctx, port_off, &new_port, sizeof(new_port), 0) < 0)
			return DROP_WRITE_ERROR;
		if (bpf_l4_csum_replace(ctx, csum_off, old_port, new_port,
					(flags & BPF_F_MARK_MANGLED_0) | 2) < 0)
			return DROP_CSUM_L4;
	}
	if (side == L4_SRC)
		l4->sport = new_port;
	else
		l4->dport = new_port;
	return 0;
}

#endif /* __LIB_L4_H_ */
