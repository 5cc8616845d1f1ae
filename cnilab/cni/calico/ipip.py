"""Calico's tunl0 (IP-in-IP) without the kernel's ipip module: an ifb device and two tc programs.

The lab machine's kernel has no ``ipip`` (calico.md section 6), so a node's ``tunl0`` is an
ifb device, and ``bpf/bpf_ipip.c`` beside this module does the tunnel's work:

- section ``ipip-encap`` (function ``ipip_encap``), tc egress of tunl0: wraps every IPv4 packet
  the stack routes to tunl0 in an outer header (protocol 4, source = the node's IP, destination =
  the gateway of the route used, ``192.168.196.128/26 via 172.17.0.40 dev tunl0 onlink`` as BIRD
  writes it) and sends it out of eth0 with ``bpf_redirect_neigh``;
- section ``ipip-decap`` (function ``ipip_decap``), tc ingress of eth0: unwraps protocol-4 packets
  addressed to the node and receives the inner packet on tunl0.

The per-node values are CONFIG globals in the object's ``.rodata.config`` section, as in the
Cilium datapath of this repo: :func:`compile` builds the template (all zero), :func:`configure`
writes a node's values into a copy with ``cnilab.bpf.template.patch``.  Nothing is pinned: each
``tc filter`` load carries its own read-only copy of the values.

A node is set up in three steps, each a list of shell lines run in the node (nothing here runs
anything): :func:`tunl0_lines` (the device), then the node's object made with its ifindexes and
tunl0's MAC (read back with :func:`link_lines` / :func:`parse_link`, or chosen with
``tunl0_lines(address=...)``), then :func:`attach_lines`.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import pathlib
import re
import shlex
import shutil

from ...bpf.compile import SourceTree

BPF_DIR = pathlib.Path(__file__).resolve().parent / "bpf"
SOURCE = BPF_DIR / "bpf_ipip.c"
OBJECT_NAME = "bpf_ipip.o"

ENCAP_SECTION = "ipip-encap"
DECAP_SECTION = "ipip-decap"
ENCAP_PROGRAM = "ipip_encap"
DECAP_PROGRAM = "ipip_decap"

TUNNEL_DEVICE = "tunl0"
DEFAULT_MTU = 1440  # Calico's IP-in-IP MTU: eth0's 1500 less the 20-byte outer header

# The object's CONFIG variables (symbol __config_<name> in .rodata.config), in section order:
# name -> (offset, size).  Integers are host byte order (little-endian on x86_64 and arm64),
# node_ip is network order as in the IP header, tunl0_mac is wire order.
CONFIG_LAYOUT = {
    "node_ip": (0, 4),  # __be32
    "eth0_ifindex": (4, 4),  # __u32
    "tunl0_ifindex": (8, 4),  # __u32
    "tunl0_mac": (12, 6),  # struct ipip_mac { __u8 addr[6]; }
}

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


# The stand-in's source tree: one program, no rendered headers (its values are CONFIG data).
SOURCES = SourceTree(BPF_DIR, {"bpf_ipip": ()})


def compile(out_dir: pathlib.Path | str) -> pathlib.Path:  # noqa: A001 - the name the lab asked for
    """``out_dir/bpf_ipip.o``: the template (every CONFIG value zero), compiled through the
    project's cache like every other object (clang missing: CompileError)."""
    out = pathlib.Path(out_dir) / OBJECT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCES.compile_object("bpf_ipip", {}), out)
    return out


