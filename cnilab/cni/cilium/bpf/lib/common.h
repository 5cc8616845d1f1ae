/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: types and constants shared by the whole datapath.
 *
 * The map key/value layouts below follow Cilium v1.13 byte for byte, so that
 * what a user knows of `cilium bpf ...` listings holds in a lab, and so that
 * cnilab/bpf/maps.py (which mirrors every struct here with the struct module)
 * stays the single other place that knows them.  Change both together.
 *
 * Byte order: every IPv4 address held in a map or compared with a packet is
 * in network byte order (as it sits in the IP header), EXCEPT
 * bpf_tunnel_key.remote_ipv4, which the kernel wants in host byte order.
 */
#ifndef __LIB_COMMON_H_
#define __LIB_COMMON_H_

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

#ifndef __packed
# define __packed __attribute__((packed))
#endif

/* Per-node and per-endpoint values (node_config.h, ep_config.h): read-only
 * globals in .rodata.config, which libbpf loads as a frozen array map, so the
 * verifier knows them as constants.  Being data, not code, they let one
 * compiled object serve every node and endpoint of a lab: cnilab writes each
 * one's values into a copy of it (cnilab/bpf/template.py), as Cilium's loader
 * does with its CONFIG() variables.  volatile: never folded into the code.
 */
#define DECLARE_CONFIG(type, name, ...) \
	volatile const type __config_##name __section(".rodata.config") = __VA_ARGS__;
#define CONFIG(name)		(__config_##name)

#ifndef __maybe_unused
# define __maybe_unused __attribute__((unused))
#endif

#ifndef likely
# define likely(x)	__builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
# define unlikely(x)	__builtin_expect(!!(x), 0)
#endif

/* tc verdicts under Cilium's names. */
#define CTX_ACT_OK		TC_ACT_OK
#define CTX_ACT_DROP		TC_ACT_SHOT
#define CTX_ACT_REDIRECT	TC_ACT_REDIRECT

/* Reserved security identities (Cilium's numbering). */
#define HOST_ID			1
#define WORLD_ID		2
#define REMOTE_NODE_ID		6
#define KUBE_APISERVER_NODE_ID	7
/* What the node's own packets carry as VNI (Cilium: LOCAL_NODE_ID = remote-node): a
 * receiver re-derives their identity from the ipcache, and drops VNI 1 (host).
 */
#define LOCAL_NODE_ID		REMOTE_NODE_ID

/* Errors, named and numbered as Cilium's.  They never overlap with tc
 * verdicts (0..8), so one int carries either a verdict or an error and the
 * entry programs turn errors into TC_ACT_SHOT in exactly one place
 * (ctx_finish() in metrics.h).  metrics_key.reason = -DROP_*.
 */
#define DROP_INVALID		-134
#define DROP_CT_INVALID_HDR	-135
#define DROP_WRITE_ERROR	-141
#define DROP_NO_TUNNEL_KEY	-147
#define DROP_CSUM_L3		-153
#define DROP_CSUM_L4		-154
#define DROP_CT_CREATE_FAILED	-155
#define DROP_NO_SERVICE		-158
#define DROP_NAT_NO_MAPPING	-167
#define DROP_INVALID_IDENTITY	-171

#define IS_ERR(x)		((x) < 0)

/* Cilium's metrics reason for "not dropped" and directions. */
#define REASON_FORWARDED	0

enum metric_dir {
	METRIC_INGRESS = 1,
	METRIC_EGRESS,
	METRIC_SERVICE
};

/* Which program produced a metrics entry.  Stored in the first of the
 * three reserved __u16 of Cilium 1.13's metrics_key (Cilium keeps them
 * zero): cnilab's own extension, so `bpftool map dump` says which hook
 * handled a packet.
 */
enum obs_point {
	OBS_FROM_CONTAINER = 1,
	OBS_TO_OVERLAY,
	OBS_FROM_OVERLAY,
	OBS_TO_HOST,
	OBS_FROM_HOST,
	OBS_FROM_NETDEV,
	OBS_TO_NETDEV,
};

typedef __u64 mac_t;

/* A MAC address.  The six bytes are in wire order; the union lets a map
 * value hold it as Cilium's 8-byte mac_t.
 */
union macaddr {
	struct {
		__u32	p1;
		__u16	p2;
	};
	__u8	addr[6];
};

union v6addr {
	struct {
		__u32	p1;
		__u32	p2;
		__u32	p3;
		__u32	p4;
	};
	__u8	addr[16];
};

#define ENDPOINT_KEY_IPV4	1
#define ENDPOINT_KEY_IPV6	2

