// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cnilab: Calico's tunl0 (IP-in-IP, protocol 4) on a kernel without ipip.
 *
 * tunl0 is an ifb device (`ip link add tunl0 type ifb`) carrying the routes
 * BIRD installs, `<block> via <node> dev tunl0 onlink`.  Two programs make
 * it behave as ipip's fallback device does (calico.md section 6):
 *
 *   ipip-encap  tc egress of tunl0: wrap what the stack routed to tunl0 in
 *               an outer IPv4 header to the route's gateway and send it out
 *               of eth0;
 *   ipip-decap  tc ingress of eth0: unwrap protocol-4 packets for this node
 *               and receive the inner packet on tunl0.
 *
 * Per-node values are CONFIG globals (lib/ipip.h).  Both programs are thin:
 * everything is in this file because there is nothing to share beyond the
 * header arithmetic of lib/ipip.h.
 */
#include "lib/ipip.h"

/* Make the first @len bytes directly readable.  tc hands over linear
 * headers almost always; a GSO or cloned skb may not, and then the pull is
 * what the stack's own pskb_may_pull() would do.  False when the packet is
 * shorter than @len.  Callers reload ctx->data/data_end afterwards.
 */
static __always_inline bool ctx_pull(struct __sk_buff *ctx, __u32 len)
{
	if ((void *)(long)ctx->data + len <= (void *)(long)ctx->data_end)
		return true;
	if (ctx->len < len)
		return false;
	return bpf_skb_pull_data(ctx, len) == 0;
}

/* RFC 1624 incremental update of a checksum for one 16-bit word.  All
 * three values as they sit in the packet (the sum is byte-order blind).
 */
static __always_inline void csum_replace_word(__u16 *check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~*check + (__u16)~old + (__u32)new;

	*check = ~csum_fold32(sum);
}

/* Attached at tc egress of tunl0: every packet the stack sent there,
 * Ethernet-framed by the ifb device (its L2 header is thrown away by
 * bpf_redirect_neigh).  ifb itself would drop anything not redirected, so
 * whatever cannot be carried is dropped here, visibly: non-IPv4 (real ipip
 * carries only IPv4), runts, packets with no route through tunl0.
 */
__section("ipip-encap")
int ipip_encap(struct __sk_buff *ctx)
{
	struct bpf_fib_lookup fib = {};
	struct iphdr outer = {};
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *inner;
	__u16 inner_len;

	if (!CONFIG(node_ip) || !CONFIG(eth0_ifindex))
		return TC_ACT_SHOT;	/* the unpatched template */
	if (!ctx_pull(ctx, ETH_HLEN + sizeof(*inner)))
		return TC_ACT_SHOT;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	inner = data + ETH_HLEN;
	if ((void *)(inner + 1) > data_end)
		return TC_ACT_SHOT;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || inner->version != 4 ||
	    inner->ihl < 5)
		return TC_ACT_SHOT;
	inner_len = bpf_ntohs(inner->tot_len);
	/* The outer length is the inner one plus 20, so the inner one must
	 * be what the frame holds, and the sum must fit 16 bits.  GSO
	 * super-packets on tunl0 stay below 64K minus TCP's headroom, so only
	 * a forged packet is lost here.
	 */
	if (inner_len < sizeof(*inner) || inner_len > ctx->len - ETH_HLEN ||
	    inner_len > 0xffff - sizeof(outer))
		return TC_ACT_SHOT;

	/* Which node?  The gateway of the route that brought the packet here
	 * (`via <node> dev tunl0 onlink`, or the inner destination for a
	 * gateway-less tunl0 route): what ipip's fallback device takes from
	 * the skb's route (rt_nexthop).  So BIRD's kernel routes alone drive
	 * the datapath, no map of nodes.  tot_len = 0 skips the MTU check,
	 * which fails for GSO super-packets (FRAG_NEEDED) and would stall TCP;
	 * the stack already held the packet to tunl0's MTU.
	 */
	fib.family = AF_INET;
	fib.tos = inner->tos;
	fib.l4_protocol = inner->protocol;
	fib.tot_len = 0;
	fib.ifindex = CONFIG(tunl0_ifindex);
	fib.ipv4_src = inner->saddr;
	fib.ipv4_dst = inner->daddr;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib),
			   BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH) !=
	    BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_SHOT;

	/* The outer header of tunl0 as Calico creates it (`ttl inherit`,
	 * `tos 0`, pmtudisc off): ECN from the inner packet, DF copied from
	 * it, TTL inherited, ID 0 (the kernel would pick one; nothing
	 * reassembles a DF packet, and a non-DF one fits eth0 anyway).
	 */
	outer.version = 4;
	outer.ihl = 5;
	outer.tos = ecn_encapsulate(inner->tos);
	outer.tot_len = bpf_htons(inner_len + sizeof(outer));
	outer.id = 0;
	outer.frag_off = inner->frag_off & IP_DF_BE;
	outer.ttl = inner->ttl;
	outer.protocol = IPIP_PROTO;
	outer.saddr = CONFIG(node_ip);
	outer.daddr = fib.ipv4_dst;
	outer.check = ~ipv4_hdr_sum(&outer);

	/* Room for the outer header between Ethernet and the inner packet.
	 * ENCAP_L3_IPV4 marks the skb as encapsulated (inner headers, GSO type
	 * IPXIP4), so GSO segments it as the ipip offload would; FIXED_GSO
	 * keeps the inner segment size, already fitted to tunl0's MTU, which
	 * leaves room for 20 more bytes on eth0.
	 */
	if (bpf_skb_adjust_room(ctx, sizeof(outer), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
				BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(ctx, ETH_HLEN, &outer, sizeof(outer), 0))
		return TC_ACT_SHOT;

	/* NULL next hop: the kernel routes the outer header itself, replaces
	 * the skb's route (still the inner one, via tunl0) and resolves the
	 * neighbour.  Naming the gateway here instead lost the first packet
	 * whenever its neighbour was unresolved: the queued skb was re-sent
	 * through the inner route's neighbour once ARP completed.
	 */
	return bpf_redirect_neigh(CONFIG(eth0_ifindex), NULL, 0, 0);
}