@dataclasses.dataclass(frozen=True)
class IpipConfig:
    """One node's values: its underlay address, its eth0 and tunl0 ifindexes, tunl0's MAC."""

    node_ip: str
    eth0_ifindex: int
    tunl0_ifindex: int
    tunl0_mac: str

    def __post_init__(self) -> None:
        ip = ipaddress.IPv4Address(self.node_ip)
        if ip.is_unspecified:
            raise ValueError("node_ip: 0.0.0.0 is the unconfigured template's value")
        for name in ("eth0_ifindex", "tunl0_ifindex"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 < value < 2**32:
                raise ValueError(f"{name}: not an ifindex: {value!r}")
        if not _MAC.match(self.tunl0_mac.lower()):
            raise ValueError(f"tunl0_mac: not a MAC address: {self.tunl0_mac!r}")

    def values(self) -> dict[str, bytes]:
        """The bytes of each CONFIG variable, for ``cnilab.bpf.template.patch``."""
        return {
            "node_ip": ipaddress.IPv4Address(self.node_ip).packed,
            "eth0_ifindex": self.eth0_ifindex.to_bytes(4, "little"),
            "tunl0_ifindex": self.tunl0_ifindex.to_bytes(4, "little"),
            "tunl0_mac": bytes.fromhex(self.tunl0_mac.replace(":", "")),
        }

    def section(self) -> bytes:
        """The whole .rodata.config section as these values make it (CONFIG_LAYOUT)."""
        raw = bytearray(sum(size for _, size in CONFIG_LAYOUT.values()))
        for name, value in self.values().items():
            offset, size = CONFIG_LAYOUT[name]
            raw[offset : offset + size] = value
        return bytes(raw)


def config_values(node_ip: str, eth0_ifindex: int, tunl0_ifindex: int, tunl0_mac: str) -> dict[str, bytes]:
    return IpipConfig(node_ip, eth0_ifindex, tunl0_ifindex, tunl0_mac).values()


def configure(template: pathlib.Path | str, out: pathlib.Path | str, config: IpipConfig) -> pathlib.Path:
    """Write ``template`` (from :func:`compile`) with ``config``'s values to ``out``."""
    from cnilab.bpf.template import patch

    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(patch(pathlib.Path(template).read_bytes(), config.values()))
    return out


def tunl0_lines(tunnel_ip: str, mtu: int = DEFAULT_MTU, address: str | None = None) -> list[str]:
    """Create and raise the tunl0 stand-in holding the node's tunnel address (a /32).

    ifb comes closest to the real device: NOARP, state UNKNOWN, qdisc noqueue, qlen 1000.
    ``address`` gives tunl0 a chosen MAC instead of ifb's random one.
    """
    ip = ipaddress.IPv4Address(tunnel_ip)
    if not 68 <= mtu <= 65535:
        raise ValueError(f"mtu: {mtu}")
    mac = ""
    if address is not None:
        if not _MAC.match(address.lower()):
            raise ValueError(f"address: not a MAC address: {address!r}")
        mac = f" address {address.lower()}"
    dev = TUNNEL_DEVICE
    return [
        f"ip link add {dev}{mac} mtu {mtu} type ifb",
        f"tc qdisc replace dev {dev} root noqueue",
        f"ip link set {dev} txqueuelen 1000",
        f"ip addr add {ip}/32 dev {dev}",
        f"ip link set {dev} up",
    ]


def link_lines(eth0: str = "eth0") -> list[str]:
    """Lines printing what the node's object needs from the node (see :func:`parse_link`)."""
    return [f"ip -j link show dev {TUNNEL_DEVICE}", f"ip -j link show dev {shlex.quote(eth0)}"]


def parse_link(ip_json: str) -> tuple[int, str]:
    """``(ifindex, MAC)`` from the output of ``ip -j link show dev X``."""
    link = json.loads(ip_json)[0]
    return int(link["ifindex"]), str(link["address"])


def attach_lines(obj: pathlib.Path | str, eth0: str = "eth0") -> list[str]:
    """Attach the node's object (from :func:`configure`): encap on tunl0 egress, decap on eth0 ingress."""
    o = shlex.quote(str(obj))
    e = shlex.quote(eth0)
    return [
        f"tc qdisc replace dev {TUNNEL_DEVICE} clsact",
        f"tc qdisc replace dev {e} clsact",
        f"tc filter replace dev {TUNNEL_DEVICE} egress pref 1 handle 1 bpf da obj {o} sec {ENCAP_SECTION}",
        f"tc filter replace dev {e} ingress pref 1 handle 1 bpf da obj {o} sec {DECAP_SECTION}",
    ]

