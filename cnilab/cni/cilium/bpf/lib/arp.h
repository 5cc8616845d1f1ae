/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: ARP responder for pods.
 *
 * A pod's only route is `default via <router IP>`, so the only ARP request
 * it sends is for the router IP, which lives on cilium_host with ARP off.
 * from-container answers every request for an address other than the pod's
 * own with the MAC of the host-side lxc device, as Cilium does.
 */
#ifndef __LIB_ARP_H_
#define __LIB_ARP_H_

#include "common.h"
#include "eth.h"

/* The ARP header, spelled out: <linux/if_arp.h> pulls in glibc's
 * <sys/socket.h>, which under -target bpf asks for the 32-bit stubs
 * (gnu/stubs-32.h) that a machine without multilib does not have.
 */
#define ARPHRD_ETHER	1
#define ARPOP_REQUEST	1
#define ARPOP_REPLY	2

struct arphdr {
	__be16	ar_hrd;
	__be16	ar_pro;
	__u8	ar_hln;
	__u8	ar_pln;
	__be16	ar_op;
};

/* The Ethernet/IPv4 payload after struct arphdr.  Packed: the addresses
 * sit at odd offsets; clang emits byte accesses for them.
 */
struct arp_eth {
	__u8	ar_sha[ETH_ALEN];
	__u32	ar_sip;
	__u8	ar_tha[ETH_ALEN];
	__u32	ar_tip;
} __packed;

#define ARP_FRAME_LEN	(ETH_HLEN + sizeof(struct arphdr) + sizeof(struct arp_eth))

/* Turn an ARP request into the reply in place.
 * @mac: the MAC to answer with
 * @own_ip: the requester's own address (network order); requests for it
 *          (duplicate address detection, gratuitous ARP) are not answered.
 *
 * Returns CTX_ACT_REDIRECT back out of the receiving device, or CTX_ACT_OK
 * for anything that is not an Ethernet/IPv4 request we should answer
 * (short or odd ARP frames included: the stack ignores them too).
 */
static __always_inline int arp_respond(struct __sk_buff *ctx,
				       const union macaddr *mac, __u32 own_ip)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct arphdr *arp = data + ETH_HLEN;
	struct arp_eth *arp_eth = data + ETH_HLEN + sizeof(*arp);
	__u32 sip, tip;

	if (data + ARP_FRAME_LEN > data_end)
		return CTX_ACT_OK;
	if (arp->ar_hrd != bpf_htons(ARPHRD_ETHER) ||
	    arp->ar_pro != bpf_htons(ETH_P_IP) ||
	    arp->ar_hln != ETH_ALEN || arp->ar_pln != 4 ||
	    arp->ar_op != bpf_htons(ARPOP_REQUEST))
		return CTX_ACT_OK;

	sip = arp_eth->ar_sip;
	tip = arp_eth->ar_tip;
	if (tip == own_ip)
		return CTX_ACT_OK;

	arp->ar_op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(arp_eth->ar_tha, arp_eth->ar_sha, ETH_ALEN);
	__builtin_memcpy(arp_eth->ar_sha, mac->addr, ETH_ALEN);
	arp_eth->ar_tip = sip;
	arp_eth->ar_sip = tip;
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac->addr, ETH_ALEN);

	return bpf_redirect(ctx->ifindex, 0);
}

#endif /* __LIB_ARP_H_ */
