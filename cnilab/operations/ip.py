"""Links, addresses and routes, each from its `ip -j` fact, changed in one `ip -batch`."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts._ns import ip
from ..facts.ip import Addresses, Links, Routes
from ..model.lab import Route


def ip_batch(lines: list[str], netns: str | None = None) -> StringCommand:
    # `ip -batch` is ~5x faster than one `ip` per change.
    body = "\n".join(lines)
    return StringCommand(f"{ip(netns)} -batch - <<'EOF'\n{body}\nEOF")


@dataclass(frozen=True)
class Link:
    """A link as the datapath wants it. veth peers may live in another namespace (a pod's)."""

    name: str
    kind: str  # "veth" | "vxlan"
    mac: str
    mtu: int = 1500
    noarp: bool = False
    peer: str | None = None
    peer_mac: str | None = None
    peer_netns: str | None = None
    vxlan_port: int | None = None
    create: bool = True  # False: the other end makes the pair; only adjust this side

    def add(self) -> str:
        if self.kind == "vxlan":
            # Flow-based: the BPF program sets the remote and the VNI per packet.
            return f"link add {self.name} address {self.mac} mtu {self.mtu} type vxlan external dstport {self.vxlan_port}"
        peer_ns = f" netns {self.peer_netns}" if self.peer_netns else ""
        return (
            f"link add {self.name} address {self.mac} mtu {self.mtu} type veth "
            f"peer name {self.peer} address {self.peer_mac} mtu {self.mtu}{peer_ns}"
        )


@operation()
def links(wanted: list[Link], netns: str | None = None):
    """Create, re-create or adjust links; a veth peer in the same namespace is set up with it."""
    have = host.get_fact(Links, netns=netns)
    lines: list[str] = []
    for link in wanted:
        cur = have.get(link.name)
        if cur is None and not link.create:
            continue
        wrong_kind = link.create and cur is not None and (
            cur["kind"] != link.kind
            or (link.kind == "vxlan" and (cur["vxlan"] or {}) != {"external": True, "port": link.vxlan_port})
            or (link.kind == "veth" and link.peer_netns is None and cur["peer"] != link.peer)
        )
        if wrong_kind:
            lines.append(f"link del {link.name}")
        if cur is None or wrong_kind:
            lines.append(link.add())
            cur = {"mac": link.mac, "mtu": link.mtu, "noarp": False, "up": False}
        elif cur["mac"] != link.mac:
            lines.append(f"link set {link.name} address {link.mac}")
        if cur["mtu"] != link.mtu:
            lines.append(f"link set {link.name} mtu {link.mtu}")
        if cur["noarp"] != link.noarp or not cur["up"]:
            lines.append(f"link set {link.name} arp {'off' if link.noarp else 'on'} up")
        if link.kind == "veth" and link.peer and link.peer_netns is None:
            peer = have.get(link.peer)
            if peer is not None and not wrong_kind:
                if link.peer_mac and peer["mac"] != link.peer_mac:
                    lines.append(f"link set {link.peer} address {link.peer_mac}")
                if peer["mtu"] != link.mtu:
                    lines.append(f"link set {link.peer} mtu {link.mtu}")
            if peer is None or wrong_kind or peer["noarp"] != link.noarp or not peer["up"]:
                lines.append(f"link set {link.peer} arp {'off' if link.noarp else 'on'} up")
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"links {', '.join(link.name for link in wanted)} are as wanted")


@operation()
def addresses(dev: str, wanted: list[tuple[str, str]], netns: str | None = None):
    """The IPv4 addresses of one link, ``[("10.0.2.194/32", "link")]``, and no others."""
    have = {(f"{a['local']}/{a['prefixlen']}", a["scope"]) for a in host.get_fact(Addresses, netns=netns).get(dev, [])}
    want = set(wanted)
    lines = [f"addr del {a} dev {dev}" for a, _ in sorted(have - want)]
    lines += [f"addr add {a} dev {dev} scope {scope}" for a, scope in sorted(want - have)]
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"{dev} has {', '.join(a for a, _ in wanted)}")


def _route_key(r: dict) -> tuple:
    return (r["dst"], r["dev"], r["via"], r["src"], r["scope"], r["mtu"])


@operation()
def routes(wanted: list[Route], netns: str | None = None, own_devs: tuple[str, ...] = ()):
    """
    The routes of the main table: the wanted ones present exactly, and on ``own_devs``
    (links the lab owns, like cilium_host) no others.
    """
    have = host.get_fact(Routes, netns=netns)
    have_keys = {_route_key(r) for r in have if r["proto"] != "kernel"}
    want_keys = {(r.dst, r.dev, r.via, r.src, r.scope, r.mtu): r for r in wanted}
    lines = []
    for r in have:
        key = _route_key(r)
        if r["dev"] in own_devs and r["proto"] != "kernel" and key not in want_keys:
            lines.append(f"route del {r['dst']} dev {r['dev']}")
    # Link-scope routes first: the gateways of the others go through them.
    missing = sorted((r for key, r in want_keys.items() if key not in have_keys), key=lambda r: r.via is not None)
    lines += [f"route replace {r.line()}" for r in missing]
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"{len(wanted)} routes are in place")
