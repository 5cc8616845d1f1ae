"""Python mirrors of the datapath's map layouts (bpf/lib/common.h).

Each entry type packs to, and unpacks from, the exact bytes the C structs
hold, so the deploy can fill maps with ``bpftool map update`` and the verify
suites can read ``bpftool -j map dump``.  Byte order: addresses are stored as
they appear on the wire (network order); integer fields are host order
(little-endian on every machine cnilab runs on, x86_64/arm64).

What ``bpftool -j map dump pinned PATH`` prints here (bpftool 7.1, maps with
BTF), one JSON array with one object per entry:

- hash / LPM maps: ``{"key": ["0x0a", ...], "value": ["0x09", ...],
  "formatted": {"key": {...}, "value": {...}}}``
- per-CPU maps: ``{"key": [...], "values": [{"cpu": 0, "value": [...]}, ...],
  "formatted": {...}}``

The raw ``key``/``value(s)`` arrays are what we parse; ``formatted`` follows
the C member names (anonymous unions come out as ``""`` keys) and is not
relied upon.
"""
from __future__ import annotations

import dataclasses
import enum
import ipaddress
import struct
from typing import TYPE_CHECKING, Any, Iterable

from ...bpf.bpftool import PIN_DIR, parse_dump  # noqa: F401 (PIN_DIR: where Cilium's maps are pinned)

if TYPE_CHECKING:
    from .lb import Service

ENDPOINT_KEY_IPV4 = 1
ENDPOINT_F_HOST = 1
HOST_ID = 1
WORLD_ID = 2
REMOTE_NODE_ID = 6

TUNNEL_MAP = "cilium_tunnel_map"
ENDPOINTS_MAP = "cilium_lxc"
IPCACHE_MAP = "cilium_ipcache"
METRICS_MAP = "cilium_metrics"

# struct endpoint_key / tunnel_key / tunnel_value: 16-byte address union,
# then family and three bytes we keep zero (key/cluster_id/pad/node_id).
_ADDR_KEY = struct.Struct("<4s12xBBH")
# struct endpoint_info: ifindex, unused, lxc_id, flags, 4 bytes alignment
# padding, mac_t mac, mac_t node_mac (6 bytes + 2 zero each), sec_id, pad[3].
_ENDPOINT_INFO = struct.Struct("<IHHI4x6s2x6s2xI12x")
# struct ipcache_key: prefixlen, pad1, pad2, family, 16-byte address.
_IPCACHE_KEY = struct.Struct("<IHBB4s12x")
# struct remote_endpoint_info: sec_label, tunnel_endpoint, pad1, key, pad2.
_REMOTE_ENDPOINT_INFO = struct.Struct("<I4sHBB")
# struct metrics_key: reason, dir:2/pad:6, point, verdict, reserved.
_METRICS_KEY = struct.Struct("<BBHHH")
_METRICS_VALUE = struct.Struct("<QQ")

assert _ADDR_KEY.size == 20 and _ENDPOINT_INFO.size == 48
assert _IPCACHE_KEY.size == 24 and _REMOTE_ENDPOINT_INFO.size == 12
assert _METRICS_KEY.size == 8 and _METRICS_VALUE.size == 16