/* Attached at tc ingress of eth0: every packet the node receives.  Only an
 * intact, unfragmented, option-less protocol-4 packet addressed to the node
 * is unwrapped; everything else, runts included, goes on untouched
 * (TC_ACT_OK) for the stack to treat exactly as it would without a tunnel.
 */
__section("ipip-decap")
int ipip_decap(struct __sk_buff *ctx)
{
	const __u32 hdrs = ETH_HLEN + 2 * sizeof(struct iphdr);
	struct iphdr *outer, *inner;
	void *data, *data_end;
	struct ethhdr *eth;
	__u16 outer_len;

	if (!ctx_pull(ctx, hdrs))
		return TC_ACT_OK;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	outer = data + ETH_HLEN;
	inner = (void *)(outer + 1);
	if ((void *)(inner + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || outer->version != 4 ||
	    outer->ihl != 5 || outer->protocol != IPIP_PROTO ||
	    !CONFIG(node_ip) || outer->daddr != CONFIG(node_ip))
		return TC_ACT_OK;
	/* What ip_rcv() would refuse, or reassemble first, stays its business:
	 * a fragment, a bad checksum, a length the frame does not hold.
	 */
	if (outer->frag_off & IP_MF_OFFSET_BE)
		return TC_ACT_OK;
	if (ipv4_hdr_sum(outer) != 0xffff)
		return TC_ACT_OK;
	outer_len = bpf_ntohs(outer->tot_len);
	if (outer_len < 2 * sizeof(struct iphdr) || outer_len > ctx->len - ETH_HLEN)
		return TC_ACT_OK;

	/* ECN decapsulation, as ip_tunnel_rcv() (RFC 6040): a CE mark set in
	 * the underlay moves to an ECN-capable inner packet; on a not-ECT one
	 * it cannot, and the kernel drops the packet.
	 */
	if ((outer->tos & ECN_MASK) == ECN_CE) {
		__u16 old, new;

		if ((inner->tos & ECN_MASK) == ECN_NOT_ECT)
			return TC_ACT_SHOT;
		old = *(__u16 *)inner;
		inner->tos |= ECN_CE;
		new = *(__u16 *)inner;
		csum_replace_word(&inner->check, old, new);
	}

	/* Remove the outer header.  DECAP_L3_IPV4 (Linux >= 6.3) tells the
	 * kernel what was removed; IPv4 in IPv4 needs nothing of it, so an
	 * older kernel refusing the flag gets the plain call.  FIXED_GSO keeps
	 * the segment size of a GRO'd packet as the sender made it.
	 */
	if (bpf_skb_adjust_room(ctx, -(__s32)sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
				IPIP_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO) &&
	    bpf_skb_adjust_room(ctx, -(__s32)sizeof(struct iphdr), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_SHOT;

	/* Received on tunl0 as if ipip had decapsulated it there (iif tunl0,
	 * rp_filter checked against the tunl0 route).  tunl0 is an Ethernet
	 * device: eth_type_trans() would mark a frame still addressed to eth0
	 * PACKET_OTHERHOST and ip_rcv() would drop it, hence its own MAC.
	 */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++)
		eth->h_dest[i] = CONFIG(tunl0_mac).addr[i];

	return bpf_redirect(CONFIG(tunl0_ifindex), BPF_F_INGRESS);
}

char __license[] __section("license") = "Dual BSD/GPL";
