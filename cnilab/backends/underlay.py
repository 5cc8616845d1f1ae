"""The lab's underlay: a bridge `br0` in a network namespace of the lab's own,
`<lab>-underlay`, with no address and no link to the host. Every node's eth0 (a
namespace node's or a container's) is one end of a veth whose other end is a port of
that bridge, so the nodes reach each other and nothing else.

Why not a Docker network: Docker's isolation rules for `--internal` networks
(`DOCKER-ISOLATION-STAGE-1 ! -d <subnet> -i br-… -j DROP`, applied to bridged frames
through br_netfilter) drop every frame addressed outside the network's one subnet, which
is exactly what native routing (pod addresses on the underlay) and a TEST-NET world host
need. A bridge the host's iptables never sees has no such rule, and still no way out.

A lab on several machines has one such bridge on each, joined into one segment by a
VXLAN device `ulx0` on each bridge (`Join`): the device lives in the underlay namespace,
its UDP socket in the machine's own namespace (made there with `ip link add ... netns`),
so frames between the bridges cross the machines' network and nothing else of the machine
changes: no address, route or iptables rule. The VNI is the lab's own and the UDP port is
not 8472 or 4789, so a Cilium or Calico VXLAN inside the lab is never confused with it.
"""

from __future__ import annotations

import shlex
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..machines import LOCAL, Machine
from .base import Removed

NETNS_DIR = Path("/run/netns")
JOIN_PORT = 4800  # not Linux's 8472 (Cilium) nor IANA's 4789 (Calico)
JOIN_OVERHEAD = 50  # outer IPv4 + UDP + VXLAN + inner Ethernet
NODE_MTU = 1500  # the nodes' eth0, as kind's nodes have it


def name(lab_name: str) -> str:
    return f"{lab_name}-underlay"


def vni(lab_name: str) -> int:
    """The lab's own VNI for its cross-machine underlay (same on every machine)."""
    return zlib.crc32(f"cnilab/{lab_name}".encode()) % 0xFFFFF0 + 1


@dataclass(frozen=True)
class Join:
    """This machine's bridges joined to the same bridges of `peers` (their addresses):
    br0 (the nodes' eth0) by `ulx0` with VNI `vni`, br1 (eth1, a declared privateNetwork)
    by `ulx1` with VNI `vni + 1`."""

    vni: int
    peers: tuple[str, ...]
    port: int = JOIN_PORT
    mtu: int = NODE_MTU
    bridges: tuple[str, ...] = ("br0",)

    def devices(self) -> list[tuple[str, str, int]]:
        """(VXLAN device, bridge, VNI) per joined bridge."""
        return [(f"ulx{i}", bridge, self.vni + i) for i, bridge in enumerate(self.bridges)]

    def state(self) -> list[dict]:
        """What join_state reads back when the join is as it should be."""
        return [{"dev": d, "vni": v, "port": self.port, "mtu": self.mtu, "peers": sorted(self.peers)} for d, _, v in self.devices()]


def exists(lab_name: str, machine: Machine = LOCAL) -> bool:
    if machine.local:
        return (NETNS_DIR / name(lab_name)).exists()
    return machine.sh(f"test -e {NETNS_DIR / name(lab_name)}", check=False).returncode == 0


def ensure_lines(lab_name: str, join: Join | None = None) -> list[str]:
    """Shell lines (run under `set -e`) that make the underlay, and join it, when missing;
    the join's flood list is set to exactly `join.peers`."""
    ul = shlex.quote(name(lab_name))
    lines = [
        f"if [ ! -e {NETNS_DIR}/{ul} ]; then ip netns add {ul}; "
        f"printf 'link set lo up\\nlink add br0 type bridge\\nlink set br0 up\\n' | ip -n {ul} -batch -; fi",
    ]
    if join is None:
        return lines
    for dev, bridge, vni_ in join.devices():
        if bridge != "br0":
            # Nodes are made side by side: another may add it between a check and the add.
            lines.append(f"ip -n {ul} link add {bridge} type bridge 2>/dev/null || ip -n {ul} link show {bridge} >/dev/null")
            lines.append(f"ip -n {ul} link set {bridge} up")
        lines += [
            f"ip -n {ul} link show {dev} >/dev/null 2>&1 || "
            f"ip link add {dev} netns {ul} mtu {join.mtu} type vxlan id {vni_} dstport {join.port}",
            f"ip -n {ul} link set {dev} mtu {join.mtu} master {bridge} up",
            # Head-end replication: one all-zeros entry per peer machine; the bridge and the
            # VXLAN device learn where each node's MAC lives from the frames that come back.
            f"have=$(bridge -n {ul} fdb show dev {dev} | awk '$1 == \"00:00:00:00:00:00\" {{print $3}}')",
            f"want='{' '.join(join.peers)}'",
            f"for p in $want; do echo \" $have \" | grep -q \" $p \" || bridge -n {ul} fdb append 00:00:00:00:00:00 dev {dev} dst $p; done",
            f"for p in $have; do echo \" $want \" | grep -q \" $p \" || bridge -n {ul} fdb del 00:00:00:00:00:00 dev {dev} dst $p; done",
        ]
    return lines