def _ip4(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def _ip4_str(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def _mac(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def _mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


@dataclasses.dataclass(frozen=True)
class TunnelEntry:
    """cilium_tunnel_map: remote pod CIDR base address -> remote node IP."""

    prefix: str  # "10.0.1.0"
    endpoint: str  # "172.18.0.4"

    def pack_key(self) -> bytes:
        return _ADDR_KEY.pack(_ip4(self.prefix), ENDPOINT_KEY_IPV4, 0, 0)

    def pack_value(self) -> bytes:
        return _ADDR_KEY.pack(_ip4(self.endpoint), ENDPOINT_KEY_IPV4, 0, 0)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "TunnelEntry":
        prefix, _family, _, _ = _ADDR_KEY.unpack(key)
        endpoint, _family, _, _ = _ADDR_KEY.unpack(value)
        return cls(prefix=_ip4_str(prefix), endpoint=_ip4_str(endpoint))


@dataclasses.dataclass(frozen=True)
class EndpointEntry:
    """cilium_lxc: a local endpoint (flags=ENDPOINT_F_HOST for the router IP)."""

    ip: str
    ifindex: int
    lxc_id: int
    flags: int
    mac: str  # pod eth0
    node_mac: str  # host-side lxc
    sec_id: int

    def pack_key(self) -> bytes:
        return _ADDR_KEY.pack(_ip4(self.ip), ENDPOINT_KEY_IPV4, 0, 0)

    def pack_value(self) -> bytes:
        return _ENDPOINT_INFO.pack(
            self.ifindex, 0, self.lxc_id, self.flags, _mac(self.mac), _mac(self.node_mac), self.sec_id
        )

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "EndpointEntry":
        ip, _family, _, _ = _ADDR_KEY.unpack(key)
        ifindex, _unused, lxc_id, flags, mac, node_mac, sec_id = _ENDPOINT_INFO.unpack(value)
        return cls(
            ip=_ip4_str(ip),
            ifindex=ifindex,
            lxc_id=lxc_id,
            flags=flags,
            mac=_mac_str(mac),
            node_mac=_mac_str(node_mac),
            sec_id=sec_id,
        )


@dataclasses.dataclass(frozen=True)
class IpcacheEntry:
    """cilium_ipcache: prefix -> identity (+ the node to tunnel to, if remote)."""

    prefix: str  # "10.0.1.23/32"
    identity: int
    tunnel_endpoint: str | None = None

    def pack_key(self) -> bytes:
        net = ipaddress.IPv4Network(self.prefix)
        return _IPCACHE_KEY.pack(32 + net.prefixlen, 0, 0, ENDPOINT_KEY_IPV4, net.network_address.packed)

    def pack_value(self) -> bytes:
        endpoint = _ip4(self.tunnel_endpoint) if self.tunnel_endpoint else bytes(4)
        return _REMOTE_ENDPOINT_INFO.pack(self.identity, endpoint, 0, 0, 0)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "IpcacheEntry":
        prefixlen, _, _, _family, addr = _IPCACHE_KEY.unpack(key)
        identity, endpoint, _, _, _ = _REMOTE_ENDPOINT_INFO.unpack(value)
        return cls(
            prefix=f"{_ip4_str(addr)}/{prefixlen - 32}",
            identity=identity,
            tunnel_endpoint=None if endpoint == bytes(4) else _ip4_str(endpoint),
        )


class Direction(enum.IntEnum):
    INGRESS = 1
    EGRESS = 2
    SERVICE = 3


class ObsPoint(enum.IntEnum):
    """Which program counted (metrics_key.point, enum obs_point in common.h)."""

    FROM_CONTAINER = 1
    TO_OVERLAY = 2
    FROM_OVERLAY = 3
    TO_HOST = 4
    FROM_HOST = 5
    FROM_NETDEV = 6
    TO_NETDEV = 7


# tc verdicts and the drop reasons the datapath uses (-DROP_* in common.h).
TC_ACT_OK = 0
TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7
REASON_FORWARDED = 0
DROP_INVALID = 134
DROP_WRITE_ERROR = 141
DROP_NO_TUNNEL_KEY = 147


@dataclasses.dataclass(frozen=True)
class MetricsEntry:
    """cilium_metrics: packets/bytes, summed over CPUs, per reason/dir/hook/verdict."""

    reason: int  # 0 forwarded, else -DROP_*
    direction: int  # Direction
    point: int  # ObsPoint
    verdict: int  # tc verdict returned
    count: int = 0
    bytes: int = 0

    def pack_key(self) -> bytes:
        return _METRICS_KEY.pack(self.reason, self.direction & 0x3, self.point, self.verdict, 0)

    def pack_value(self) -> bytes:
        return _METRICS_VALUE.pack(self.count, self.bytes)

    @classmethod
    def unpack(cls, key: bytes, values: bytes | Iterable[bytes]) -> "MetricsEntry":
        """``values``: one value, or the per-CPU values (summed)."""
        reason, dir_byte, point, verdict, _ = _METRICS_KEY.unpack(key)
        if isinstance(values, (bytes, bytearray)):
            values = [values]
        count = total = 0
        for value in values:
            c, b = _METRICS_VALUE.unpack(value)
            count += c
            total += b
        return cls(reason=reason, direction=dir_byte & 0x3, point=point, verdict=verdict, count=count, bytes=total)


def tunnel_entries(output: str | list[dict[str, Any]]) -> list[TunnelEntry]:
    return [TunnelEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def endpoint_entries(output: str | list[dict[str, Any]]) -> list[EndpointEntry]:
    return [EndpointEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def ipcache_entries(output: str | list[dict[str, Any]]) -> list[IpcacheEntry]:
    return [IpcacheEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def metrics_entries(output: str | list[dict[str, Any]]) -> list[MetricsEntry]:
    return [
        MetricsEntry.unpack(e.key, e.values if e.values is not None else e.value) for e in parse_dump(output)
    ]


def format_tunnel_list(entries: Iterable[TunnelEntry]) -> str:
    """Render like ``cilium bpf tunnel list`` (tabwriter, padding 3)::

        TUNNEL       VALUE
        10.0.1.0:0   172.18.0.4:0
    """
    rows = [(f"{e.prefix}:0", f"{e.endpoint}:0") for e in entries]
    key_width = max([len("TUNNEL"), *(len(k) for k, _ in rows)]) + 3
    value_width = max([0, *(len(v) for _, v in rows)]) + 3
    lines = ["TUNNEL".ljust(key_width) + "VALUE"]
    lines += [k.ljust(key_width) + v.ljust(value_width) for k, v in rows]
    return "\n".join(lines) + "\n"


# --- load balancer, conntrack and NAT (kube-proxy replacement, BPF masquerade) -------------

LB_SERVICES_MAP = "cilium_lb4_services_v2"
LB_BACKENDS_MAP = "cilium_lb4_backends_v2"
LB_REVNAT_MAP = "cilium_lb4_reverse_nat"
CT_MAP = "cilium_ct4_global"
CT_ANY_MAP = "cilium_ct_any4_global"
SNAT_MAP = "cilium_snat_v4_external"

# lb4_service.flags (Cilium's SVC_FLAG_*).
SVC_FLAG_EXTERNAL_IP = 1 << 0
SVC_FLAG_NODEPORT = 1 << 1
SVC_FLAG_ROUTABLE = 1 << 6

TUPLE_F_OUT = 0
TUPLE_F_IN = 1
TUPLE_F_SERVICE = 4
CT_F_LB_LOOPBACK = 1 << 3  # ct_entry bit field: lb_loopback (service loopback, hairpin)
CT_F_NODE_PORT = 1 << 5  # ct_entry bit field: node_port

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
PROTO_NAMES = {IPPROTO_ICMP: "ICMP", IPPROTO_TCP: "TCP", IPPROTO_UDP: "UDP"}

DROP_CT_INVALID_HDR = 135
DROP_CT_CREATE_FAILED = 155
DROP_NO_SERVICE = 158
DROP_NAT_NO_MAPPING = 167

# struct lb4_key after the address and the big-endian dport: backend_slot, proto, scope, pad[2].
_LB4_KEY_TAIL = struct.Struct("<HBB2x")
# struct lb4_service: backend_id, count, rev_nat_index, flags, flags2, pad[2].
_LB4_SERVICE = struct.Struct("<IHHBB2x")
# struct lb4_backend after address and big-endian port: proto, flags.
_LB4_BACKEND_TAIL = struct.Struct("<BB")
# struct ct_entry: rx_packets, rx_bytes|backend_id, tx_packets, tx_bytes, lifetime, the 16 bits of
# flags, rev_nat_index, ifindex, tx_flags_seen, rx_flags_seen, src_sec_id, last_tx_report, last_rx_report.
_CT_ENTRY = struct.Struct("<QQQQIHHHBBIII")
# struct ipv4_nat_entry: created, host_local, pad1, pad2, then address and big-endian port, 2 pad.
_NAT_ENTRY_HEAD = struct.Struct("<QQ16x")

assert _CT_ENTRY.size == 56 and _LB4_SERVICE.size == 12 and _NAT_ENTRY_HEAD.size == 32


def _be16(port: int) -> bytes:
    return port.to_bytes(2, "big")


def _from_be16(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


@dataclasses.dataclass(frozen=True)
class LbServiceEntry:
    """cilium_lb4_services_v2: frontend ``address:port`` slot 0 (count, rev NAT, flags) or a backend slot."""

    address: str
    port: int
    slot: int
    backend_id: int = 0
    count: int = 0
    rev_nat_index: int = 0
    flags: int = 0
    flags2: int = 0

    def pack_key(self) -> bytes:
        return _ip4(self.address) + _be16(self.port) + _LB4_KEY_TAIL.pack(self.slot, 0, 0)

    def pack_value(self) -> bytes:
        return _LB4_SERVICE.pack(self.backend_id, self.count, self.rev_nat_index, self.flags, self.flags2)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "LbServiceEntry":
        slot, _proto, _scope = _LB4_KEY_TAIL.unpack(key[6:12])
        backend_id, count, rev_nat_index, flags, flags2 = _LB4_SERVICE.unpack(value)
        return cls(_ip4_str(key[:4]), _from_be16(key[4:6]), slot, backend_id, count, rev_nat_index, flags, flags2)

    @property
    def frontend(self) -> str:
        return f"{self.address}:{self.port}"


@dataclasses.dataclass(frozen=True)
class LbBackendEntry:
    """cilium_lb4_backends_v2: backend id -> address, port, protocol."""

    backend_id: int
    address: str
    port: int
    proto: int = IPPROTO_TCP
    flags: int = 0  # BE_STATE_ACTIVE

    def pack_key(self) -> bytes:
        return struct.pack("<I", self.backend_id)

    def pack_value(self) -> bytes:
        return _ip4(self.address) + _be16(self.port) + _LB4_BACKEND_TAIL.pack(self.proto, self.flags)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "LbBackendEntry":
        proto, flags = _LB4_BACKEND_TAIL.unpack(value[6:8])
        return cls(struct.unpack("<I", key)[0], _ip4_str(value[:4]), _from_be16(value[4:6]), proto, flags)


@dataclasses.dataclass(frozen=True)
class LbRevNatEntry:
    """cilium_lb4_reverse_nat: rev NAT id -> the frontend a reply's source becomes (0.0.0.0: this node)."""

    rev_nat_index: int
    address: str
    port: int

    def pack_key(self) -> bytes:
        return struct.pack("<H", self.rev_nat_index)

    def pack_value(self) -> bytes:
        return _ip4(self.address) + _be16(self.port)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "LbRevNatEntry":
        return cls(struct.unpack("<H", key)[0], _ip4_str(value[:4]), _from_be16(value[4:6]))


def _pack_tuple(daddr: str, saddr: str, dport: int, sport: int, nexthdr: int, flags: int) -> bytes:
    return _ip4(daddr) + _ip4(saddr) + _be16(dport) + _be16(sport) + bytes([nexthdr, flags])


def _unpack_tuple(key: bytes) -> tuple[str, str, int, int, int, int]:
    if len(key) != 14:
        raise ValueError(f"ipv4_ct_tuple: expected 14 bytes, got {len(key)}")
    return _ip4_str(key[0:4]), _ip4_str(key[4:8]), _from_be16(key[8:10]), _from_be16(key[10:12]), key[12], key[13]


@dataclasses.dataclass(frozen=True)
class CtEntry:
    """cilium_ct4_global.  The key's fields keep Cilium's names and conventions (bpf/lib/common.h):
    a TUPLE_F_SERVICE entry is {daddr=VIP, saddr=client, dport=client port, sport=service port};
    the TUPLE_F_OUT entry of a translated flow is {daddr=client, saddr=backend, dport=backend port,
    sport=client port} -- the reply's own addresses and ports.  When the client is its own backend
    (``loopback``), the request's source became IPV4_LOOPBACK and so is that entry's daddr."""

    daddr: str
    saddr: str
    dport: int
    sport: int
    nexthdr: int
    flags: int  # TUPLE_F_*
    backend_id: int = 0
    rev_nat_index: int = 0
    node_port: bool = False
    lifetime: int = 0
    loopback: bool = False

    def pack_key(self) -> bytes:
        return _pack_tuple(self.daddr, self.saddr, self.dport, self.sport, self.nexthdr, self.flags)

    def pack_value(self) -> bytes:
        bits = (CT_F_NODE_PORT if self.node_port else 0) | (CT_F_LB_LOOPBACK if self.loopback else 0)
        return _CT_ENTRY.pack(0, self.backend_id, 0, 0, self.lifetime, bits, self.rev_nat_index, 0, 0, 0, 0, 0, 0)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "CtEntry":
        fields = _CT_ENTRY.unpack(value)
        return cls(*_unpack_tuple(key), backend_id=fields[1], rev_nat_index=fields[6],
                   node_port=bool(fields[5] & CT_F_NODE_PORT), lifetime=fields[4],
                   loopback=bool(fields[5] & CT_F_LB_LOOPBACK))


@dataclasses.dataclass(frozen=True)
class NatEntry:
    """cilium_snat_v4_external.  The key is the packet's own tuple: OUT = the original
    ``saddr:sport -> daddr:dport`` with the new source in ``to_addr:to_port``; IN = the reply
    ``saddr:sport -> daddr:dport`` (daddr = the node) with the original source to restore."""

    saddr: str
    sport: int
    daddr: str
    dport: int
    nexthdr: int
    flags: int  # TUPLE_F_OUT | TUPLE_F_IN
    to_addr: str
    to_port: int
    created: int = 0
    host_local: int = 0

    def pack_key(self) -> bytes:
        return _pack_tuple(self.daddr, self.saddr, self.dport, self.sport, self.nexthdr, self.flags)

    def pack_value(self) -> bytes:
        return _NAT_ENTRY_HEAD.pack(self.created, self.host_local) + _ip4(self.to_addr) + _be16(self.to_port) + bytes(2)

    @classmethod
    def unpack(cls, key: bytes, value: bytes) -> "NatEntry":
        daddr, saddr, dport, sport, nexthdr, flags = _unpack_tuple(key)
        created, host_local = _NAT_ENTRY_HEAD.unpack(value[:32])
        return cls(saddr, sport, daddr, dport, nexthdr, flags, _ip4_str(value[32:36]), _from_be16(value[36:38]),
                   created, host_local)


def lb_entries(services: Iterable["Service"]) -> dict[str, list]:
    """The three load-balancer maps' entries for ``services`` (cnilab.bpf.lb.Service).

    Per service: the ClusterIP frontend ``vip:port`` and, with a NodePort, the frontend
    ``0.0.0.0:node_port`` -- Cilium's surrogate for "any address of this node", which is
    what from-netdev (and from-container, for the pod's own node IP) looks up -- each with a
    slot 0 entry (count, rev NAT id, flags), slots 1..n pointing at backend ids, and its
    reverse-NAT entry (0.0.0.0 in it means this node's IP).  Backend ids number the distinct
    (ip, port, protocol) of all services from 1, in sorted order, so the result depends
    only on ``services``.
    """
    services = list(services)
    keys = sorted({(b.ip, b.port, s.proto_number) for s in services for b in s.backends},
                  key=lambda k: (ipaddress.IPv4Address(k[0]), k[1], k[2]))
    backend_ids = {k: i for i, k in enumerate(keys, start=1)}
    svc_entries: list[LbServiceEntry] = []
    revnat: dict[int, LbRevNatEntry] = {}
    frontends: set[tuple[str, int]] = set()

    def frontend(address: str, port: int, rev: int, flags: int, s: "Service") -> None:
        if (address, port) in frontends:
            raise ValueError(f"lb_entries: frontend {address}:{port} declared twice")
        frontends.add((address, port))
        if rev in revnat:
            raise ValueError(f"lb_entries: rev_nat_index {rev} used by two frontends "
                             f"({revnat[rev].address}:{revnat[rev].port} and {address}:{port})")
        revnat[rev] = LbRevNatEntry(rev, address, port)
        svc_entries.append(LbServiceEntry(address, port, 0, 0, len(s.backends), rev, flags))
        for slot, b in enumerate(s.backends, start=1):
            svc_entries.append(LbServiceEntry(address, port, slot, backend_ids[(b.ip, b.port, s.proto_number)], 0,
                                              rev))

    for s in services:
        # ClusterIP is non-routable unless bpf-lb-external-clusterip (Cilium's default: off).
        frontend(s.vip, s.port, s.rev_nat_index, 0, s)
        if s.node_port is not None:
            # The surrogate is non-routable too; per-IP NodePort frontends would be ROUTABLE.
            frontend("0.0.0.0", s.node_port, s.node_port_rev_nat, SVC_FLAG_NODEPORT, s)

    return {
        LB_SERVICES_MAP: svc_entries,
        LB_BACKENDS_MAP: [LbBackendEntry(i, ip, port, proto) for (ip, port, proto), i in backend_ids.items()],
        LB_REVNAT_MAP: sorted(revnat.values(), key=lambda e: e.rev_nat_index),
    }


def lb_service_entries(output: str | list[dict[str, Any]]) -> list[LbServiceEntry]:
    return [LbServiceEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def lb_backend_entries(output: str | list[dict[str, Any]]) -> list[LbBackendEntry]:
    return [LbBackendEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def lb_revnat_entries(output: str | list[dict[str, Any]]) -> list[LbRevNatEntry]:
    return [LbRevNatEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def ct_entries(output: str | list[dict[str, Any]]) -> list[CtEntry]:
    return [CtEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def nat_entries(output: str | list[dict[str, Any]]) -> list[NatEntry]:
    return [NatEntry.unpack(e.key, e.value) for e in parse_dump(output)]


def _tabwriter(rows: list[tuple[str, ...]], minwidth: int = 5, padding: int = 3) -> str:
    """Go's text/tabwriter as cilium uses it (``"%s\\t%s\\t\\n"``: every cell padded)."""
    widths = [max(minwidth, max(len(r[i]) for r in rows) + padding) for i in range(len(rows[0]))]
    return "".join("".join(c.ljust(w) for c, w in zip(r, widths)) + "\n" for r in rows)


def _svc_flags(flags: int) -> str:
    kind = "NodePort" if flags & SVC_FLAG_NODEPORT else "ExternalIPs" if flags & SVC_FLAG_EXTERNAL_IP else "ClusterIP"
    return f"[{kind}]" if flags & SVC_FLAG_ROUTABLE else f"[{kind}, non-routable]"


def format_lb_list(services: Iterable[LbServiceEntry], backends: Iterable[LbBackendEntry]) -> str:
    """Render like Cilium 1.13's ``cilium bpf lb list``::

        SERVICE ADDRESS       BACKEND ADDRESS (REVNAT_ID) (SLOT)
        10.96.93.201:8080     0.0.0.0:0 (1) (0) [ClusterIP, non-routable]
                              10.0.0.24:80 (1) (1)
    """
    by_id = {b.backend_id: b for b in backends}
    groups: dict[str, list[LbServiceEntry]] = {}
    for e in services:
        groups.setdefault(e.frontend, []).append(e)
    rows = [("SERVICE ADDRESS", "BACKEND ADDRESS (REVNAT_ID) (SLOT)")]
    for fe in sorted(groups):
        for i, e in enumerate(sorted(groups[fe], key=lambda e: e.slot)):
            if e.slot == 0:
                text = f"0.0.0.0:0 ({e.rev_nat_index}) (0) {_svc_flags(e.flags)}"
            elif e.backend_id in by_id:
                b = by_id[e.backend_id]
                text = f"{b.address}:{b.port} ({e.rev_nat_index}) ({e.slot})"
            else:
                text = f"backend {e.backend_id} not found ({e.rev_nat_index}) ({e.slot})"
            rows.append((fe if i == 0 else "", text))
    return _tabwriter(rows)


def format_nat_list(entries: Iterable[NatEntry]) -> str:
    """Render like Cilium 1.13's ``cilium bpf nat list``, one line per entry::

        TCP OUT 10.0.2.10:41356 -> 198.51.100.1:80 XLATE_SRC 172.18.0.3:41356 Created=120sec HostLocal=0
        TCP IN 198.51.100.1:80 -> 172.18.0.3:41356 XLATE_DST 10.0.2.10:41356 Created=120sec HostLocal=0
    """
    lines = []
    for e in sorted(entries, key=lambda e: (e.flags, e.nexthdr, ipaddress.IPv4Address(e.saddr), e.sport,
                                            ipaddress.IPv4Address(e.daddr), e.dport)):
        proto = PROTO_NAMES.get(e.nexthdr, str(e.nexthdr))
        direction, xlate = ("IN", "XLATE_DST") if e.flags & TUPLE_F_IN else ("OUT", "XLATE_SRC")
        lines.append(f"{proto} {direction} {e.saddr}:{e.sport} -> {e.daddr}:{e.dport} {xlate} {e.to_addr}:{e.to_port} "
                     f"Created={e.created}sec HostLocal={e.host_local}")
    return "".join(line + "\n" for line in lines)
