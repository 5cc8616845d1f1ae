"""Links, addresses and routes, each from its `ip -j` fact, changed in one `ip -batch`; or all
of a node's together (with its sysctls), one fact and one command (what the lab's deploys use:
the single-object operations are for deploys of one's own, and share the same diffs)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts._ns import ip
from ..facts.ip import Addresses, Links, Network, Routes, VxlanPeers
from ..model.lab import Route
from .sysctl import sysctl_changes


def ip_batch(lines: list[str], netns: str | None = None) -> StringCommand:
    # `ip -batch` is ~5x faster than one `ip` per change.
    body = "\n".join(lines)
    return StringCommand(f"{ip(netns)} -batch - <<'EOF'\n{body}\nEOF")


@dataclass(frozen=True)
class Link:
    """A link as the datapath wants it. veth peers may live in another namespace (a pod's)."""

    name: str
    kind: str  # "veth" | "vxlan" | "ifb" | "ipip"
    mac: str
    mtu: int = 1500
    noarp: bool = False
    peer: str | None = None
    peer_mac: str | None = None
    peer_netns: str | None = None
    vxlan_port: int | None = None
    create: bool = True  # False: the other end makes the pair; only adjust this side
    # A VXLAN device with one VNI (Calico's vxlan.calico), not a flow-based one (Cilium's):
    vxlan_id: int | None = None
    vxlan_dev: str | None = None  # the underlay device
    vxlan_local: str | None = None  # the source address
    txqueuelen: int | None = None

    @property
    def vxlan(self) -> dict | None:
        """What the Links fact reports of a VXLAN device, for this one."""
        if self.kind != "vxlan":
            return None
        if self.vxlan_id is None:
            return {"external": True, "port": self.vxlan_port}
        return {"external": False, "port": self.vxlan_port, "id": self.vxlan_id, "local": self.vxlan_local, "learning": False}

    def add(self) -> str:
        qlen = f" txqueuelen {self.txqueuelen}" if self.txqueuelen else ""
        if self.kind == "vxlan" and self.vxlan_id is None:
            # Flow-based: the BPF program sets the remote and the VNI per packet.
            return f"link add {self.name} address {self.mac} mtu {self.mtu} type vxlan external dstport {self.vxlan_port}"
        if self.kind == "vxlan":
            return (
                f"link add {self.name} address {self.mac} mtu {self.mtu}{qlen} type vxlan id {self.vxlan_id} "
                f"dstport {self.vxlan_port} dev {self.vxlan_dev} local {self.vxlan_local} nolearning"
            )
        if self.kind == "ifb":
            return f"link add {self.name} address {self.mac} mtu {self.mtu}{qlen} type ifb"
        if self.kind == "ipip":
            # The ipip module's own tunl0 (its fallback device) exists in every namespace once
            # the module is loaded; adding it loads the module where it is not yet.
            return f"link add {self.name} mtu {self.mtu} type ipip"
        peer_ns = f" netns {self.peer_netns}" if self.peer_netns else ""
        return (
            f"link add {self.name} address {self.mac} mtu {self.mtu} type veth "
            f"peer name {self.peer} address {self.peer_mac} mtu {self.mtu}{peer_ns}"
        )


def link_changes(have: dict, wanted: list[Link]) -> tuple[list[str], set[str]]:
    """The `ip -batch` lines that make ``wanted`` from ``have`` (a Links fact), and the names
    of the links they create or re-create (whose addresses, routes and veth peers start anew)."""
    lines: list[str] = []
    created: set[str] = set()
    for link in wanted:
        cur = have.get(link.name)
        if cur is None and not link.create:
            continue
        wrong_kind = link.create and cur is not None and (
            cur["kind"] != link.kind
            or (link.kind == "vxlan" and {k: (cur["vxlan"] or {}).get(k) for k in link.vxlan} != link.vxlan)
            or (link.kind == "veth" and link.peer_netns is None and cur["peer"] != link.peer)
        )
        if wrong_kind:
            lines.append(f"link del {link.name}")
        if cur is None or wrong_kind:
            lines.append(link.add())
            created.add(link.name)
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
                if peer is None or wrong_kind:
                    created.add(link.peer)
    return lines, created


def address_changes(have: dict, dev: str, wanted: list[tuple[str, str]]) -> list[str]:
    """`ip -batch` lines leaving ``dev`` with exactly ``wanted`` (from an Addresses fact)."""
    cur = {(f"{a['local']}/{a['prefixlen']}", a["scope"]) for a in have.get(dev, [])}
    want = set(wanted)
    lines = [f"addr del {a} dev {dev}" for a, _ in sorted(cur - want)]
    lines += [f"addr add {a} dev {dev} scope {scope}" for a, scope in sorted(want - cur)]
    return lines


def _wanted_key(r: Route) -> tuple:
    return (r.dst, r.dev, r.via, r.src, r.scope, r.mtu, r.proto, r.onlink, r.type)


def route_changes(have: list, wanted: list[Route], own_devs: tuple[str, ...] = ()) -> list[str]:
    """`ip -batch` lines putting ``wanted`` in place and removing strays on ``own_devs`` (from a Routes fact)."""
    have_keys = {_route_key(r) for r in have if r["proto"] != "kernel"}
    want_keys = {_wanted_key(r): r for r in wanted}
    lines = []
    for r in have:
        key = _route_key(r)
        if r["dev"] in own_devs and r["proto"] != "kernel" and key not in want_keys:
            lines.append(f"route del {r['dst']} dev {r['dev']}")
    # Link-scope routes first: the gateways of the others go through them.
    missing = sorted((r for key, r in want_keys.items() if key not in have_keys), key=lambda r: r.via is not None)
    lines += [f"route replace {r.line()}" for r in missing]
    return lines


@operation()
def links(wanted: list[Link], netns: str | None = None):
    """Create, re-create or adjust links; a veth peer in the same namespace is set up with it."""
    lines, _ = link_changes(host.get_fact(Links, netns=netns), wanted)
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"links {', '.join(link.name for link in wanted)} are as wanted")


