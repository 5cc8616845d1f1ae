"""BIRD configs: v3.16 confd artifacts (golden text) and the BIRD 2 translation (real `bird -p`)."""

import os
import shutil
import subprocess
import time
from ipaddress import IPv4Address as A
from ipaddress import IPv4Network as N
from pathlib import Path

import pytest

from cnilab.cni.calico.bird import (
    Block,
    BirdInput,
    ClusterNode,
    Peer,
    Pool,
    bird_argv,
    mesh_passive,
    mesh_peers,
    render_bird2,
    render_v316,
    rr_peers,
    runs_bird,
)

FIX = Path(__file__).parent / "fixtures"
SEED_NODES = [ClusterNode("controlplane", A("172.17.0.32")), ClusterNode("node01", A("172.17.0.40"))]
POOL = N("192.168.0.0/16")
BLOCK = {"controlplane": N("192.168.49.64/26"), "node01": N("192.168.196.128/26")}


def seed_input(node="controlplane", ipip="Always", vxlan="Never", **kw) -> BirdInput:
    me = next(n for n in SEED_NODES if n.name == node)
    args = dict(
        node=node,
        ip=me.ip,
        pools=(Pool(POOL, ipip, vxlan),),
        blocks=(Block(BLOCK[node]),),
        peers=mesh_peers(node, SEED_NODES),
        subnet=N("172.17.0.0/16"),
    )
    args.update(kw)
    return BirdInput(**args)


# ---- RR topology: two reflectors (cluster 244.0.0.1) and two clients.
RR_NODES = [
    ClusterNode("rr1", A("10.0.0.1"), rr_cluster_id="244.0.0.1"),
    ClusterNode("rr2", A("10.0.0.2"), rr_cluster_id="244.0.0.1"),
    ClusterNode("w1", A("10.0.0.11")),
    ClusterNode("w2", A("10.0.0.12")),
]


def rr_input(node) -> BirdInput:
    me = next(n for n in RR_NODES if n.name == node)
    return BirdInput(
        node=node,
        ip=me.ip,
        pools=(Pool(POOL, "Always"),),
        blocks=(Block(N("192.168.0.0/26")),),
        peers=rr_peers(node, RR_NODES),
        subnet=N("10.0.0.0/24"),
        mesh=False,
        rr_cluster_id=me.rr_cluster_id,
    )


# ------------------------------------------------------------------ v3.16 artifacts


@pytest.mark.parametrize("name", ["bird.cfg", "bird_aggr.cfg", "bird_ipam.cfg"])
def test_v316_controlplane_ipip_always_golden(name):
    want = (FIX / f"v316_controlplane_ipip_always_{name}").read_text()
    assert render_v316(seed_input())[name] == want


def test_v316_golden_carries_calico_md_facts():
    text = render_v316(seed_input())["bird.cfg"]
    in_order = [
        'include "bird_aggr.cfg";',
        "router id 172.17.0.32;",
        "export filter calico_kernel_programming; # Default is export none",
        'interface -"cali*", -"kube-ipvs*", "*";',
        "local as 64512;",
        "source address 172.17.0.32;",
        "error wait time 5,30;",
        "# Skipping ourselves (172.17.0.32)",
        "protocol bgp Mesh_172_17_0_40 from bgp_template {",
        "  passive on; # Mesh is unidirectional, peer will connect to us.",
        "# No global peers configured.",
        "# No node-specific peers configured.",
    ]
    positions = [text.index(s) for s in in_order]
    assert positions == sorted(positions)


def test_v316_node01_is_active_and_ipam_variants():
    node01 = render_v316(seed_input("node01"))
    assert "protocol bgp Mesh_172_17_0_32 from bgp_template {\n  neighbor 172.17.0.32 as 64512;\n}" in node01["bird.cfg"]
    assert "route 192.168.196.128/26 blackhole;" in node01["bird_aggr.cfg"]
    assert 'krt_tunnel = "";' in render_v316(seed_input(ipip="Never"))["bird_ipam.cfg"]
    cross = render_v316(seed_input(ipip="CrossSubnet"))["bird_ipam.cfg"]
    assert 'if defined(bgp_next_hop) && ( bgp_next_hop ~ 172.17.0.0/16 ) then\n      krt_tunnel = "";\n    else\n      krt_tunnel = "tunl0";' in cross
    vx = render_v316(seed_input(ipip="Never", vxlan="Always"))["bird_ipam.cfg"]
    assert "# Don't program VXLAN routes into the kernel - these are handled by Felix.\n    reject;" in vx