/* Key of cilium_lxc: an endpoint address (IPv4 in the first four bytes). */
struct endpoint_key {
	union {
		struct {
			__u32	ip4;
			__u32	pad1;
			__u32	pad2;
			__u32	pad3;
		};
		union v6addr	ip6;
	};
	__u8	family;
	__u8	key;
	__u16	cluster_id;
} __packed;

/* Key of cilium_tunnel_map: a remote node's pod CIDR, masked, no length. */
struct tunnel_key {
	union {
		struct {
			__u32	ip4;
			__u32	pad1;
			__u32	pad2;
			__u32	pad3;
		};
		union v6addr	ip6;
	};
	__u8	family;
	__u8	cluster_id;
	__u16	pad;
} __packed;

/* Value of cilium_tunnel_map: the remote node's underlay address. */
struct tunnel_value {
	union {
		struct {
			__u32	ip4;
			__u32	pad1;
			__u32	pad2;
			__u32	pad3;
		};
		union v6addr	ip6;
	};
	__u8	family;
	__u8	key;
	__u16	node_id;
} __packed;

#define ENDPOINT_F_HOST		1 /* the node itself (its router IP) */

/* Value of cilium_lxc.  48 bytes: the compiler pads 4 bytes after flags to
 * align mac; maps.py packs the same padding.
 */
struct endpoint_info {
	__u32	ifindex;	/* host-side lxc device */
	__u16	unused;
	__u16	lxc_id;
	__u32	flags;
	mac_t	mac;		/* pod's eth0 */
	mac_t	node_mac;	/* host-side lxc device */
	__u32	sec_id;
	__u32	pad[3];
};

/* Key of cilium_ipcache (LPM trie).  prefixlen counts the 32 bits of
 * pad1/pad2/family before the address: IPCACHE_PREFIX_LEN(24) == 56.
 */
struct ipcache_key {
	__u32	prefixlen;	/* struct bpf_lpm_trie_key's header */
	__u16	pad1;
	__u8	pad2;
	__u8	family;
	union {
		struct {
			__u32	ip4;
			__u32	pad4;
			__u32	pad5;
			__u32	pad6;
		};
		union v6addr	ip6;
	};
} __packed;

#define IPCACHE_PREFIX_LEN(PREFIX)	(32 + (PREFIX))

struct remote_endpoint_info {
	__u32	sec_label;
	__u32	tunnel_endpoint;	/* network byte order, 0: none */
	__u16	pad1;
	__u8	key;
	__u8	pad2;
};

struct metrics_key {
	__u8	reason;		/* 0: forwarded, >0: -DROP_* */
	__u8	dir:2,		/* enum metric_dir */
		pad:6;
	__u16	point;		/* enum obs_point (Cilium: reserved[0]) */
	__u16	verdict;	/* tc verdict returned (Cilium: reserved[1]) */
	__u16	reserved;
};

struct metrics_value {
	__u64	count;
	__u64	bytes;
};

/* --- Load balancer (kube-proxy replacement), Cilium 1.13 layouts --------- */

/* Key of cilium_lb4_services_v2.  Slot 0 is the service (frontend) entry,
 * slots 1..count point at backends.  As in Cilium 1.13 the agent writes
 * proto = 0 and the datapath looks up with proto = 0: a frontend is an
 * address and a port, whatever the protocol.
 */
struct lb4_key {
	__be32	address;	/* service VIP, or 0.0.0.0 for a NodePort */
	__be16	dport;		/* service port (NodePort for 0.0.0.0) */
	__u16	backend_slot;	/* 0: the service entry */
	__u8	proto;		/* unused, 0 */
	__u8	scope;		/* LB_LOOKUP_SCOPE_EXT */
	__u8	pad[2];
};

#define LB_LOOKUP_SCOPE_EXT	0
#define LB_LOOKUP_SCOPE_INT	1

/* lb4_service.flags, Cilium's values. */
#define SVC_FLAG_EXTERNAL_IP	(1 << 0)
#define SVC_FLAG_NODEPORT	(1 << 1)
#define SVC_FLAG_ROUTABLE	(1 << 6)

/* Value of cilium_lb4_services_v2. */
struct lb4_service {
	union {
		__u32	backend_id;		/* slots 1..count */
		__u32	affinity_timeout;	/* slot 0 (unused by cnilab) */
	};
	__u16	count;		/* slot 0: number of backend slots */
	__u16	rev_nat_index;	/* key of cilium_lb4_reverse_nat */
	__u8	flags;
	__u8	flags2;
	__u8	pad[2];
};

