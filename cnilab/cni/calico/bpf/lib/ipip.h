/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: types, configuration and header arithmetic of the IP-in-IP
 * stand-in for Calico's tunl0 (bpf_ipip.c).
 *
 * The kernel of the lab machine has no ipip module, so tunl0 is an ifb
 * device whose tc programs do what ipip's fallback device would: wrap an
 * inner IPv4 packet in an outer IPv4 header (protocol 4) on the way out and
 * unwrap it on the way in.  See /work/shared/reference/calico.md, section 6.
 *
 * Only kernel uapi headers are included, never anything from glibc (which
 * drags in gnu/stubs-32.h under -target bpf): the two constants needed
 * from <sys/socket.h> and <linux/in.h> are defined here.
 */
#ifndef __CALICO_LIB_IPIP_H_
#define __CALICO_LIB_IPIP_H_

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef __section
# define __section(NAME) __attribute__((section(NAME), used))
#endif

#ifndef __maybe_unused
# define __maybe_unused __attribute__((unused))
#endif

#ifndef AF_INET
# define AF_INET	2	/* <sys/socket.h>, not includable here */
#endif
/* IPPROTO_IPIP, without <linux/in.h> and what it pulls in. */
#define IPIP_PROTO	4

/* Added in Linux 6.3 and missing from older uapi headers (enum, so no
 * #ifndef on the kernel's own name).  For IPv4 in IPv4 it changes nothing
 * but the kernel's idea of what was removed; see ipip_decap().
 */
#define IPIP_ADJ_ROOM_DECAP_L3_IPV4	(1ULL << 7)

#define IP_DF_BE	bpf_htons(0x4000)
#define IP_MF_OFFSET_BE	bpf_htons(0x3fff)	/* MF and the fragment offset */

#define ECN_MASK	0x03
#define ECN_NOT_ECT	0x00
#define ECN_ECT_0	0x02
#define ECN_CE		0x03

/* Per-node values, the way the Cilium datapath of this repo takes them
 * (its lib/common.h): read-only globals in .rodata.config, zero in the
 * compiled template and written into a copy of it for each node by
 * cnilab.bpf.template.patch() (cnilab/cni/calico/ipip.py: config_values()).
 * libbpf loads the section as a frozen array map, so under tc each
 * attached program carries its own copy and nothing needs pinning.
 * volatile: never folded into the code, so the template can be patched.
 */
#define DECLARE_CONFIG(type, name) \
	volatile const type __config_##name __section(".rodata.config") = {0};
#define CONFIG(name)	(__config_##name)

struct ipip_mac {
	__u8	addr[6];
};

/* The node's underlay address (network order): outer source on encap, the
 * only outer destination decapsulated.
 */
DECLARE_CONFIG(__be32, node_ip)
/* Where encapsulated packets leave: the node's eth0. */
DECLARE_CONFIG(__u32, eth0_ifindex)
/* tunl0: the fib lookup's output device, and where decapsulated packets
 * are received.
 */
DECLARE_CONFIG(__u32, tunl0_ifindex)
/* tunl0's own MAC, the destination a decapsulated frame must carry. */
DECLARE_CONFIG(struct ipip_mac, tunl0_mac)

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* The ones' complement sum of an option-less IPv4 header, folded: 0xffff
 * when its checksum field is right.  Ten 16-bit loads rather than
 * bpf_csum_diff(): no helper call, and it works on stack and packet alike.
 */
static __always_inline __u16 ipv4_hdr_sum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	return csum_fold32(sum);
}

/* The outer ECN field for an inner TOS, as the kernel's
 * INET_ECN_encapsulate() with tunl0's `tos 0`: the inner ECN bits, except
 * that CE becomes ECT(0) (RFC 6040 compatibility mode), so a congestion
 * mark met inside the underlay is not mistaken for one met before it.
 */
static __always_inline __u8 ecn_encapsulate(__u8 inner_tos)
{
	__u8 ecn = inner_tos & ECN_MASK;

	return ecn == ECN_CE ? ECN_ECT_0 : ecn;
}

#endif /* __CALICO_LIB_IPIP_H_ */
