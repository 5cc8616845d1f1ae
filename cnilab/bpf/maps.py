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
import json
import struct
from typing import Any, Iterable

ENDPOINT_KEY_IPV4 = 1
ENDPOINT_F_HOST = 1
HOST_ID = 1
WORLD_ID = 2

PIN_DIR = "/sys/fs/bpf/tc/globals"
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


def bpftool_hex(data: bytes) -> list[str]:
    """``b"\\x0a\\x00"`` -> ``["hex", "0a", "00"]``.

    Always ``hex``: without it bpftool reads ``010`` as octal.
    """
    return ["hex", *(f"{b:02x}" for b in data)]


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


@dataclasses.dataclass(frozen=True)
class RawEntry:
    """One entry of a bpftool dump: value for plain maps, values (per CPU) for per-CPU ones."""

    key: bytes
    value: bytes | None = None
    values: tuple[bytes, ...] | None = None


def _hex_list(items: list[str]) -> bytes:
    return bytes(int(x, 16) for x in items)


def parse_dump(output: str | list[dict[str, Any]]) -> list[RawEntry]:
    """Parse ``bpftool -j map dump pinned PATH`` (text or already-loaded JSON)."""
    data = json.loads(output) if isinstance(output, str) else output
    if not isinstance(data, list):
        raise ValueError(f"bpftool map dump: expected a JSON array, got {type(data).__name__}")
    entries = []
    for item in data:
        if "key" not in item:
            raise ValueError(f"bpftool map dump: entry without a raw 'key' array: {item!r}")
        key = _hex_list(item["key"])
        if "values" in item:
            values = tuple(_hex_list(v["value"]) for v in sorted(item["values"], key=lambda v: v["cpu"]))
            entries.append(RawEntry(key=key, values=values))
        else:
            entries.append(RawEntry(key=key, value=_hex_list(item["value"])))
    return entries


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
