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
        _check_int(owner, "mtu", self.mtu, 68, 65535)
        _check_int(owner, "tunnel_mtu", self.tunnel_mtu, 68, self.mtu)
        for field in ("tunnel", "kube_proxy_replacement", "bpf_masquerade", "host_routing_bpf"):
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


@dataclasses.dataclass(frozen=True)
class EndpointBpfConfig:
    """One pod's datapath parameters (ifindex is the host-side lxc device's)."""

    lxc_id: int  # 1..4095
    pod_name: str
    ip: str
    mac: str  # pod eth0 MAC
    node_mac: str  # host-side lxc MAC
    ifindex: int  # host-side lxc ifindex
    identity: int  # security identity 256..65535
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
        _check_int(owner, "identity", self.identity, 256, 65535)
        if not isinstance(self.ifname, str) or not _IFNAME_RE.match(self.ifname):
            raise ValueError(f"{owner}.ifname: not an interface name: {self.ifname!r}")
