/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cnilab: every map of the datapath.
 *
 * BTF-style definitions only.  Each map is pinned by name
 * (LIBBPF_PIN_BY_NAME): tc (iproute2 >= 6.1 built with libbpf) pins them in
 * /sys/fs/bpf/tc/globals/<name>, so bpf_lxc.o, bpf_overlay.o and bpf_host.o
 * loaded on one node share one instance of each.  The variable name is the
 * pinned name.  All three objects define all maps, even the ones a program
 * does not use, so whichever object loads first creates them all.
 */
#ifndef __LIB_MAPS_H_
#define __LIB_MAPS_H_

#include "common.h"

/* Remote pod CIDR -> remote node IP. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct tunnel_key);
	__type(value, struct tunnel_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, TUNNEL_ENDPOINT_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_tunnel_map SEC(".maps");

/* Local endpoints (pods, and the node's router IP with ENDPOINT_F_HOST). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, ENDPOINTS_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lxc SEC(".maps");

/* Prefix -> security identity and tunnel endpoint, for every known IP. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipcache_key);
	__type(value, struct remote_endpoint_info);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_ipcache SEC(".maps");

/* Packet and byte counters by reason, direction and hook. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, METRICS_MAP_SIZE);
} cilium_metrics SEC(".maps");

#endif /* __LIB_MAPS_H_ */