@operation()
def addresses(dev: str, wanted: list[tuple[str, str]], netns: str | None = None):
    """The IPv4 addresses of one link, ``[("10.0.2.194/32", "link")]``, and no others."""
    lines = address_changes(host.get_fact(Addresses, netns=netns), dev, wanted)
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"{dev} has {', '.join(a for a, _ in wanted)}")


def _route_key(r: dict) -> tuple:
    return (r["dst"], r["dev"], r["via"], r["src"], r["scope"], r["mtu"], r["proto"], r.get("onlink", False), r.get("type"))


@operation()
def routes(wanted: list[Route], netns: str | None = None, own_devs: tuple[str, ...] = ()):
    """
    The routes of the main table: the wanted ones present exactly, and on ``own_devs``
    (links the lab owns, like cilium_host) no others.
    """
    lines = route_changes(host.get_fact(Routes, netns=netns), wanted, own_devs)
    if lines:
        yield ip_batch(lines, netns)
    else:
        host.noop(f"{len(wanted)} routes are in place")


@operation()
def network(
    links: list[Link],
    addresses: dict[str, list[tuple[str, str]]],
    routes: list[Route],
    own_devs: tuple[str, ...] = (),
    sysctls: dict[str, str] | None = None,
):
    """
    A node's own links, the addresses on them, its routes and sysctls, read in one fact and
    changed in one command: one `ip -batch` (links, then addresses, then routes, which may
    use them), then `sysctl -w`. A link made anew here has nothing yet: its addresses,
    routes and sysctls are set whatever the fact said of the link it replaces.
    """
    sysctls = sysctls or {}
    have = host.get_fact(Network, sysctls=sorted(sysctls))
    lines, created = link_changes(have["links"], links)
    for dev, wanted in addresses.items():
        lines += address_changes({} if dev in created else have["addresses"], dev, wanted)
    lines += route_changes([r for r in have["routes"] if r["dev"] not in created], routes, own_devs)
    changes = sysctl_changes(have["sysctls"], sysctls, created)
    if not lines and not changes:
        host.noop(f"links, addresses, {len(routes)} routes and {len(sysctls)} sysctls are as wanted")
        return
    script = ["set -e"]
    if lines:
        script.append(ip_batch(lines).get_raw_value())
    if changes:
        script.append("sysctl -qw " + " ".join(changes))
    yield StringCommand("\n".join(script))


@operation()
def routes_present(wanted: list[Route], timeout: int = 60):
    """
    Wait until a node's routing table holds ``wanted``, routes another process installs (BIRD's
    learnt ones): nothing to do when they are there, else poll `ip route` until they are
    (at most ``timeout`` seconds).
    """
    have = {_route_key(r) for r in host.get_fact(Routes)}
    missing = [r for r in wanted if _wanted_key(r) not in have]
    if not missing:
        host.noop(f"{len(wanted)} learnt routes are in place")
        return
    checks = " && ".join(f"printf '%s\\n' \"$t\" | grep -qxF {shlex.quote(r.line())}" for r in missing)
    yield StringCommand(
        f"for i in $(seq {timeout * 10}); do t=$(ip -4 route show | sed 's/ *$//'); if {checks}; then exit 0; fi; sleep 0.1; done; "
        f"echo 'routes still missing after {timeout} s:' >&2; ip -4 route show >&2; exit 1"
    )


@operation()
def vxlan_peers(dev: str, neighbours: list[tuple[str, str]], fdb: list[tuple[str, str]]):
    """
    A VXLAN device's permanent neighbours (VTEP address -> MAC) and FDB entries (MAC -> remote
    node), exactly: what Felix programs per remote VTEP.
    """
    have = host.get_fact(VxlanPeers, dev=dev)
    d = shlex.quote(dev)
    lines = [f"ip neigh del {ip} dev {d}" for ip in sorted(set(have["neigh"]) - {i for i, _ in neighbours})]
    lines += [f"ip neigh replace {ip} dev {d} lladdr {mac} nud permanent" for ip, mac in neighbours if have["neigh"].get(ip) != mac]
    lines += [f"bridge fdb del {mac} dev {d} self" for mac in sorted(set(have["fdb"]) - {m for m, _ in fdb})]
    lines += [f"bridge fdb replace {mac} dev {d} dst {dst} self permanent" for mac, dst in fdb if have["fdb"].get(mac) != dst]
    if lines:
        yield StringCommand("set -e\n" + "\n".join(lines))
    else:
        host.noop(f"{dev}: {len(neighbours)} neighbours and {len(fdb)} FDB entries")
