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

/* Errors, named and numbered as Cilium's.  They never overlap with tc
 * verdicts (0..8), so one int carries either a verdict or an error and the
 * entry programs turn errors into TC_ACT_SHOT in exactly one place
 * (ctx_finish() in metrics.h).  metrics_key.reason = -DROP_*.
 */
#define DROP_INVALID		-134
#define DROP_WRITE_ERROR	-141
#define DROP_NO_TUNNEL_KEY	-147

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

/* Map sizes.  Every object that pins a map must declare it identically or
 * the loader refuses to reuse the pinned one, so they live here and not in
 * the per-node or per-endpoint headers.
 */
#define TUNNEL_ENDPOINT_MAP_SIZE	65536
#define ENDPOINTS_MAP_SIZE		65535
#define IPCACHE_MAP_SIZE		512000
#define METRICS_MAP_SIZE		1024

#endif /* __LIB_COMMON_H_ */