def test_v316_pending_block_is_blackholed_but_not_aggregated():
    aggr = render_v316(seed_input(blocks=(Block(BLOCK["controlplane"], "pending"),)))["bird_aggr.cfg"]
    assert "route 192.168.49.64/26 blackhole;" in aggr
    assert "# Block 192.168.49.64/26 is pending\n}" in aggr


def test_v316_route_reflector_side():
    cfg = render_v316(rr_input("rr1"))["bird.cfg"]
    assert "\n# Node-to-node mesh disabled\n" in cfg
    # rr2 shares the cluster id: plain peer; clients get rr client lines. Ordered by IP string.
    assert cfg.index("Node_10_0_0_11") < cfg.index("Node_10_0_0_12") < cfg.index("Node_10_0_0_2 ")
    assert "# For peer /host/rr1/peer_v4/10.0.0.11\nprotocol bgp Node_10_0_0_11 from bgp_template {\n  neighbor 10.0.0.11 as 64512;\n  rr client;\n  rr cluster id 244.0.0.1;\n}" in cfg
    assert "protocol bgp Node_10_0_0_2 from bgp_template {\n  neighbor 10.0.0.2 as 64512;\n}" in cfg


# ------------------------------------------------------------------ peers


def test_passive_is_a_string_comparison():
    assert mesh_passive("172.17.0.32", "172.17.0.40") is True
    assert mesh_passive("172.17.0.40", "172.17.0.32") is False
    # The quirk: "10.0.0.9" > "10.0.0.10" as strings, so 10.0.0.10 is the passive side.
    assert mesh_passive("10.0.0.9", "10.0.0.10") is False
    assert mesh_passive("10.0.0.10", "10.0.0.9") is True
    nodes = [ClusterNode("a", A("10.0.0.9")), ClusterNode("b", A("10.0.0.10"))]
    assert [p.passive for p in mesh_peers("a", nodes)] == [False]
    assert [p.passive for p in mesh_peers("b", nodes)] == [True]
    assert "passive on" in render_bird2(BirdInput("b", A("10.0.0.10"), (Pool(POOL),), peers=mesh_peers("b", nodes)))
    assert "passive on" not in render_bird2(BirdInput("a", A("10.0.0.9"), (Pool(POOL),), peers=mesh_peers("a", nodes)))


def test_mesh_peers_seed():
    (peer,) = mesh_peers("controlplane", SEED_NODES)
    assert (peer.name, str(peer.ip), peer.passive, peer.node) == ("Mesh_172_17_0_40", "172.17.0.40", True, "node01")


def test_rr_topology():
    assert [(p.name, p.rr_client) for p in rr_peers("w1", RR_NODES)] == [("Node_10_0_0_1", False), ("Node_10_0_0_2", False)]
    assert [(p.name, p.rr_client) for p in rr_peers("rr1", RR_NODES)] == [
        ("Node_10_0_0_11", True),
        ("Node_10_0_0_12", True),
        ("Node_10_0_0_2", False),
    ]
    other_cluster = RR_NODES[:1] + [ClusterNode("rr2", A("10.0.0.2"), rr_cluster_id="244.0.0.2")]
    assert [p.rr_client for p in rr_peers("rr1", other_cluster)] == [True]
    with pytest.raises(ValueError, match="at least one"):
        rr_peers("w1", RR_NODES[2:])


def test_input_validation():
    with pytest.raises(ValueError, match="cannot both"):
        Pool(POOL, "Always", "Always")
    with pytest.raises(ValueError, match="mode must be"):
        Pool(POOL, "always")
    with pytest.raises(ValueError, match="cluster id"):
        BirdInput("x", A("10.0.0.1"), (Pool(POOL),), peers=(Peer("Node_10_0_0_2", A("10.0.0.2"), rr_client=True),))
    with pytest.raises(ValueError, match="subnet"):
        seed_input(ipip="CrossSubnet", subnet=None)
    with pytest.raises(ValueError, match="mesh disabled"):
        seed_input(mesh=False)


def test_runs_bird_only_for_the_bird_backend():
    assert runs_bird("bird") is True
    assert runs_bird("vxlan") is False  # seed's VXLAN demo: no BIRD, no blackhole
    with pytest.raises(ValueError):
        runs_bird("gobgp")


# ------------------------------------------------------------------ BIRD 2


