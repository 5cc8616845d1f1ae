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

/* Trace, drop and debug notifications for `cnilab monitor` (lib/trace.h,
 * lib/drop.h, lib/dbg.h), one ring per CPU.  max_entries 0: the loader
 * (libbpf, under tc) makes it one slot per possible CPU, as Cilium's
 * __NR_CPUS__ does, on whichever machine the node runs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cilium_events SEC(".maps");

/* Connection tracking of every flow an endpoint sends or receives, and of
 * the node's own flows on its native device (lib/conntrack.h): TCP in
 * cilium_ct4_global, everything else in cilium_ct_any4_global, as Cilium
 * 1.13 splits them (get_ct_map4).  The load balancer keeps its
 * TUPLE_F_SERVICE and translated-flow entries in the same maps.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, CT_MAP_SIZE_TCP);
} cilium_ct4_global SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, CT_MAP_SIZE_ANY);
} cilium_ct_any4_global SEC(".maps");

/* The load balancer and NAT maps exist only on nodes whose
 * node_config.h enables a feature using them (kube-proxy replacement, BPF
 * masquerade), so a lab without those features keeps exactly its former
 * maps.  node_config.h is shared by every object of a node, so the
 * definitions stay identical among the objects that share the pins.
 */
#if defined(ENABLE_PER_PACKET_LB) || defined(ENABLE_NODEPORT)
# define ENABLE_SERVICES 1
#endif
#if defined(ENABLE_SERVICES) || defined(ENABLE_MASQUERADE_IPV4)
# define ENABLE_LB_NAT_MAPS 1
#endif

#ifdef ENABLE_LB_NAT_MAPS
/* Service frontends (slot 0) and their backend slots (1..count). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, CILIUM_LB_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_services_v2 SEC(".maps");

/* Backend id -> backend address and port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, CILIUM_LB_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_backends_v2 SEC(".maps");

/* rev_nat_index -> the frontend a reply's source is rewritten to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, struct lb4_reverse_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, CILIUM_LB_MAP_MAX_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} cilium_lb4_reverse_nat SEC(".maps");

/* Source NAT (masquerade, NodePort to a remote backend), both directions. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ipv4_nat_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__uint(max_entries, SNAT_MAPPING_IPV4_SIZE);
} cilium_snat_v4_external SEC(".maps");
#endif /* ENABLE_LB_NAT_MAPS */

#endif /* __LIB_MAPS_H_ */
