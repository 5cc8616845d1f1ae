"""`cnilab graph`: the DOT builder on captured live data (tests/fixtures/graph/, made by its
capture.py from running labs; each file says where it came from), and one live lab per CNI
drawn by the command itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cnilab import drive, graph
from cnilab.cni.calico.calicoctl import parse_bird_protocols
from cnilab.model import REPO_ROOT, load_lab

FIXTURES = Path(__file__).parent / "fixtures" / "graph"
NO_DOT = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (scripts/setup installs it)")


def fixture(name: str):
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    assert doc["source"], "a fixture says where it came from"
    lab = load_lab(FIXTURES / doc["declaration"])
    return lab, doc["captured"], graph.parse_lab(lab, doc["captured"], doc["backend"])


def captured_programs(captured: dict) -> dict[tuple[str, str, str], list[str]]:
    """(node, device, hook) -> program names, read from the raw `tc -j filter show` outputs
    with nothing of cnilab.graph."""
    out = {}
    for node, raw in captured["nodes"].items():
        for cmd, text in raw.items():
            m = re.fullmatch(r"tc -j filter show dev (\S+) (ingress|egress)", cmd)
            names = [f["options"]["bpf_name"] for f in json.loads(text or "[]") if "bpf_name" in f.get("options", {})] if m else []
            if names:
                out[(node, m[1], m[2])] = names
    return out


def dot_names(dot: str) -> set[str]:
    """Every quoted node id of the DOT text."""
    return set(re.findall(r'"([^"]+)" \[', dot))


def edges(dot: str, label_part: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b, label in re.findall(r'"([^"]+)" -> "([^"]+)" \[label="([^"]*)"', dot) if label_part in label]


# ---------------------------------------------------------------- the builder, on captures


@pytest.mark.parametrize("name", ["cilium_vxlan", "calico_bgp", "calico_ipip", "calico_vxlan", "calico_rr"])
def test_the_dot_names_every_node_device_program_and_pod(name):
    lab, captured, pic = fixture(name)
    dot = graph.build_dot(pic)
    ids = dot_names(dot)
    for n in lab.nodes:
        assert n.name in dot
        raw = captured["nodes"][n.name]
        for link in json.loads(raw["ip -j -d link show"]):
            if link["ifname"] != "lo":
                assert f"{n.name}::{link['ifname']}" in ids, (n.name, link["ifname"])
        for p in lab.pods_on(n.name):
            assert f"{n.name}::pod::{p.name}" in ids and f"eth0 {p.ip}" in dot
            # the pod hangs off its own host veth, found by ifindex in the live state
            assert (f"{n.name}::{p.veth}", f"{n.name}::pod::{p.name}") in edges(dot, "veth")
    programs = captured_programs(captured)
    # calico_bgp and calico_vxlan run no program of ours (no IP-in-IP stand-in there)
    assert bool(programs) == (name in ("cilium_vxlan", "calico_ipip", "calico_rr")), programs
    assert ("tc ingress" in dot or "tc egress" in dot) == bool(programs)
    for (node, dev, hook), names in programs.items():
        dev_line = next(line for line in dot.splitlines() if line.strip().startswith(f'"{node}::{dev}" [shape=plaintext'))
        for prog in names:
            assert f"tc {hook}: </FONT><FONT FACE=\"monospace\" COLOR=\"#990000\">{prog}<" in dev_line, (node, dev, hook, prog)
    # the underlay bridge joins every node's eth0, and the world host
    assert all(f'"underlay::br0" -> "{n.name}::eth0"' in dot for n in lab.nodes) and '"underlay::br0" -> "world"' in dot


def test_cilium_vxlan_tunnels_join_every_pair_of_nodes():
    lab, captured, pic = fixture("cilium_vxlan")
    dot = graph.build_dot(pic)
    pairs = {frozenset((a.split("::")[0], b.split("::")[0])) for a, b in edges(dot, "VXLAN 8472")}
    names = [n.name for n in lab.nodes]
    assert pairs == {frozenset((a, b)) for a in names for b in names if a < b}
    assert all(a.endswith("::cilium_vxlan") and b.endswith("::cilium_vxlan") for a, b in edges(dot, "VXLAN 8472"))
    for prog in ("bpf_host.o:[from-netdev]", "bpf_host.o:[to-netdev]", "bpf_host.o:[to-host]", "bpf_overlay.o:[from-overlay]", "bpf_lxc.o:[from-container]"):
        assert prog in dot
    assert "BGP" not in dot  # no BIRD in a Cilium lab


@pytest.mark.parametrize(
    "name,label,device",
    [("calico_ipip", "IP-in-IP", "tunl0"), ("calico_vxlan", "VXLAN 4789", "vxlan.calico"), ("calico_rr", "IP-in-IP", "tunl0")],
)
def test_calico_tunnels_follow_the_routes(name, label, device):
    lab, _, pic = fixture(name)
    dot = graph.build_dot(pic)
    pairs = {frozenset((a.split("::")[0], b.split("::")[0])) for a, b in edges(dot, label)}
    names = [n.name for n in lab.nodes]
    assert pairs == {frozenset((a, b)) for a in names for b in names if a < b}, "every node routes every other's block through the tunnel"
    assert all(a.endswith(f"::{device}") for a, _ in edges(dot, label))


def bird_sessions(captured: dict) -> set[frozenset]:
    """Established sessions as pairs of node addresses, from the raw `birdc show protocols`."""
    addr = {}
    for node, raw in captured["nodes"].items():
        for a in json.loads(raw["ip -j -4 addr show"]):
            if a["ifname"] == "eth0":
                addr[node] = a["addr_info"][0]["local"]
    out = set()
    for node, raw in captured["nodes"].items():
        text = raw.get(f"birdc -s {graph.BIRD_SOCKET} show protocols")
        for row in parse_bird_protocols(text) if text else ():
            if row.proto == "BGP" and row.info.startswith("Established"):
                out.add(frozenset((addr[node], row.name.split("_", 1)[1].replace("_", "."))))
    return out


@pytest.mark.parametrize("name", ["calico_bgp", "calico_ipip", "calico_rr"])
def test_an_edge_per_established_bgp_session(name):
    lab, captured, pic = fixture(name)
    dot = graph.build_dot(pic)
    addr = {str(n.ip): n.name for n in lab.nodes}
    want = {frozenset(addr[ip] for ip in pair) for pair in bird_sessions(captured)}
    got = [frozenset((a.split("::")[0], b.split("::")[0])) for a, b in edges(dot, "Established")]
    assert want and sorted(map(sorted, got)) == sorted(map(sorted, want))
    kind = "node specific" if name == "calico_rr" else "node-to-node mesh"
    assert all(f"BGP {kind}" in line for line in dot.splitlines() if "::bird\" -> " in line)
    if name == "calico_rr":
        assert len(want) == 5  # two reflectors with each other and each of their clients, not a mesh
    if name == "calico_bgp":
        assert not edges(dot, "IP-in-IP") and not edges(dot, "VXLAN")  # the pods' own addresses on the wire


def test_a_session_not_established_is_drawn_as_such():
    lab, captured, _ = fixture("calico_bgp")
    captured = json.loads(json.dumps(captured))
    key = f"birdc -s {graph.BIRD_SOCKET} show protocols"
    for raw in captured["nodes"].values():
        raw[key] = raw[key].replace("Established", "Active        Socket: Connection refused")
    dot = graph.build_dot(graph.parse_lab(lab, captured))
    assert not edges(dot, "Established") and len(edges(dot, "Connection refused")) == 1


def test_a_declared_node_or_pod_that_is_not_running_is_drawn_dashed():
    lab, captured, _ = fixture("calico_ipip")
    captured = json.loads(json.dumps(captured))
    gone = lab.nodes[1].name
    captured["nodes"][gone] = None
    pod = lab.pods_on(lab.nodes[0].name)[0].name
    raw = captured["nodes"][lab.nodes[0].name]
    raw["ip netns list"] = "\n".join(line for line in raw["ip netns list"].splitlines() if not line.startswith(pod))
    dot = graph.build_dot(graph.parse_lab(lab, captured))
    assert f"{gone}\\npod CIDR" in dot and "(not running)" in dot
    assert "(declared, not running)" in dot and pod in dot
    assert not edges(dot, "IP-in-IP")  # no tunnel to a node that is not there


def test_sections_of_a_capture():
    text = "\n### ip -j link\n[1]\n\n### tc -j filter show dev eth0 ingress\n\n### ip netns list\na (id: 1)\nb\n"
    assert graph.split_sections(text) == {"ip -j link": "[1]\n", "tc -j filter show dev eth0 ingress": "", "ip netns list": "a (id: 1)\nb\n"}


@NO_DOT
def test_the_dot_text_renders(tmp_path):
    _, _, pic = fixture("calico_rr")
    svg = graph.render(graph.build_dot(pic), "svg")
    root = ET.fromstring(svg)
    texts = list(root.itertext())  # dot writes "-" as &#45;: compare the parsed text
    assert root.tag.endswith("svg") and "bpf_ipip.o:[ipip-encap]" in texts and "BIRD (BGP)" in texts


def test_without_dot_one_line_and_exit_2(monkeypatch, capsys):
    from cnilab import cli

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else "/bin/" + name)
    assert cli.main(["graph", "cilium_vxlan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apt-get install graphviz" in err[0]


# ---------------------------------------------------------------- live, one lab per CNI


def cnilab(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("cnilab")  # the console script of this virtualenv
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def draw_live(tmp_path, seed: str, cluster: str, underlay: str, programs: list[str], labels: list[str]):
    inv = drive.private_lab(tmp_path, seed, cluster, underlay, "netns")
    decl = inv.with_suffix(".yaml")
    try:
        up = drive.pyinfra(inv, "up.py")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        out = tmp_path / "x.svg"
        p = cnilab("graph", str(decl), "-o", str(out))
        assert p.returncode == 0 and p.stdout.strip() == str(out), p.stderr
        root = ET.parse(out).getroot()
        assert root.tag.endswith("svg")
        text = " ".join(t for t in root.itertext())
        lab = load_lab(decl)
        for n in lab.nodes:
            assert n.name in text
        for p_ in lab.pods:
            assert p_.name in text and str(p_.ip) in text
        for prog in programs:
            assert prog in text, prog
        for p_ in lab.pods:
            assert p_.veth in text, p_.veth
        for label in labels:
            assert label in text, label
        png = cnilab("graph", str(decl), "-o", str(tmp_path / "x.png"))
        assert png.returncode == 0 and (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        down = drive.pyinfra(inv, "down.py")
    assert down.returncode == 0, down.stdout[-3000:]
    assert drive.leftovers(cluster) == {}


@NO_DOT
def test_live_cilium_vxlan(tmp_path):
    draw_live(
        tmp_path, "cilium_vxlan_small", "cnilab-t-graph", "172.28.6.0/24",
        ["cilium-eth0 (cil_from_netdev)", "cilium-cilium_host (cil_to_host)", "bpf_overlay.o:[to-overlay]", "(cil_from_contai)"],
        ["VXLAN 8472", "cilium_host", "cilium_net", "cilium_vxlan"],
    )  # fmt: skip


@NO_DOT
def test_live_calico_bgp(tmp_path):
    draw_live(
        tmp_path, "calico_bgp", "cnilab-t-graphc", "172.28.7.0/24",
        [], ["BGP node-to-node mesh", "Established", "BIRD (BGP)"],  # IP-in-IP Never: no program of ours on any hook
    )  # fmt: skip
