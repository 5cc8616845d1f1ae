"""`cilium status`, the lines the seeds use to tell modes apart, read from a live node:

    KubeProxyReplacement:    Strict   [eth0 172.18.0.3 (Direct Routing)]
    Host Routing:            BPF
    Masquerading:            BPF   [eth0]   10.0.0.0/24 [IPv4: Enabled, IPv6: Disabled]
    IPAM:                    IPv4: 3/254 allocated from 10.0.0.0/24,

(seed 000, Cilium 1.13.0-rc5; the IPAM line ends in ", ", its empty IPv6 part joined on.)

Each line is a fact about the node, not an echo of the declaration: the load balancer is
Strict only if its map is pinned and from-netdev sits on eth0; masquerading is BPF only if
to-netdev on eth0 was compiled with ENABLE_MASQUERADE_IPV4 and the SNAT map is pinned
(NodePort's SNAT uses the same map), IPTables only if Cilium's MASQUERADE
rule is in the nat table; host routing is BPF only if the attached programs were compiled
with ENABLE_HOST_ROUTING (read from the header shipped to the node with the object); IPAM counts the router IP and the endpoints in cilium_lxc (the
pods and the health endpoint, as Cilium 1.13 counts them). Masquerading's exclusion is
the one Cilium 1.13 prints: ipv4NativeRoutingCIDR, else the node's own pod CIDR.
"""

from __future__ import annotations

from . import maps
from .plan import program_name
from ...layout import NODE_OBJECT_DIR
from ...facts.bpf import MapEntries, PinnedMaps
from ...facts.iptables import Table
from ...facts.tc import AttachRecords, BpfFilters
from ...verify import RunningLab

LB_MAP = "cilium_lb4_services_v2"
SNAT_MAP = "cilium_snat_v4_external"
IPV4_ONLY = "[IPv4: Enabled, IPv6: Disabled]"


def _attached(filters: dict, dev: str, direction: str, section: str) -> bool:
    return any(f["prog"] == program_name(section) for f in filters.get((dev, direction), []))


def _compiled_with(host, records: dict, macro: str) -> bool | None:
    """Whether the object attached on cilium_host egress was built with `macro`, read from the
    header shipped with it to the node (None: no such object there)."""
    rec = records.get(("cilium_host", "egress"))
    if not rec:
        return None
    out = host.run("cat %s", f"{NODE_OBJECT_DIR}/{rec['hash']}/node_config.h")
    if out.rc != 0:
        return None
    return f"#define {macro}" in out.stdout


def node_status(rl: RunningLab, node: str) -> dict[str, str]:
    lab, n = rl.lab, rl.lab.node(node)
    pins = rl.fact(node, PinnedMaps)
    filters = rl.fact(node, BpfFilters)
    nat = rl.fact(node, Table, table="nat")["rules"]

    # Strict: the load balancer's map and NodePort on eth0. Partial: the map serves
    # ClusterIPs at from-container, NodePort in BPF only if from-netdev sits on eth0.
    if LB_MAP in pins and lab.mode.kube_proxy_replacement in ("strict", "partial"):
        node_port = _attached(filters, "eth0", "ingress", "from-netdev")
        kpr = _kpr_line(lab, n) if node_port or lab.mode.kube_proxy_replacement == "partial" else "Disabled"
    else:
        kpr = "Disabled"

    records = rl.fact(node, AttachRecords)
    host = rl.host(node)
    routing = "BPF" if _compiled_with(host, records, "ENABLE_HOST_ROUTING") else "Legacy"

    # NodePort SNAT uses the same map: BPF masquerade is the to-netdev program built for it.
    bpf_masq = _compiled_with(host, records, "ENABLE_MASQUERADE_IPV4")
    if bpf_masq and SNAT_MAP in pins and _attached(filters, "eth0", "egress", "to-netdev"):
        masq = f"BPF   [eth0]   {lab.masquerade_exclusion(node)} {IPV4_ONLY}"
    elif any("cilium masquerade" in r and "MASQUERADE" in r for r in nat):
        masq = f"IPTables {IPV4_ONLY}"
    else:
        masq = "Disabled"

    lxc = rl.fact(node, MapEntries, map_name=maps.ENDPOINTS_MAP) or {}
    endpoints = [maps.EndpointEntry.unpack(k, v) for k, v in lxc.items()]
    # The router IP, then every endpoint: the pods and the health endpoint.
    used = 1 + sum(1 for e in endpoints if not e.flags & maps.ENDPOINT_F_HOST)
    return {
        "KubeProxyReplacement": kpr,
        "Host Routing": routing,
        "Masquerading": masq,
        "IPAM": ipam_line(used, n.pod_cidr),
    }


def ipam_line(used: int, cidr) -> str:
    """`IPv4: 3/254 allocated from 10.0.0.0/24, `: Cilium 1.13 joins the IPv4 and IPv6
    parts with ", " and the IPv6 one is empty (pkg/ipam/allocator.go)."""
    return f"IPv4: {used}/{cidr.num_addresses - 2} allocated from {cidr}, "


def _kpr_line(lab, n) -> str:
    """`Strict   [eth0 172.18.0.3 (Direct Routing)]`: the mode, then the devices Cilium's
    datapath serves with the one native routing uses marked."""
    devices = [("eth0", n.ip)] + ([("eth1", n.private_ip)] if n.private_ip else [])
    direct = "" if lab.mode.tunnelled else lab.routing_dev
    listed = ", ".join(f"{d} {ip}" + (" (Direct Routing)" if d == direct else "") for d, ip in devices)
    return f"{lab.mode.kube_proxy_replacement.capitalize()}   [{listed}]"


def expected_status(lab, node: str) -> dict[str, str]:
    """What `cilium status` says on this node in the declared mode (seeds 000, 001 and 004)."""
    n = lab.node(node)
    kpr = _kpr_line(lab, n) if lab.mode.kpr else "Disabled"
    masq = {
        "bpf": f"BPF   [eth0]   {lab.masquerade_exclusion(node)} {IPV4_ONLY}",
        "iptables": f"IPTables {IPV4_ONLY}",
        None: "Disabled",
    }[lab.mode.masquerade]
    return {
        "KubeProxyReplacement": kpr,
        "Host Routing": "BPF" if lab.mode.host_routing == "bpf" else "Legacy",
        "Masquerading": masq,
        "IPAM": ipam_line(lab.ipam_used(node), n.pod_cidr),
    }


def format_status(status: dict[str, str]) -> str:
    return "\n".join(f"{k + ':':<25}{v}" for k, v in status.items())
