"""The lab's underlay: a bridge `br0` in a network namespace of the lab's own,
`<lab>-underlay`, with no address and no link to the host. Every node's eth0 (a
namespace node's or a container's) is one end of a veth whose other end is a port of
that bridge, so the nodes reach each other and nothing else.

Why not a Docker network: Docker's isolation rules for `--internal` networks
(`DOCKER-ISOLATION-STAGE-1 ! -d <subnet> -i br-… -j DROP`, applied to bridged frames
through br_netfilter) drop every frame addressed outside the network's one subnet, which
is exactly what native routing (pod addresses on the underlay) and a TEST-NET world host
need. A bridge the host's iptables never sees has no such rule, and still no way out.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from .base import Removed, run

NETNS_DIR = Path("/run/netns")


def name(lab_name: str) -> str:
    return f"{lab_name}-underlay"


def exists(lab_name: str) -> bool:
    return (NETNS_DIR / name(lab_name)).exists()


def ensure(lab_name: str) -> None:
    if exists(lab_name):
        return
    ul = name(lab_name)
    run(["ip", "netns", "add", ul])
    run(["ip", "-n", ul, "-batch", "-"], input=b"link set lo up\nlink add br0 type bridge\nlink set br0 up\n")


def plug_lines(lab_name: str, port: str, netns: str, mac: str, address: str, ip: str, dev: str = "eth0", bridge: str = "br0") -> list[str]:
    """Shell lines for a veth from the underlay's `bridge` (`port`) to `dev` in `netns` (a
    namespace name or a PID), with the node's MAC, and `address` (CIDR) on it through `ip`,
    the `ip` command as run inside that namespace. br0 is the nodes' eth0 network; br1,
    made on first use, a second one (eth1, the declaration's privateNetwork)."""
    ul = shlex.quote(name(lab_name))
    lines = []
    if bridge != "br0":
        lines.append(f"ip -n {ul} link show {bridge} >/dev/null 2>&1 || ip -n {ul} link add {bridge} type bridge")
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


def run_lines(lines: list[str]) -> None:
    run(["sh", "-c", "\n".join(["set -e", *lines])])


def remove(lab_name: str) -> list[Removed]:
    if not exists(lab_name):
        return []
    run(["ip", "netns", "del", name(lab_name)])
    return [Removed("netns", name(lab_name))]
