"""What the datapath needs to know about a node and an endpoint.

The model fills these in; :mod:`cnilab.bpf.headers` renders them into
``node_config.h`` / ``ep_config.h``.  Values are checked on construction so a
bad one fails here, naming the field, and not later as a clang error.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def _check_ipv4(owner: str, field: str, value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"{owner}.{field}: not an IPv4 address: {value!r}") from exc


def _check_mac(owner: str, field: str, value: str) -> None:
    if not isinstance(value, str) or not _MAC_RE.match(value):
        raise ValueError(f"{owner}.{field}: not a lowercase MAC like 02:42:ac:12:00:03: {value!r}")


def _check_int(owner: str, field: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{owner}.{field}: must be an integer in {low}..{high}: {value!r}")


@dataclasses.dataclass(frozen=True)
class NodeBpfConfig:
    """One node's datapath parameters (interface indexes are inside the node's netns)."""

    node_name: str
    node_ip: str  # underlay address on eth0, e.g. "172.18.0.3"
    node_mac: str  # eth0 MAC, e.g. "02:42:ac:12:00:03"
    router_ip: str  # cilium_host's /32, e.g. "10.0.2.194"
    pod_cidr: str  # e.g. "10.0.2.0/24"
    host_ifindex: int  # cilium_host
    host_mac: str  # cilium_host MAC
    net_ifindex: int  # cilium_net
    encap_ifindex: int  # cilium_vxlan
    native_ifindex: int  # eth0
    tunnel_port: int = 8472
    mtu: int = 1500
    tunnel_mtu: int = 1450
    # Cilium modes (issue 4).  The defaults render today's node_config.h.
    tunnel: bool = True  # VXLAN (TUNNEL_MODE); False: native routing
    kube_proxy_replacement: bool = False  # ENABLE_PER_PACKET_LB + ENABLE_NODEPORT
    bpf_masquerade: bool = False  # ENABLE_MASQUERADE_IPV4 (to-netdev)
    host_routing_bpf: bool = False  # ENABLE_HOST_ROUTING ("Host Routing: BPF")
    # Never masqueraded (ipv4NativeRoutingCIDR); None: the node's pod_cidr, as Cilium.
    snat_exclusion_cidr: str | None = None
    nodeport_range: tuple[int, int] = (30000, 32767)
    # IPV4_LOOPBACK: Cilium's --ipv4-service-loopback-address, the source a pod's own
    # packet gets when the service it called picked the pod itself as backend.
    service_loopback_ip: str = "169.254.42.1"
    # The host endpoint's ID: bpf_host's EVENT_SOURCE, what `cilium monitor` prints as FROM.
    host_ep_id: int = 1
    # Notifications (cnilab monitor): DEBUG messages, and MONITOR_AGGREGATION 0..3.
    debug: bool = False
    monitor_aggregation: int = 3

    def __post_init__(self) -> None:
        owner = "NodeBpfConfig"
        if not isinstance(self.node_name, str) or not self.node_name:
            raise ValueError(f"{owner}.node_name: must be a non-empty string: {self.node_name!r}")
        _check_ipv4(owner, "node_ip", self.node_ip)
        _check_ipv4(owner, "router_ip", self.router_ip)
        _check_ipv4(owner, "service_loopback_ip", self.service_loopback_ip)
        _check_mac(owner, "node_mac", self.node_mac)
        _check_mac(owner, "host_mac", self.host_mac)
        try:
            net = ipaddress.IPv4Network(self.pod_cidr)
        except ValueError as exc:
            raise ValueError(f"{owner}.pod_cidr: not an IPv4 network: {self.pod_cidr!r}") from exc
        if ipaddress.IPv4Address(self.router_ip) not in net:
            raise ValueError(f"{owner}.router_ip: {self.router_ip} is outside pod_cidr {self.pod_cidr}")
        for field in ("host_ifindex", "net_ifindex", "encap_ifindex", "native_ifindex"):
            _check_int(owner, field, getattr(self, field), 1, 2**31 - 1)
        _check_int(owner, "tunnel_port", self.tunnel_port, 1, 65535)
        _check_int(owner, "host_ep_id", self.host_ep_id, 1, 4095)
        _check_int(owner, "monitor_aggregation", self.monitor_aggregation, 0, 4)
        _check_int(owner, "mtu", self.mtu, 68, 65535)
        _check_int(owner, "tunnel_mtu", self.tunnel_mtu, 68, self.mtu)
        for field in ("tunnel", "kube_proxy_replacement", "bpf_masquerade", "host_routing_bpf", "debug"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{owner}.{field}: must be a bool: {getattr(self, field)!r}")
        if self.snat_exclusion_cidr is not None:
            try:
                ipaddress.IPv4Network(self.snat_exclusion_cidr)
            except ValueError as exc:
                raise ValueError(
                    f"{owner}.snat_exclusion_cidr: not an IPv4 network: {self.snat_exclusion_cidr!r}"
                ) from exc
        rng = self.nodeport_range
        if (
            not isinstance(rng, tuple)
            or len(rng) != 2
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in rng)
            or not 1 <= rng[0] <= rng[1] < 65535
        ):
            raise ValueError(f"{owner}.nodeport_range: must be (low, high) with 1 <= low <= high < 65535: {rng!r}")

    @property
    def masquerade_exclusion_cidr(self) -> str:
        """IPV4_SNAT_EXCLUSION_DST_CIDR: snat_exclusion_cidr, else the node's pod CIDR."""
        return self.snat_exclusion_cidr or self.pod_cidr

    @property
    def netdev_programs(self) -> bool:
        """Whether bpf_host.o has from-netdev / to-netdev (to attach on eth0)."""
        return self.kube_proxy_replacement or self.bpf_masquerade or self.host_routing_bpf


