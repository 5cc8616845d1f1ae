"""Links, addresses and routes, from `ip -j`."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

from ._combine import joined, parse, split
from ._ns import ip
from .sysctl import Sysctls


def _json(output: list[str]) -> list[dict]:
    text = "\n".join(output).strip()
    return json.loads(text) if text else []


class Links(FactBase):
    """
    The links of a node (or of a pod's namespace, with ``netns``), by name:

    .. code:: python

        {"cilium_vxlan": {"ifindex": 4, "kind": "vxlan", "mac": "a6:cc:fc:d1:d9:4f", "mtu": 1500,
                          "up": True, "noarp": False, "peer": None, "master": None,
                          "vxlan": {"external": True, "port": 8472}}}
    """

    @staticmethod
    def default():
        return {}

    def command(self, netns=None):
        return f"{ip(netns)} -j -d link show 2>/dev/null || true"

    def process(self, output):
        links = {}
        for link in _json(output):
            info = link.get("linkinfo", {})
            data = info.get("info_data", {})
            links[link["ifname"]] = {
                "ifindex": link["ifindex"],
                "kind": info.get("info_kind"),
                "mac": link.get("address"),
                "mtu": link.get("mtu"),
                "up": "UP" in link.get("flags", []),
                "noarp": "NOARP" in link.get("flags", []),
                "peer": link.get("link"),
                "master": link.get("master"),
                "vxlan": {
                    "external": bool(data.get("external")),
                    "port": data.get("port"),
                    "id": data.get("id"),
                    "local": data.get("local"),
                    "learning": bool(data.get("learning")),
                }
                if info.get("info_kind") == "vxlan"
                else None,
            }
        return links


class Addresses(FactBase):
    """
    IPv4 addresses by link: ``{"cilium_host": [{"local": "10.0.2.194", "prefixlen": 32, "scope": "link"}]}``
    """

    @staticmethod
    def default():
        return {}

    def command(self, netns=None):
        return f"{ip(netns)} -j -4 addr show 2>/dev/null || true"

    def process(self, output):
        return {
            link["ifname"]: [
                {"local": a["local"], "prefixlen": a["prefixlen"], "scope": a.get("scope", "global")}
                for a in link.get("addr_info", [])
            ]
            for link in _json(output)
        }


class Routes(FactBase):
    """
    IPv4 routes of the main table, as `ip route` lines' parts:

    .. code:: python

        [{"dst": "10.0.1.0/24", "via": "10.0.2.194", "dev": "cilium_host", "src": "10.0.2.194",
          "scope": None, "mtu": 1450, "proto": None}]
    """

    @staticmethod
    def default():
        return []

    def command(self, netns=None):
        return f"{ip(netns)} -j -4 route show table main 2>/dev/null || true"

    def process(self, output):
        return [parse_route(r) for r in _json(output)]


def parse_route(r: dict) -> dict:
    mtu = None
    for m in r.get("metrics", []):
        if isinstance(m, dict) and "mtu" in m:
            mtu = m["mtu"]
    scope = r.get("scope")
    return {
        "dst": r["dst"],
        "via": r.get("gateway"),
        "dev": r.get("dev"),
        "src": r.get("prefsrc"),
        "scope": None if scope in (None, "global", "universe") else scope,
        "mtu": mtu,
        "proto": r.get("protocol"),
        "onlink": "onlink" in r.get("flags", []),
        "type": None if r.get("type") in (None, "unicast") else r["type"],
    }


class Network(FactBase):
    """
    Links, addresses, routes and the given sysctls of a node (or of a pod's namespace, with
    ``netns``), in one round trip: ``{"links": Links, "addresses": Addresses, "routes": Routes,
    "sysctls": Sysctls}``, each as that fact gives it.
    """

    @staticmethod
    def default():
        return {"links": {}, "addresses": {}, "routes": [], "sysctls": {}}

    def command(self, netns=None, sysctls=()):
        parts = [Links().command(netns), Addresses().command(netns), Routes().command(netns)]
        return joined(parts + [Sysctls().command(keys=list(sysctls))] if sysctls else parts)

    def process(self, output):
        parts = split(output) + [[]] * 4
        return {
            "links": parse(Links(), parts[0]),
            "addresses": parse(Addresses(), parts[1]),
            "routes": parse(Routes(), parts[2]),
            "sysctls": parse(Sysctls(), parts[3]),
        }


class VxlanPeers(FactBase):
    """
    The permanent neighbours and the FDB entries with a remote of a VXLAN device:
    ``{"neigh": {"192.168.196.128": "66:aa:99:2f:dc:24"}, "fdb": {"66:aa:99:2f:dc:24": "172.17.0.40"}}``.
    """

    @staticmethod
    def default():
        return {"neigh": {}, "fdb": {}}

    def command(self, dev):
        d = shlex.quote(dev)
        return joined([f"ip -j neigh show dev {d} nud permanent 2>/dev/null || true", f"bridge -j fdb show dev {d} 2>/dev/null || true"])

    def process(self, output):
        parts = split(output) + [[], []]
        neigh = {n["dst"]: n.get("lladdr") for n in _json(parts[0])}
        fdb = {f["mac"]: f["dst"] for f in _json(parts[1]) if f.get("dst")}
        return {"neigh": neigh, "fdb": fdb}
