"""The Cilium suites' own readers of a node: small parsers of `ip -j`, `tc -j` and
`bpftool -j` output, written here and not taken from the deploy's pyinfra facts
(cnilab/facts), so that a parser bug cannot be shared by `up` and `verify`.

Each reader takes a testinfra host (a lab node) and passes its arguments the testinfra
way (`host.run("ip -n %s ...", pod)`); a command that fails fails the check, naming it.
Where testinfra has a module (`host.file`, `host.iptables`, `host.interface`), the suites
use it directly. Map entries come back raw, `{key_bytes: value_bytes}`, for the codecs of
cnilab/cni/cilium/maps.py (the BPF side is what those checks test).
"""

from __future__ import annotations

import json

from cnilab.cni.cilium.maps import PIN_DIR


def _run_json(host, command: str, *args):
    out = host.run(command, *args)
    assert out.rc == 0, f"`{out.command}` failed (rc {out.rc}): {out.stderr.strip()}"
    text = out.stdout.strip()
    return json.loads(text) if text else []


def _ip(host, args: str, netns: str | None = None, path: str | None = None):
    """`ip <args>` on the node, in a pod's namespace (`netns`) or in the namespace bound at `path`."""
    if netns is not None:
        return _run_json(host, f"ip -n %s {args}", netns)
    if path is not None:
        return _run_json(host, f"nsenter --net=%s ip {args}", path)
    return _run_json(host, f"ip {args}")


def links(host, netns: str | None = None, path: str | None = None) -> dict[str, dict]:
    """The links by name, from `ip -j -d link show`:
    ``{"cilium_vxlan": {"ifindex": 4, "kind": "vxlan", "mac": ..., "mtu": 1500, "up": True,
    "noarp": False, "peer": None, "vxlan": {"external": True, "port": 8472}}}``."""
    found = {}
    for link in _ip(host, "-j -d link show", netns, path):
        info = link.get("linkinfo") or {}
        data = info.get("info_data") or {}
        flags = link.get("flags") or []
        kind = info.get("info_kind")
        found[link["ifname"]] = {
            "ifindex": link["ifindex"],
            "kind": kind,
            "mac": link.get("address"),
            "mtu": link.get("mtu"),
            "up": "UP" in flags,
            "noarp": "NOARP" in flags,
            "peer": link.get("link"),
            "vxlan": {"external": bool(data.get("external")), "port": data.get("port")} if kind == "vxlan" else None,
        }
    return found


def addresses(host, netns: str | None = None, path: str | None = None) -> dict[str, list[dict]]:
    """IPv4 addresses by link, from `ip -j -4 addr show`:
    ``{"cilium_host": [{"local": "10.0.2.194", "prefixlen": 32, "scope": "link"}]}``."""
    return {
        link["ifname"]: [
            {"local": a["local"], "prefixlen": a["prefixlen"], "scope": a.get("scope", "global")}
            for a in link.get("addr_info", [])
        ]
        for link in _ip(host, "-j -4 addr show", netns, path)
    }


def routes(host, netns: str | None = None, path: str | None = None) -> list[dict]:
    """IPv4 routes of the main table, from `ip -j -4 route show table main`, as the parts of
    an `ip route` line: ``{"dst", "via", "dev", "src", "scope", "mtu", "proto"}`` (scope None
    for global, mtu None when the route sets none)."""
    found = []
    for r in _ip(host, "-j -4 route show table main", netns, path):
        mtu = next((m["mtu"] for m in r.get("metrics", []) if isinstance(m, dict) and "mtu" in m), None)
        scope = r.get("scope")
        found.append(
            {
                "dst": r["dst"],
                "via": r.get("gateway"),
                "dev": r.get("dev"),
                "src": r.get("prefsrc"),
                "scope": None if scope in (None, "global", "universe") else scope,
                "mtu": mtu,
                "proto": r.get("protocol"),
            }
        )
    return found


def bpf_filters(host) -> dict[tuple[str, str], list[dict]]:
    """The BPF filters on both clsact hooks of every link, from one `tc -j -batch`:
    ``{("cilium_vxlan", "egress"): [{"pref": 1, "name": "bpf_overlay.o:[to-overlay]",
    "jited": True, "direct_action": True}]}``; a hook without one maps to []."""
    devs = sorted(links(host))
    hooks = [(d, direction) for d in devs for direction in ("ingress", "egress")]
    batch = [f"filter show dev {d} {direction}" for d, direction in hooks]
    out = host.run("printf '%%s\\n' " + " ".join(["%s"] * len(batch)) + " | tc -j -force -batch -", *batch)
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == len(hooks), (
        f"`tc -j -batch` printed {len(lines)} filter lists for {len(hooks)} hooks ({', '.join(devs)}): {out.stderr.strip()}"
    )
    found = {}
    for hook, line in zip(hooks, lines):
        filters = []
        for f in json.loads(line):
            opts = f.get("options")
            if f.get("kind") != "bpf" or not opts:
                continue
            prog = opts.get("prog") or {}
            filters.append(
                {
                    "pref": f.get("pref"),
                    "name": opts.get("bpf_name"),
                    "prog": prog.get("name"),
                    "jited": bool(prog.get("jited")),
                    "direct_action": bool(opts.get("direct-action")),
                }
            )
        found[hook] = filters
    return found


def pinned_maps(host) -> set[str]:
    """The names of the maps pinned where tc pins Cilium's maps (empty when none is)."""
    pins = host.file(PIN_DIR)
    return set(pins.listdir()) if pins.is_directory else set()


def _bytes(hex_list: list[str]) -> bytes:
    return bytes(int(b, 16) for b in hex_list)


def map_entries(host, name: str) -> dict | None:
    """The raw entries of a pinned map, from `bpftool -j map dump pinned`: ``{key: value}``
    as bytes (a per-CPU map: a tuple of per-CPU values, by CPU); None when not pinned."""
    path = f"{PIN_DIR}/{name}"
    if not host.file(path).exists:
        return None
    entries = {}
    for e in _run_json(host, "bpftool -j map dump pinned %s", path):
        key = _bytes(e["key"])
        if "values" in e:
            entries[key] = tuple(_bytes(v["value"]) for v in sorted(e["values"], key=lambda v: v["cpu"]))
        else:
            entries[key] = _bytes(e["value"])
    return entries