def test_bird2_contains_the_translation():
    text = render_bird2(seed_input())
    for needle in [
        "timeformat protocol iso short;",
        "router id 172.17.0.32;",
        "if ( source = RTS_DEVICE ) then reject;",
        'if ( source = RTS_BGP ) then { onlink = true; ifname = "tunl0"; gw = bgp_next_hop; }',
        "protocol static {\n  ipv4;\n  route 192.168.49.64/26 blackhole;\n}",
        "  learn;", "  persist;", "  scan time 2;", "  graceful restart;", "  merge paths on;", "  metric 0;",
        "    export filter calico_kernel_programming;",
        "protocol device {",
        'interface -"cali*", -"kube-ipvs*", "*";',
        "connect delay time 2;", "connect retry time 5;", "error wait time 5,30;",
        "protocol bgp Mesh_172_17_0_40 from bgp_template {\n  neighbor 172.17.0.40 as 64512;\n  passive on;",
    ]:
        assert needle in text, needle
    assert 'ifname = "tunl0"' not in render_bird2(seed_input(ipip="Never"))
    assert "bgp_next_hop ~ 172.17.0.0/16" in render_bird2(seed_input(ipip="CrossSubnet"))
    assert "protocol static" not in render_bird2(seed_input(blocks=()))


def test_bird_argv():
    assert bird_argv("/etc/calico/bird2.conf", "/run/x/bird.ctl", "/run/x/bird.pid") == [
        "bird", "-s", "/run/x/bird.ctl", "-P", "/run/x/bird.pid", "-c", "/etc/calico/bird2.conf"
    ]


BIRD = shutil.which("bird") or ("/usr/sbin/bird" if os.path.exists("/usr/sbin/bird") else None)
needs_bird = pytest.mark.skipif(BIRD is None, reason="BIRD 2 (/usr/sbin/bird) not installed")


def _parse_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    conf = tmp_path / "bird.conf"
    conf.write_text(text)
    return subprocess.run([BIRD, "-p", "-c", str(conf)], capture_output=True, text=True)


@needs_bird
@pytest.mark.parametrize(
    "label, cfg",
    [
        ("mesh ipip-always", lambda: seed_input()),
        ("mesh no-encap", lambda: seed_input(ipip="Never")),
        ("mesh crosssubnet", lambda: seed_input(ipip="CrossSubnet")),
        ("mesh vxlan pool", lambda: seed_input(ipip="Never", vxlan="Always")),
        ("rr reflector side", lambda: rr_input("rr1")),
        ("rr client side", lambda: rr_input("w1")),
        ("pending block", lambda: seed_input(blocks=(Block(BLOCK["controlplane"], "pending"),))),
        ("global peer with port", lambda: seed_input(peers=(Peer("Global_10_9_9_9_port_1179", A("10.9.9.9"), 65000, port=1179),))),
        ("no blocks", lambda: seed_input(blocks=())),
    ],
)
def test_bird2_config_parses(label, cfg, tmp_path):
    result = _parse_check(render_bird2(cfg()), tmp_path)
    assert result.returncode == 0, f"{label}: {result.stderr or result.stdout}"


@needs_bird
def test_bird_parse_check_can_fail(tmp_path):
    broken = render_bird2(seed_input()).replace("merge paths on;", "merge paths sometimes;")
    assert _parse_check(broken, tmp_path).returncode != 0


# ------------------------------------------------------------------ live: two real BIRD 2 in netns

live = pytest.mark.skipif(os.geteuid() != 0 or BIRD is None or not shutil.which("birdc"), reason="needs root and bird2")


@live
@pytest.mark.parametrize("mode, route", [
    ("Always", "192.0.2.144/28 via 192.0.2.2 dev tunl0 proto bird onlink"),
    ("Never", "192.0.2.144/28 via 192.0.2.2 dev eth0 proto bird"),
])
def test_live_pair_programs_calico_routes(mode, route):
    from calico_birdlab import BirdPair

    pair = BirdPair(ipip_mode=mode)
    try:
        pair.start()
        pair.wait_established()
        routes_a = pair.wait_for("h1a", route)
        assert route + " \n" in routes_a or route + "\n" in routes_a, routes_a
        assert "blackhole 192.0.2.128/28 proto bird" in routes_a
        assert "metric" not in routes_a  # `metric 0` keeps BIRD 2 from printing "metric 32"
        # A pod /32 inside the local block is learnt from the kernel but never exported.
        subprocess.run(["ip", "-n", pair.ns("h1a"), "route", "add", "192.0.2.130/32", "dev", "eth0"], check=True)
        deadline = time.monotonic() + 10
        while "192.0.2.130/32" not in pair.birdc("h1a", "show", "route", "192.0.2.130/32"):
            assert time.monotonic() < deadline, "kernel protocol did not learn the /32"
            time.sleep(0.5)
        time.sleep(1)
        assert "192.0.2.130" not in pair.routes("h1b")
        assert "192.0.2.128/28 via 192.0.2.1" in pair.routes("h1b")
        rows = pair.birdc("h1b", "show", "protocols")
        assert "Mesh_192_0_2_1 BGP" in rows and "Established" in rows
    finally:
        pair.close()
    assert not Path(pair.rundir).exists()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert pair.tag not in listed
