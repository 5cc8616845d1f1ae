"""`cnilab graph`: a picture of a running lab, drawn by Graphviz's `dot`.

Three steps, the first the only one that touches the machine:

- ``capture``: one shell command per node prints what the picture needs, each command's
  output under a ``### <command>`` line (``ip -j -d link show``, ``ip -j -4 addr show``,
  ``ip -j -4 route show``, ``tc -j filter show dev X ingress|egress`` for every device,
  each pod's ``ip -n POD -j -4 addr show dev eth0``, BIRD's ``birdc show protocols``,
  the plugin's tunnel map); the underlay's bridges are read from the lab's
  ``<cluster>-underlay`` namespace. The result is plain text, kept as test fixtures.
- ``parse_lab``: from that text to a ``LabPicture`` (devices, programs on tc hooks, pods,
  tunnels, BGP sessions). Pure.
- ``build_dot``: DOT text from a ``LabPicture``. Pure.

Everything drawn is what the nodes report, not what the declaration says; the declaration
only names the nodes to read and titles the picture (a declared node or pod the machine does
not have is drawn dashed, "not running").
"""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

MARK = "### "
BIRD_SOCKET = "/run/cnilab/bird/bird.ctl"
PIN_DIR = "/sys/fs/bpf/tc/globals"
HOOKS = ("ingress", "egress")


class GraphvizMissing(RuntimeError):
    pass


# ---------------------------------------------------------------- reading (the only I/O)


def node_script(tunnel_maps: tuple[str, ...] | list[str] = ()) -> str:
    """The one shell command that reads a node: every command's output under its `### ` line."""
    lines = [
        'm() { printf "\\n%s%s\\n" "' + MARK + '" "$*"; "$@" 2>/dev/null; }',
        "m ip -j -d link show",
        "m ip -j -4 addr show",
        "m ip -j -4 route show",
        "for d in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do",
        '  m tc -j filter show dev "$d" ingress; m tc -j filter show dev "$d" egress',
        "done",
        "m ip netns list",
        "for p in $(ip netns list | cut -d' ' -f1); do m ip -n \"$p\" -j -4 addr show dev eth0; done",
        f"if [ -S {BIRD_SOCKET} ]; then m birdc -s {BIRD_SOCKET} show protocols; fi",
    ]
    for name in tunnel_maps:
        pin = shlex.quote(f"{PIN_DIR}/{name}")
        lines.append(f"if [ -e {pin} ]; then m bpftool -j map dump pinned {pin}; fi")
    return "\n".join(lines) + "\ntrue\n"


def split_sections(text: str) -> dict[str, str]:
    """`### <command>` sections of a capture: {command: its output}."""
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith(MARK):
            current = line[len(MARK) :].rstrip("\n")
            out[current] = ""
        elif current is not None:
            out[current] += line
    return {k: v.strip("\n") + ("\n" if v.strip() else "") for k, v in out.items()}


def _tunnel_maps(lab) -> list[str]:
    lists = lab.plugin.map_lists()
    return list(lists["tunnel"][0]) if "tunnel" in lists else []


def capture(lab, backend) -> dict:
    """Read the running lab: {"nodes": {node: {command: output} or None}, "underlay": {...}}."""
    from .backends import underlay

    script = node_script(_tunnel_maps(lab))
    running = set(backend.lab_nodes(lab.name))

    def read(node: str):
        if node not in running or not backend.node_exists(lab.name, node):
            return node, None
        p = backend.run_in(lab.name, node, script, check=False, timeout=60)
        return node, split_sections(p.stdout.decode(errors="replace")) if p.returncode == 0 else None

    with ThreadPoolExecutor(max_workers=8) as pool:
        nodes = dict(pool.map(read, [n.name for n in lab.nodes]))
    ul_cmd = f"ip -n {underlay.name(lab.name)} -j link show"
    p = subprocess.run(shlex.split(ul_cmd), capture_output=True, text=True)
    return {"nodes": nodes, "underlay": {ul_cmd: p.stdout if p.returncode == 0 else ""}}


# ---------------------------------------------------------------- what the picture holds