HEALTH_IDENTITY = 4  # reserved:health (identity.ID_HEALTH)


@dataclasses.dataclass(frozen=True)
class EndpointBpfConfig:
    """One pod's datapath parameters (ifindex is the host-side lxc device's)."""

    lxc_id: int  # 1..4095
    pod_name: str
    ip: str
    mac: str  # pod eth0 MAC
    node_mac: str  # host-side lxc MAC
    ifindex: int  # host-side lxc ifindex
    identity: int  # security identity 256..65535, or 4 for the health endpoint
    ifname: str  # "lxc1a2b3c4d5e6f"

    def __post_init__(self) -> None:
        owner = "EndpointBpfConfig"
        _check_int(owner, "lxc_id", self.lxc_id, 1, 4095)
        if not isinstance(self.pod_name, str) or not self.pod_name:
            raise ValueError(f"{owner}.pod_name: must be a non-empty string: {self.pod_name!r}")
        _check_ipv4(owner, "ip", self.ip)
        _check_mac(owner, "mac", self.mac)
        _check_mac(owner, "node_mac", self.node_mac)
        _check_int(owner, "ifindex", self.ifindex, 1, 2**31 - 1)
        if self.identity != HEALTH_IDENTITY:  # the health endpoint carries reserved:health
            _check_int(owner, "identity", self.identity, 256, 65535)
        if not isinstance(self.ifname, str) or not _IFNAME_RE.match(self.ifname):
            raise ValueError(f"{owner}.ifname: not an interface name: {self.ifname!r}")


# --- per-node and per-endpoint values as CONFIG variables -----------------------------------
#
# What differs from node to node (addresses, MACs, interface indexes) and from endpoint to
# endpoint is not compiled into the code: node_config.h / ep_config.h declare each value as
# a read-only global in the section .rodata.config (DECLARE_CONFIG, bpf/lib/common.h), which
# libbpf loads as a frozen array map. Everything else (the modes, MTUs, ranges) stays a
# #define. So one object, compiled with every CONFIG value zero (the template), serves every
# node and endpoint of a lab: cnilab writes each one's values into a copy of it
# (cnilab/bpf/template.py), as Cilium's loader does with its own CONFIG() variables.


@dataclasses.dataclass(frozen=True)
class ConfigVar:
    """One CONFIG variable: its C type and initializer, and the bytes it holds in the object."""

    name: str  # the C symbol is __config_<name>
    ctype: str
    init: str  # the C initializer
    raw: bytes  # what the initializer stores (little-endian target)
    note: str = ""  # a comment for whoever reads the header

    def declaration(self, template: bool = False) -> str:
        if template:
            return f"DECLARE_CONFIG({self.ctype}, {self.name}, {{0}})"
        note = f" /* {self.note} */" if self.note else ""
        return f"DECLARE_CONFIG({self.ctype}, {self.name}, {self.init}){note}"


def _be32(name: str, addr: str, note: str | None = None) -> ConfigVar:
    """An IPv4 address in network byte order (as it sits in the IP header)."""
    ip = ipaddress.IPv4Address(addr)
    return ConfigVar(name, "__be32", f"bpf_htonl(0x{int(ip):08x})", ip.packed, note or addr)


def _u32(name: str, value: int, note: str = "") -> ConfigVar:
    return ConfigVar(name, "__u32", str(value), value.to_bytes(4, "little"), note)


def _mac(name: str, mac: str) -> ConfigVar:
    raw = bytes.fromhex(mac.replace(":", ""))
    init = "{ .addr = { " + ", ".join(f"0x{b:02x}" for b in raw) + " } }"
    # union macaddr is 8 bytes (u32 + u16, 4-aligned): the two padding bytes stay zero.
    return ConfigVar(name, "union macaddr", init, raw + b"\0\0", mac)


def node_config_vars(node: NodeBpfConfig) -> dict[str, ConfigVar]:
    """node_config.h's CONFIG variables, by name."""
    out = [
        _be32("node_ipv4", node.node_ip),
        _u32("native_dev_ifindex", node.native_ifindex, "eth0"),
        _mac("native_dev_mac", node.node_mac),
        _be32("ipv4_gateway", node.router_ip, f"{node.router_ip} (router IP on cilium_host)"),
        _u32("host_ifindex", node.host_ifindex, "cilium_host"),
        _mac("host_mac", node.host_mac),
        _u32("cilium_net_ifindex", node.net_ifindex, "cilium_net"),
        _u32("encap_ifindex", node.encap_ifindex, "cilium_vxlan" if node.tunnel else "no tunnel: cilium_host"),
        _u32("host_ep_id", node.host_ep_id, "the host endpoint"),
    ]
    return {v.name: v for v in out}


def ep_config_vars(ep: EndpointBpfConfig) -> dict[str, ConfigVar]:
    """ep_config.h's CONFIG variables, by name."""
    out = [
        _u32("lxc_id", ep.lxc_id),
        _be32("lxc_ipv4", ep.ip),
        _mac("lxc_mac", ep.mac),
        _mac("lxc_node_mac", ep.node_mac),
        _u32("lxc_ifindex", ep.ifindex, ep.ifname),
        _u32("sec_label", ep.identity),
    ]
    return {v.name: v for v in out}
