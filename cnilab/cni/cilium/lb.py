"""Services as the BPF load balancer sees them.

The model builds one :class:`Service` per Kubernetes Service port;
:func:`cnilab.bpf.maps.lb_entries` turns a list of them into the entries of
``cilium_lb4_services_v2``, ``cilium_lb4_backends_v2`` and
``cilium_lb4_reverse_nat``.

Reverse-NAT ids: every frontend has its own, as in Cilium.  The ClusterIP
frontend uses ``rev_nat_index``; the NodePort frontend (0.0.0.0:<nodePort>)
uses ``node_port_rev_nat_index``, by default ``rev_nat_index + 0x8000``
(so ``rev_nat_index`` must then be below 0x8000).
"""
from __future__ import annotations

import dataclasses
import ipaddress

PROTOCOLS = {"TCP": 6, "UDP": 17}
NODEPORT_REV_NAT_OFFSET = 0x8000


def _check_port(owner: str, field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"{owner}.{field}: must be a port number 1..65535: {value!r}")


def _check_ipv4(owner: str, field: str, value: object) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"{owner}.{field}: not an IPv4 address: {value!r}") from exc


@dataclasses.dataclass(frozen=True)
class Backend:
    """One endpoint of a service: a pod's address and its target port."""

    ip: str
    port: int

    def __post_init__(self) -> None:
        _check_ipv4("Backend", "ip", self.ip)
        _check_port("Backend", "port", self.port)


@dataclasses.dataclass(frozen=True)
class Service:
    """One service port: ClusterIP ``vip:port`` and, for a NodePort service, ``<any node IP>:node_port``."""

    vip: str
    port: int
    proto: str  # "TCP" | "UDP"
    node_port: int | None
    backends: tuple[Backend, ...]
    rev_nat_index: int  # 1..65535, unique per frontend
    node_port_rev_nat_index: int | None = None  # default rev_nat_index + 0x8000

    def __post_init__(self) -> None:
        owner = "Service"
        _check_ipv4(owner, "vip", self.vip)
        _check_port(owner, "port", self.port)
        if self.proto not in PROTOCOLS:
            raise ValueError(f"{owner}.proto: must be one of {', '.join(PROTOCOLS)}: {self.proto!r}")
        if self.node_port is not None:
            _check_port(owner, "node_port", self.node_port)
        if not isinstance(self.backends, tuple) or not all(isinstance(b, Backend) for b in self.backends):
            raise ValueError(f"{owner}.backends: must be a tuple of Backend: {self.backends!r}")
        limit = 0xFFFF if self.node_port is None or self.node_port_rev_nat_index is not None else 0x7FFF
        if not isinstance(self.rev_nat_index, int) or isinstance(self.rev_nat_index, bool) or not (
            1 <= self.rev_nat_index <= limit
        ):
            raise ValueError(f"{owner}.rev_nat_index: must be an integer in 1..{limit}: {self.rev_nat_index!r}")
        if self.node_port_rev_nat_index is not None and not 1 <= self.node_port_rev_nat_index <= 0xFFFF:
            raise ValueError(
                f"{owner}.node_port_rev_nat_index: must be an integer in 1..65535: {self.node_port_rev_nat_index!r}"
            )

    @property
    def proto_number(self) -> int:
        return PROTOCOLS[self.proto]

    @property
    def node_port_rev_nat(self) -> int | None:
        """The NodePort frontend's rev NAT id (None without a NodePort)."""
        if self.node_port is None:
            return None
        if self.node_port_rev_nat_index is not None:
            return self.node_port_rev_nat_index
        return self.rev_nat_index + NODEPORT_REV_NAT_OFFSET
