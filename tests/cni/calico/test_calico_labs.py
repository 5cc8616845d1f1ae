"""Calico labs as a user drives them.

Every Calico declaration runs on the backend it names in tests/test_every_lab.py; here each
runs on the other one too (up, verify, up again with no change, down, nothing left). A
running lab broken by hand (BIRD killed, a route BIRD owns deleted while it is down, a
veth's proxy ARP turned off) is noticed by verify and healed by `up`; `down` leaves no BIRD.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from cnilab.backends import get_backend
from cnilab.cni.calico.plan import BIRD_PIDFILE
from cnilab.model import load_lab
from labs import break_and_heal, docker_available, dump, leftovers, private_lab, pyinfra, round_trip

OTHER_BACKEND = {"calico_ipip": "netns", "calico_bgp": "netns", "calico_vxlan": "netns", "calico_rr": "docker"}


def _needs(backend: str):
    return [pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")] if backend == "docker" else []


@pytest.mark.parametrize(
    "seed,backend,cluster,underlay",
    [
        pytest.param(seed, backend, f"cnilab-t-c{i}", f"172.28.{10 + i}.0/24", id=f"{seed}-{backend}", marks=_needs(backend))
        for i, (seed, backend) in enumerate(sorted(OTHER_BACKEND.items()))
    ],
)
def test_calico_lab_on_the_other_backend(tmp_path, seed, backend, cluster, underlay):
    assert load_lab(seed).decl.backend != backend
    first = round_trip(private_lab(tmp_path, seed, cluster, underlay, backend), cluster)
    assert first["error"] == 0 and first["changed"] > 0, first


CLUSTER = "cnilab-t-cdrift"
NODE = f"{CLUSTER}-node01"


@pytest.fixture(scope="module")
def ipip_lab(tmp_path_factory):
    inv = private_lab(tmp_path_factory.mktemp(CLUSTER), "calico_ipip", CLUSTER, "172.28.1.0/24", "netns")
    up = pyinfra(inv, "up.py")
    assert up.returncode == 0, dump(up)
    yield inv
    down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers(CLUSTER) == {}


# BIRD removes its pid file as it exits: wait on the PID read before, until it is gone or a zombie.
KILL_BIRD = (
    f"p=$(cat {BIRD_PIDFILE}) && kill $p && for i in $(seq 100); do "
    "[ -e /proc/$p ] && [ \"$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null)\" != Z ] || break; sleep 0.05; done"
)
BREAKS = {
    "BIRD killed": KILL_BIRD,
    # With BIRD running it would put them back within its 2 s scan: break them while it is down.
    "blackhole deleted": f"{KILL_BIRD} && ip route del blackhole 192.168.196.128/26",
    "learnt route deleted": f"{KILL_BIRD} && ip route del 192.168.49.64/26",
    "proxy ARP off on a cali veth": "sysctl -qw net.ipv4.conf.calib673e730d42.proxy_arp=0",
}


@pytest.mark.parametrize("command", list(BREAKS.values()), ids=list(BREAKS))
def test_up_heals(ipip_lab, command):
    break_and_heal(ipip_lab, NODE, command)


def test_down_stops_bird(tmp_path):
    cluster = "cnilab-t-cdown"
    inv = private_lab(tmp_path, "calico_bgp", cluster, "172.28.2.0/24", "netns")
    lab = load_lab(inv.with_suffix(".yaml"))
    pids = []
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, dump(up)
        for n in lab.nodes:
            out = subprocess.run(get_backend("netns").exec_argv(lab.name, n.name, f"cat {BIRD_PIDFILE}"), capture_output=True, text=True)
            assert out.returncode == 0 and out.stdout.strip().isdigit(), out.stderr
            pids.append(int(out.stdout))
        assert all(os.path.exists(f"/proc/{p}") for p in pids)
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    alive = [p for p in pids if os.path.exists(f"/proc/{p}") and b"bird" in open(f"/proc/{p}/cmdline", "rb").read()
             and open(f"/proc/{p}/stat").read().split()[2] != "Z"]  # fmt: skip
    assert alive == [], f"BIRD still runs after down: {alive}"
    assert leftovers(cluster) == {}, leftovers(cluster)