def ensure(lab_name: str, machine: Machine = LOCAL, join: Join | None = None) -> None:
    if join is None and exists(lab_name, machine):
        return
    run_lines(ensure_lines(lab_name, join), machine)


def join_state(lab_name: str, machine: Machine = LOCAL) -> list[dict]:
    """The join's devices as they are (see Join.state); [] without a join."""
    import json

    ul = shlex.quote(name(lab_name))
    p = machine.sh(f"ip -n {ul} -d -j link show type vxlan 2>/dev/null || echo '[]'; echo ---; bridge -n {ul} fdb show 2>/dev/null || true", check=False)
    text = p.stdout.decode()
    links_json, _, fdb = text.partition("---")
    try:
        links = json.loads(links_json or "[]")
    except ValueError:
        return []
    peers: dict[str, list[str]] = {}
    for line in fdb.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == "00:00:00:00:00:00" and f[1] == "dev" and f[3] == "dst":
            peers.setdefault(f[2], []).append(f[4])
    out = []
    for link in sorted(links, key=lambda x: x["ifname"]):
        if not link["ifname"].startswith("ulx"):
            continue
        info = link.get("linkinfo", {}).get("info_data", {})
        out.append({"dev": link["ifname"], "vni": info.get("id"), "port": info.get("port"), "mtu": link.get("mtu"),
                    "peers": sorted(peers.get(link["ifname"], []))})
    return out


def plug_lines(lab_name: str, port: str, netns: str, mac: str, address: str, ip: str, dev: str = "eth0", bridge: str = "br0") -> list[str]:
    """Shell lines for a veth from the underlay's `bridge` (`port`) to `dev` in `netns` (a
    namespace name or a PID), with the node's MAC, and `address` (CIDR) on it through `ip`,
    the `ip` command as run inside that namespace. br0 is the nodes' eth0 network; br1,
    made on first use, a second one (eth1, the declaration's privateNetwork)."""
    ul = shlex.quote(name(lab_name))
    lines = []
    if bridge != "br0":
        # Nodes are made side by side: another may add it between a check and the add.
        lines.append(f"ip -n {ul} link add {bridge} type bridge 2>/dev/null || ip -n {ul} link show {bridge} >/dev/null")
        lines.append(f"ip -n {ul} link set {bridge} up")
    return lines + [
        f"ip -n {ul} link del {port} 2>/dev/null || true",  # a port left by a half-made node
        f"ip -n {ul} link add {port} type veth peer name {dev} address {mac} netns {shlex.quote(netns)}",
        f"ip -n {ul} link set {port} master {bridge} up",
        f"{ip} addr add {address} dev {dev}",
        f"{ip} link set {dev} up",
    ]


def node_lines(lab, node, netns: str, ip: str) -> list[str]:
    """A node's NICs: eth0 on the underlay, and eth1 on the private network if declared."""
    lines = plug_lines(lab.name, f"n{node.index}", netns, node.mac, f"{node.ip}/{lab.underlay.prefixlen}", ip)
    if node.private_ip:
        prefix = lab.decl.privateNetwork.split("/")[1]
        lines += plug_lines(lab.name, f"p{node.index}", netns, node.private_mac, f"{node.private_ip}/{prefix}", ip, dev="eth1", bridge="br1")
    return lines


def world_lines(lab, netns: str, ip: str) -> list[str]:
    """The world host's one NIC, eth0 on the underlay at its underlay address."""
    w = lab.world
    return plug_lines(lab.name, "world", netns, w.mac, f"{w.underlay_ip}/{lab.underlay.prefixlen}", ip)


def run_lines(lines: list[str], machine: Machine = LOCAL) -> None:
    machine.sh("\n".join(["set -e", *lines]))


def remove(lab_name: str, machine: Machine = LOCAL) -> list[Removed]:
    if not exists(lab_name, machine):
        return []
    # The join's device goes with the namespace; its socket with the device.
    machine.sh(f"ip netns del {shlex.quote(name(lab_name))}")
    return [Removed("netns", name(lab_name))]