@dataclass
class Device:
    name: str
    ifindex: int
    kind: str  # linkinfo's kind (veth, vxlan, ifb, ...) or the link type
    addresses: list[str] = field(default_factory=list)
    hooks: dict[str, list[str]] = field(default_factory=dict)  # "ingress" -> ["bpf_host.o:[from-netdev]"]
    peer: str | None = None  # the other end of a veth pair in the same namespace
    port: int | None = None  # a VXLAN device's UDP port
    up: bool = True


@dataclass
class PodView:
    name: str
    ip: str | None
    host_ifindex: int | None  # the ifindex of its host-side veth, in the node
    running: bool = True


@dataclass
class Session:
    peer_ip: str
    name: str  # BIRD's protocol name, Mesh_172_17_0_40
    kind: str  # node-to-node mesh, node specific, global
    state: str
    info: str

    @property
    def established(self) -> bool:
        return self.info.startswith("Established")


@dataclass
class NodeView:
    name: str
    running: bool
    devices: list[Device] = field(default_factory=list)
    pods: list[PodView] = field(default_factory=list)
    routes: list[dict] = field(default_factory=list)
    tunnel_endpoints: list[str] = field(default_factory=list)  # the tunnel map's remote nodes
    bird: bool = False  # BIRD answered
    sessions: list[Session] = field(default_factory=list)
    note: str = ""  # under the node's name: pod CIDR, ...

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    def by_ifindex(self, ifindex: int | None) -> Device | None:
        return next((d for d in self.devices if d.ifindex == ifindex), None)


@dataclass
class Edge:
    a: tuple[str, str]  # (node, device)
    b: tuple[str, str]
    label: str
    ok: bool = True


@dataclass
class LabPicture:
    title: str
    nodes: list[NodeView]
    bridges: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # br0 -> [(node or "world", device)]
    world: str = ""  # the world host's label, when it is on a bridge


# ---------------------------------------------------------------- parsing (pure)


def _json(text: str | None) -> list:
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    return data if isinstance(data, list) else []


def tc_programs(text: str | None) -> list[str]:
    """`tc -j filter show dev X ingress|egress`: the names of the BPF filters attached. A
    name that does not say the program (Cilium's loader names filters `cilium-<ifname>`)
    gets the program's own name after it: `cilium-eth0 (cil_from_netdev)`."""
    out = []
    for f in _json(text):
        opts = f.get("options", {})
        if f.get("kind") != "bpf" or "bpf_name" not in opts:
            continue
        name, prog = opts["bpf_name"], (opts.get("prog") or {}).get("name")
        out.append(name if ":[" in name or not prog else f"{name} ({prog})")
    return out


def bird_parser(plugin: str):
    """The `show protocols` parser of the plugin the lab names (Calico's is calicoctl's)."""
    from .cni import get_plugin

    return get_plugin(plugin).bgp_protocols_parser()


_PEER = re.compile(r"^(Mesh|Node|Global)_(\d+)_(\d+)_(\d+)_(\d+)(?:_port_\d+)?$")
_PEER_KINDS = {"Mesh": "node-to-node mesh", "Node": "node specific", "Global": "global"}


def bgp_sessions(text: str, parse) -> list[Session]:
    """The BGP rows of `birdc show protocols` whose names are Calico's peer names."""
    out = []
    for row in parse(text):
        m = _PEER.match(row.name)
        if row.proto != "BGP" or not m:
            continue
        out.append(Session(".".join(m.groups()[1:]), row.name, _PEER_KINDS[m[1]], row.state, row.info))
    return out