/* Value of cilium_lb4_backends_v2 (key: __u32 backend id).  The 8-byte
 * v2 layout of Cilium 1.12/1.13; 1.14 moved to cilium_lb4_backends_v3
 * with cluster_id and zone appended.
 */
struct lb4_backend {
	__be32	address;
	__be16	port;
	__u8	proto;		/* informational: IPPROTO_TCP / IPPROTO_UDP */
	__u8	flags;		/* BE_STATE_ACTIVE */
};

#define BE_STATE_ACTIVE		0

/* Value of cilium_lb4_reverse_nat (key: __u16 rev_nat_index): what a
 * reply's source becomes.  address 0.0.0.0 (a NodePort frontend) means
 * "this node's address", NODE_IPV4.
 */
struct lb4_reverse_nat {
	__be32	address;
	__be16	port;
} __packed;

/* --- Connection tracking and NAT, Cilium 1.13 layouts ---------------------- */

#define TUPLE_F_OUT		0
#define TUPLE_F_IN		1
#define TUPLE_F_RELATED		2
#define TUPLE_F_SERVICE		4

/* Key of cilium_ct4_global and of cilium_snat_v4_external.
 *
 * Conntrack keys follow Cilium's conventions (lib/conntrack.h): a
 * TUPLE_F_SERVICE entry is {daddr = VIP, saddr = client, dport = client
 * port, sport = service port}; the TUPLE_F_OUT entry of a translated flow
 * client:cport -> backend:bport is {daddr = client, saddr = backend,
 * dport = bport, sport = cport}, which is exactly the tuple read from the
 * backend's reply as it sits in the packet (daddr, saddr, then the two
 * ports in wire order).  NAT keys are plain: saddr/sport are the
 * packet's source.
 */
struct ipv4_ct_tuple {
	__be32	daddr;
	__be32	saddr;
	__be16	dport;
	__be16	sport;
	__u8	nexthdr;
	__u8	flags;
} __packed;

/* Value of cilium_ct4_global.  cnilab fills backend_id, lifetime,
 * node_port and rev_nat_index; the counters stay zero.
 */
struct ct_entry {
	__u64	rx_packets;
	union {
		__u64	rx_bytes;
		__u64	backend_id;	/* TUPLE_F_SERVICE entries */
	};
	__u64	tx_packets;
	__u64	tx_bytes;
	__u32	lifetime;	/* seconds of bpf_ktime_get_ns() */
	__u16	rx_closing:1,
		tx_closing:1,
		nat46:1,
		lb_loopback:1,
		seen_non_syn:1,
		node_port:1,	/* translated by from-netdev: rev-NAT at the backend's node */
		proxy_redirect:1,
		dsr:1,
		from_l7lb:1,
		reserved:7;
	__u16	rev_nat_index;
	__u16	ifindex;
	__u8	tx_flags_seen;
	__u8	rx_flags_seen;
	__u32	src_sec_id;
	__u32	last_tx_report;
	__u32	last_rx_report;
};

struct nat_entry {
	__u64	created;	/* seconds of bpf_ktime_get_ns() */
	__u64	host_local;	/* only bit 0 used */
	__u64	pad1;
	__u64	pad2;
};

/* Value of cilium_snat_v4_external.  A TUPLE_F_OUT key holds the new
 * source (to_saddr/to_sport), its TUPLE_F_IN twin the original one the
 * reply's destination returns to (to_daddr/to_dport).
 */
struct ipv4_nat_entry {
	struct nat_entry common;
	union {
		struct {
			__be32	to_saddr;
			__be16	to_sport;
		};
		struct {
			__be32	to_daddr;
			__be16	to_dport;
		};
	};
};

#define CT_CONNECTION_LIFETIME_TCP	21600
#define CT_CONNECTION_LIFETIME_NONTCP	60
#define SNAT_COLLISION_RETRIES		32

/* Map sizes.  Every object that pins a map must declare it identically or
 * the loader refuses to reuse the pinned one, so they live here and not in
 * the per-node or per-endpoint headers.
 */
#define TUNNEL_ENDPOINT_MAP_SIZE	65536
#define ENDPOINTS_MAP_SIZE		65535
#define IPCACHE_MAP_SIZE		512000
#define METRICS_MAP_SIZE		1024
/* Cilium: 65536 for the three LB maps; 524288 for CT and SNAT.  The LRU
 * maps are preallocated, so cnilab keeps them smaller (about 8 MB each).
 */
#define CILIUM_LB_MAP_MAX_ENTRIES	65536
#define CT_MAP_SIZE_TCP			65536
#define CT_MAP_SIZE_ANY			32768
#define SNAT_MAPPING_IPV4_SIZE		65536

#endif /* __LIB_COMMON_H_ */
