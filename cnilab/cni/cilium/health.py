"""The health endpoint of a node, as Cilium 1.13's agent launches it (cilium-health/launch):
a network namespace of its own, the veth lxc_health on the node whose peer "cilium" sits
in it with the health IP /32, `lo` up, and the routes every endpoint gets (the router IP
on the link, the default route via it with the route MTU).

The agent holds that namespace in its own mount namespace, so on the node it has no
name: `ip a` prints `lxc_health@if5 ... link-netnsid 1` (seed 000). The lab bind-mounts it
at HEALTH_NETNS_PATH, in the node's private /run and outside /run/netns, where the pods'
namespaces are (and where the core keeps exactly the declared pods). No process runs in
it: the kernel answers pings to the health IP; Cilium's HTTP responder on port 4240 is
not reproduced. The namespace goes with the node (its mount namespace).
"""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, operation

from ...facts._combine import joined, parse, split
from ...facts.ip import Addresses, Links, Routes
from ...facts.sysctl import Sysctls
from ...model.lab import Route
from ...operations.ip import Link, address_changes, ip_batch, link_changes, route_changes
from ...operations.sysctl import sysctl_changes


def _inside(path: str, command: str) -> str:
    return f"nsenter --net={shlex.quote(path)} {command}"


class HealthNetwork(FactBase):
    """
    The node's links and the given sysctls, whether ``path`` holds a network namespace, and
    the links, addresses and routes inside it, in one round trip:

    .. code:: python

        {"node": {"links": Links, "sysctls": Sysctls}, "netns": True,
         "inside": {"links": Links, "addresses": Addresses, "routes": Routes}}
    """

    @staticmethod
    def default():
        return {"node": {"links": {}, "sysctls": {}}, "netns": False, "inside": {"links": {}, "addresses": {}, "routes": []}}

    def command(self, path, sysctls=()):
        return joined(
            [
                Links().command(),
                Sysctls().command(keys=list(sysctls)),
                f"{_inside(path, 'true')} 2>/dev/null && echo netns; true",
                _inside(path, Links().command()),
                _inside(path, Addresses().command()),
                _inside(path, Routes().command()),
            ]
        )

    def process(self, output):
        parts = split(output) + [[]] * 6
        return {
            "node": {"links": parse(Links(), parts[0]), "sysctls": parse(Sysctls(), parts[1])},
            "netns": "netns" in [line.strip() for line in parts[2]],
            "inside": {
                "links": parse(Links(), parts[3]),
                "addresses": parse(Addresses(), parts[4]),
                "routes": parse(Routes(), parts[5]),
            },
        }


@operation()
def endpoint(path: str, link: Link, address: str, routes: list[Route], sysctls: dict[str, str]):
    """
    The node holds the health namespace at ``path``, wired by ``link`` (lxc_health, its peer
    in the namespace), the peer up with ``address`` and ``routes``, `lo` up, and the host
    side's sysctls. A namespace made anew here starts empty, and so does a re-made veth.
    """
    have = host.get_fact(HealthNetwork, path=path, sysctls=sorted(sysctls))
    node_links = dict(have["node"]["links"])
    script: list[str] = []
    lines: list[str] = []
    fresh = not have["netns"]
    if fresh:
        q = shlex.quote(path)
        script.append(f"mkdir -p {shlex.quote(posixpath.dirname(path))} && touch {q} && unshare --net={q} true")
        if link.name in node_links:
            # Left from a namespace that is gone: made again with the new one.
            lines.append(f"link del {link.name}")
            del node_links[link.name]
    more, created = link_changes(node_links, [link])
    lines += more
    if lines:
        script.append(ip_batch(lines).get_raw_value())
    changes = sysctl_changes(have["node"]["sysctls"], sysctls, created)
    if changes:
        script.append("sysctl -qw " + " ".join(changes))

    peer = Link(link.peer, "veth", link.peer_mac, mtu=link.mtu, create=False)
    if fresh or link.name in created:
        inside = {"links": {peer.name: {"mac": peer.mac, "mtu": peer.mtu, "noarp": False, "up": False}}, "addresses": {}, "routes": []}
    else:
        inside = have["inside"]
    in_lines = [] if inside["links"].get("lo", {}).get("up") else ["link set lo up"]
    in_lines += link_changes(inside["links"], [peer])[0]
    in_lines += address_changes(inside["addresses"], peer.name, [(address, "global")])
    in_lines += route_changes(inside["routes"], routes, (peer.name,))
    if in_lines:
        script.append(_inside(path, ip_batch(in_lines).get_raw_value()))

    if script:
        yield StringCommand("\n".join(["set -e", *script]))
    else:
        host.noop("the health endpoint is wired")