def tunnel_list_endpoints(text: str) -> list[str]:
    """The remote node addresses of a `cilium bpf tunnel list` (TUNNEL  VALUE / 10.0.1.0:0  172.18.0.3:0)."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            out.append(parts[1].rsplit(":", 1)[0])
    return out


def parse_node(name: str, raw: dict[str, str] | None, plugin: str = "", tunnel_format=None, note: str = "") -> NodeView:
    """A node's view from its capture (``raw`` None: not running)."""
    if raw is None:
        return NodeView(name, running=False, note=note)
    view = NodeView(name, running=True, note=note)
    addrs = {a["ifname"]: [f"{i['local']}/{i['prefixlen']}" for i in a.get("addr_info", [])] for a in _json(raw.get("ip -j -4 addr show"))}
    links = _json(raw.get("ip -j -d link show"))
    names = {link["ifindex"]: link["ifname"] for link in links}
    for link in links:
        dev = link["ifname"]
        if dev == "lo":
            continue
        info = link.get("linkinfo", {})
        kind = info.get("info_kind") or link.get("link_type", "")
        d = Device(dev, link["ifindex"], kind, addrs.get(dev, []), up="UP" in link.get("flags", []))
        if kind == "veth" and "link_netnsid" not in link and link.get("link") in names.values():
            d.peer = link["link"]
        if kind == "vxlan":
            d.port = info.get("info_data", {}).get("port")
        for hook in HOOKS:
            progs = tc_programs(raw.get(f"tc -j filter show dev {dev} {hook}"))
            if progs:
                d.hooks[hook] = progs
        view.devices.append(d)
    for pod in (raw.get("ip netns list") or "").split("\n"):
        pod = pod.split(" ")[0]
        if not pod:
            continue
        eth0 = _json(raw.get(f"ip -n {pod} -j -4 addr show dev eth0"))
        ip = host = None
        if eth0:
            ip = next((i["local"] for i in eth0[0].get("addr_info", [])), None)
            host = eth0[0].get("link_index")
        view.pods.append(PodView(pod, ip, host))
    view.routes = _json(raw.get("ip -j -4 route show"))
    bird = raw.get(f"birdc -s {BIRD_SOCKET} show protocols")
    if bird and bird.strip():
        view.bird = True
        view.sessions = bgp_sessions(bird, bird_parser(plugin))
    if tunnel_format:
        dumps = [raw[k] for k in raw if k.startswith("bpftool -j map dump pinned ")]
        if dumps:
            view.tunnel_endpoints = tunnel_list_endpoints(tunnel_format(dumps))
    return view


def underlay_bridges(text: str, lab) -> tuple[dict[str, list[tuple[str, str]]], bool]:
    """The underlay namespace's bridges and what each port leads to: n<i> is node i's eth0,
    p<i> its eth1, `world` the world host (cnilab/backends/underlay.py names them so)."""
    by_index = {n.index: n.name for n in lab.nodes}
    bridges: dict[str, list[tuple[str, str]]] = {}
    world = False
    links = _json(text)
    for link in links:
        if link.get("linkinfo", {}).get("info_kind") == "bridge" or (link["ifname"].startswith("br") and "master" not in link):
            bridges.setdefault(link["ifname"], [])
    for link in links:
        master, port = link.get("master"), link["ifname"]
        if not master:
            continue
        m = re.match(r"^([np])(\d+)$", port)
        if port == "world":
            bridges.setdefault(master, []).append(("world", "eth0"))
            world = True
        elif m and int(m[2]) in by_index:
            bridges.setdefault(master, []).append((by_index[int(m[2])], "eth0" if m[1] == "n" else "eth1"))
    return bridges, world


def lab_title(lab, backend: str = "") -> str:
    plugin = lab.decl.cni.plugin
    if plugin == "cilium":
        mode = "VXLAN tunnel" if lab.cni.mode.tunnelled else "native routing"
    elif plugin == "calico":
        m = lab.cni.mode
        mode = {"IPIP": "IP-in-IP", "VXLAN": "VXLAN", "none": "no encapsulation"}.get(m.encapsulation, m.encapsulation)
        mode += ", BIRD (BGP)" if m.bird else ", no BGP"
    else:
        mode = ""
    on = f" on {backend}" if backend else ""
    return f"{lab.decl_name}: cluster {lab.name}, {plugin} ({mode}){on}"


def parse_lab(lab, captured: dict, backend: str = "") -> LabPicture:
    """The picture of a lab from its capture (``capture``'s result, or a fixture of one)."""
    plugin = lab.decl.cni.plugin
    lists = lab.plugin.map_lists()
    fmt = lists["tunnel"][1] if "tunnel" in lists else None
    nodes = []
    for n in lab.nodes:
        view = parse_node(n.name, captured["nodes"].get(n.name), plugin, fmt, note=f"pod CIDR {n.pod_cidr}")
        if view.running:
            seen = {p.name for p in view.pods}
            view.pods += [PodView(p.name, str(p.ip), None, running=False) for p in lab.pods_on(n.name) if p.name not in seen]
        nodes.append(view)
    ul = next(iter(captured.get("underlay", {}).values()), "")
    bridges, world = underlay_bridges(ul, lab)
    w = lab.world
    return LabPicture(lab_title(lab, backend), nodes, bridges, f"world\n{w.ip}\n(eth0 {w.underlay_ip})" if world else "")


