"""A running lab broken by hand converges on the next `up`, and verify passes again.

Each case breaks one kind of object the lab owns, runs `up`, and runs the whole verify
suite: `up` must notice the difference through its facts and repair only that.
"""

from __future__ import annotations

import subprocess

import pytest

from cnilab.backends import get_backend
from cnilab.model import load_lab
from labs import break_and_heal, docker_available, dump, leftovers, private_lab, pyinfra, verify

W = "worker"  # the node each case breaks

BREAKS = {
    "node route deleted": "ip route del 10.0.0.0/24",
    "tc filter detached": "tc filter del dev cilium_vxlan egress",
    # the right program, under iproute2's name for it instead of Cilium's cilium-eth0
    "tc filter named by its object": "tc filter replace dev eth0 ingress pref 1 handle 1 bpf da "
    "obj $(ls /run/cnilab/bpf/*/bpf_host.o | head -1) sec from-netdev",
    "tunnel map entry deleted": "bpftool map delete pinned /sys/fs/bpf/tc/globals/cilium_tunnel_map key hex 0a 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00",
    "endpoint map entry corrupted": "bpftool map update pinned /sys/fs/bpf/tc/globals/cilium_lxc "
    "key hex $(ip netns exec net ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1 | tr . ' ' | xargs printf '%02x ') 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 "
    "value hex " + " ".join(["00"] * 48),
    "pinned map deleted": "rm /sys/fs/bpf/tc/globals/cilium_ipcache",
    "responder killed": "kill $(cat /run/cnilab/pods/net.pid)",
    "pod namespace deleted": "kill $(cat /run/cnilab/pods/net.pid); ip netns del net",
}


def _lab(tmp_path_factory, backend, cluster, underlay):
    inv = private_lab(tmp_path_factory.mktemp(cluster), "cilium_vxlan", cluster, underlay, backend)
    up = pyinfra(inv, "up.py")
    assert up.returncode == 0, dump(up)
    return inv


@pytest.fixture(scope="module")
def netns_lab(tmp_path_factory):
    inv = _lab(tmp_path_factory, "netns", "cnilab-t-drift", "192.168.203.0/24")
    yield inv
    down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers("cnilab-t-drift") == {}


@pytest.mark.parametrize("command", list(BREAKS.values()), ids=list(BREAKS))
def test_up_heals(netns_lab, command):
    break_and_heal(netns_lab, f"{load_lab(netns_lab.with_suffix('.yaml')).name}-{W}", command)


def test_up_heals_a_removed_node_namespace(netns_lab):
    lab = load_lab(netns_lab.with_suffix(".yaml"))
    get_backend("netns").remove_node(lab.name, f"{lab.name}-{W}")
    up = pyinfra(netns_lab, "up.py")
    assert up.returncode == 0, dump(up)
    healed = verify(netns_lab.with_suffix(".yaml"))
    assert healed.returncode == 0, healed.stdout[-5000:]


@pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")
def test_up_heals_a_removed_or_stopped_node_container(tmp_path_factory):
    cluster = "cnilab-t-drift-dk"
    inv = _lab(tmp_path_factory, "docker", cluster, "192.168.204.0/24")
    try:
        for how in (["rm", "-f"], ["stop", "-t", "0"]):
            subprocess.run(["docker", *how, f"{cluster}-{W}"], check=True, capture_output=True)
            up = pyinfra(inv, "up.py")
            assert up.returncode == 0, dump(up)
            healed = verify(inv.with_suffix(".yaml"))
            assert healed.returncode == 0, f"after docker {how[0]}: {healed.stdout[-5000:]}"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers(cluster) == {}