# ---------------------------------------------------------------- edges between nodes (pure)


def _owners(nodes: list[NodeView]) -> dict[str, tuple[str, str]]:
    """Address -> (node, device) over every running node's devices."""
    out = {}
    for n in nodes:
        for d in n.devices:
            for a in d.addresses:
                out[a.split("/")[0]] = (n.name, d.name)
    return out


def tunnels(nodes: list[NodeView]) -> list[Edge]:
    """Encapsulation between nodes, as each node's state says it: a tunnel map's remote node on
    a VXLAN device (Cilium), a route through tunl0 or a VXLAN device via another node (Calico)."""
    owners = _owners(nodes)
    found: dict[frozenset, Edge] = {}

    def add(node: NodeView, dev: Device, remote_ip: str):
        owner = owners.get(remote_ip)
        if not owner or owner[0] == node.name:
            return
        other = next(n for n in nodes if n.name == owner[0])
        remote_dev = other.device(dev.name)
        if remote_dev is None:
            return
        label = f"VXLAN {dev.port}" if dev.kind == "vxlan" else "IP-in-IP"
        key = frozenset({(node.name, dev.name), (other.name, remote_dev.name), label})
        found.setdefault(key, Edge((node.name, dev.name), (other.name, remote_dev.name), label))

    for n in nodes:
        vxlan = [d for d in n.devices if d.kind == "vxlan"]
        for ip in n.tunnel_endpoints:
            for d in vxlan:
                add(n, d, ip)
        for r in n.routes:
            d = n.device(r.get("dev", ""))
            if d is not None and r.get("gateway") and (d.kind == "vxlan" or d.name == "tunl0"):
                add(n, d, r["gateway"])
    return list(found.values())


def sessions(nodes: list[NodeView]) -> list[Edge]:
    """One edge per BGP session between two nodes (both ends report it), between their BIRDs."""
    owners = _owners(nodes)
    found: dict[frozenset, list[tuple[str, str, Session]]] = {}
    for n in nodes:
        for s in n.sessions:
            owner = owners.get(s.peer_ip)
            if owner:
                found.setdefault(frozenset({n.name, owner[0]}), []).append((n.name, owner[0], s))
    edges = []
    for ends in found.values():
        a, b, s = ends[0]
        ok = all(x.established for _, _, x in ends)
        states = "Established" if ok else ", ".join(sorted({f"{x.state} {x.info}".strip() for _, _, x in ends}))
        edges.append(Edge((a, "bird"), (b, "bird"), f"BGP {s.kind}\n{states}", ok))
    return edges


# ---------------------------------------------------------------- DOT (pure)


def _id(*parts: str) -> str:
    return '"' + "::".join(parts).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _colour(d: Device) -> str:
    if d.name.startswith(("eth", "ens")):
        return "#cfe2f3"
    if d.kind == "vxlan" or d.name == "tunl0":
        return "#f9cb9c"
    if d.name.startswith("cilium_"):
        return "#fff2cc"
    return "#d9ead3"  # pod veths


def _device_label(d: Device) -> str:
    e = html.escape
    kind = f" <FONT POINT-SIZE=\"9\">({e(d.kind)}{f' {d.port}' if d.port else ''}{'' if d.up else ', DOWN'})</FONT>"
    rows = [f'<TR><TD BGCOLOR="{_colour(d)}"><B>{e(d.name)}</B>{kind}</TD></TR>']
    rows += [f"<TR><TD>{e(a)}</TD></TR>" for a in d.addresses]
    for hook in HOOKS:
        for prog in d.hooks.get(hook, []):
            rows.append(f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">tc {hook}: </FONT><FONT FACE="monospace" COLOR="#990000">{e(prog)}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">' + "".join(rows) + "</TABLE>>"


def build_dot(pic: LabPicture) -> str:
    """DOT text for the picture: a cluster per node with its devices (and programs on their tc
    hooks), its pods, its BIRD; the underlay's bridges; tunnels and BGP sessions between nodes."""
    out = [
        "digraph lab {",
        f"  label={_q(pic.title)}; labelloc=t; fontsize=16; fontname=\"Helvetica\";",
        "  rankdir=LR; compound=true; newrank=true; nodesep=0.25; ranksep=0.6;",
        '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=9, dir=none];',
    ]
    for i, n in enumerate(pic.nodes):
        style = 'style="rounded"' if n.running else 'style="rounded,dashed", color="#cc0000"'
        label = n.name + (f"\n{n.note}" if n.note else "") + ("" if n.running else "\n(not running)")
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f'    label={_q(label)}; {style}; fontsize=12; bgcolor="#fafafa";')
        if not n.running:
            out.append(f'    {_id(n.name, "-")} [label="not running", shape=plaintext];')
            out.append("  }")
            continue
        for d in n.devices:
            out.append(f"    {_id(n.name, d.name)} [shape=plaintext, label={_device_label(d)}];")
        if n.bird:
            out.append(f'    {_id(n.name, "bird")} [label={_q("BIRD (BGP)")}, shape=box, style="rounded,filled", fillcolor="#ead1dc"];')
        for p in n.pods:
            label = f"pod {p.name}\neth0 {p.ip or '?'}" + ("" if p.running else "\n(declared, not running)")
            extra = "" if p.running else ', style="rounded,dashed", color="#cc0000"'
            out.append(f'    {_id(n.name, "pod", p.name)} [label={_q(label)}, shape=box, style="rounded"{extra}];')
        # Order inside the node, left to right: eth0, the node's own devices and pod veths, pods.
        top = n.device("eth0")
        for d in n.devices:
            if top and d is not top and not (d.peer and d.peer < d.name and n.device(d.peer)):
                out.append(f"    {_id(n.name, 'eth0')} -> {_id(n.name, d.name)} [style=invis];")
            if d.peer and d.name < d.peer and n.device(d.peer):
                out.append(f'    {_id(n.name, d.name)} -> {_id(n.name, d.peer)} [label="veth pair", style=dotted];')
        if top and n.bird:
            # BIRD talks over eth0: in its column, so sessions run apart from the tunnels.
            out.append(f"    {{rank=same; {_id(n.name, 'eth0')}; {_id(n.name, 'bird')}}}")
        for p in n.pods:
            veth = n.by_ifindex(p.host_ifindex)
            if veth:
                out.append(f'    {_id(n.name, veth.name)} -> {_id(n.name, "pod", p.name)} [label="veth"];')
            elif top:
                out.append(f"    {_id(n.name, 'eth0')} -> {_id(n.name, 'pod', p.name)} [style=invis];")
        out.append("  }")
    for br, ports in pic.bridges.items():
        out.append(f'  {_id("underlay", br)} [label={_q(f"underlay bridge {br}")}, shape=box, style=filled, fillcolor="#cfe2f3"];')
        for node, dev in ports:
            if node == "world":
                out.append(f'  {_id("world")} [label={_q(pic.world or "world")}, shape=box, style="rounded,filled", fillcolor="#eeeeee"];')
                out.append(f'  {_id("underlay", br)} -> {_id("world")};')
                continue
            view = next((n for n in pic.nodes if n.name == node), None)
            if view and view.running and view.device(dev):
                out.append(f"  {_id('underlay', br)} -> {_id(node, dev)};")
    for e in tunnels(pic.nodes):
        out.append(f'  {_id(*e.a)} -> {_id(*e.b)} [label={_q(e.label)}, color="#e69138", fontcolor="#b45f06", penwidth=2, constraint=false];')
    for e in sessions(pic.nodes):
        style = 'color="#a64d79", fontcolor="#741b47", penwidth=2' if e.ok else 'color="#cc0000", fontcolor="#cc0000", style=dashed'
        out.append(f"  {_id(*e.a)} -> {_id(*e.b)} [label={_q(e.label)}, {style}, constraint=false];")
    out.append("}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- rendering


def render(dot_text: str, fmt: str) -> bytes:
    """`dot -T<fmt>` of the text; GraphvizMissing when Debian's graphviz is not installed."""
    dot = shutil.which("dot")
    if not dot:
        raise GraphvizMissing("cnilab graph: `dot` not found: apt-get install graphviz")
    p = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {p.stderr.decode().strip()}")
    return p.stdout


def lab_dot(lab, backend) -> str:
    """Read the running lab and return its DOT text."""
    return build_dot(parse_lab(lab, capture(lab, backend), backend.name))

