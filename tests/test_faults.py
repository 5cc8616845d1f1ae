"""Faults a user meets: a lab broken under verify, a lab that is not there, an `up`
interrupted half-way, a declaration deleted while its lab runs. Each gets a clear answer
and none leaves anything behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cnilab.backends import get_backend
from cnilab.model import REPO_ROOT, load_lab
from labs import docker_available, dump, leftovers, private_lab, pyinfra, verify


def _cnilab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnilab.cli", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)


def test_verify_of_a_lab_that_is_not_there_says_so_in_one_line(tmp_path):
    inv = private_lab(tmp_path, "cilium_vxlan_small", "cnilab-t-absent", "192.168.241.0/24", "netns")
    v = verify(inv.with_suffix(".yaml"), timeout=120)
    assert v.returncode == 2, dump(v)
    said = [line for line in (v.stdout + v.stderr).splitlines() if "not running" in line]
    assert len(said) == 1 and "cnilab-t-absent" in said[0] and "up.py" in said[0], dump(v)
    assert "Traceback" not in v.stdout + v.stderr


def test_verify_of_a_broken_lab_names_each_broken_thing(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # pytest's summary lines whole, as on a wide terminal
    cluster = "cnilab-t-broken"
    inv = private_lab(tmp_path, "cilium_vxlan_small", cluster, "192.168.242.0/24", "netns")
    lab = load_lab(inv.with_suffix(".yaml"))
    worker = f"{cluster}-worker"
    pod = lab.pods_on(worker)[0]
    cp_cidr = str(lab.nodes[0].pod_cidr)
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, dump(up)
        breaks = f"ip route del {cp_cidr}; tc filter del dev cilium_vxlan egress; kill $(cat /run/cnilab/pods/{pod.name}.pid)"
        get_backend("netns").run_in(cluster, worker, breaks)
        v = verify(inv.with_suffix(".yaml"), timeout=300)
    finally:
        down = pyinfra(inv, "down.py")
    assert v.returncode == 1, dump(v)
    failed = [line for line in v.stdout.splitlines() if line.startswith("FAILED")]
    assert failed, v.stdout[-4000:]
    # Every failure is a check that says what it expected, never a crash of the suite.
    assert all(" - AssertionError: " in line for line in failed), "\n".join(failed)
    assert "Traceback" not in v.stdout
    summary = "\n".join(failed)
    # each names the node or pod, and what it expected against what it found
    assert "FAILED verify/cilium/test_routes.py::test_node_routes[worker] - AssertionError: cnilab-t-broken-worker:" in summary
    assert re.search(rf"missing: \['{cp_cidr} via ", v.stdout), v.stdout[-4000:]
    assert "FAILED verify/cilium/test_tc.py::test_programs_on_their_hooks[worker]" in summary
    assert re.search(r"cilium_vxlan egress.*to-overlay", v.stdout), v.stdout[-4000:]
    assert re.search(rf"test_node_to_pod\[worker->{pod.name}\] - AssertionError: curl {pod.ip}:80 .*expected 'PodName: {pod.name}", summary), summary
    # Only the broken node's checks fail.
    assert not [line for line in failed if "[control-plane]" in line], summary
    assert down.returncode == 0 and leftovers(cluster) == {}


def _interrupted_up(inv, cluster: str, sig: int, wait_for: str) -> None:
    """Start `up`, and once the lab's first `wait_for` objects exist, signal it."""
    p = subprocess.Popen(
        [sys.executable, "-m", "pyinfra", "-y", str(inv), str(REPO_ROOT / "deploys" / "up.py")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not leftovers(cluster).get(wait_for):
            assert p.poll() is None, f"up ended (rc {p.returncode}) before any {wait_for} appeared"
            assert time.monotonic() < deadline, f"no {wait_for} after 120 s"
            time.sleep(0.1)
        os.killpg(p.pid, sig)
    finally:
        p.wait(timeout=60)


def test_up_interrupted_half_way_then_up_again_then_down(tmp_path):
    cluster = "cnilab-t-intr"
    inv = private_lab(tmp_path, "cilium_vxlan", cluster, "192.168.243.0/24", "netns")
    try:
        _interrupted_up(inv, cluster, signal.SIGINT, "netns")  # Ctrl-C
        assert leftovers(cluster), "the interrupted up made nothing: the test did not interrupt it"
        again = pyinfra(inv, "up.py")
        assert again.returncode == 0, f"up after an interrupted up failed:\n{dump(again)}"
        v = verify(inv.with_suffix(".yaml"))
        assert v.returncode == 0, v.stdout[-5000:]
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers(cluster) == {}, leftovers(cluster)


@pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")
def test_up_killed_half_way_on_docker_then_down_leaves_nothing(tmp_path):
    cluster = "cnilab-t-kill"
    inv = private_lab(tmp_path, "cilium_vxlan", cluster, "192.168.244.0/24", "docker")
    try:
        _interrupted_up(inv, cluster, signal.SIGKILL, "containers")  # a crash: no clean-up ran
        assert leftovers(cluster), "the killed up made nothing: the test did not interrupt it"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers(cluster) == {}, leftovers(cluster)


def test_down_by_cluster_name_once_the_declaration_is_gone(tmp_path):
    cluster = "cnilab-t-orphan"
    inv = private_lab(tmp_path, "cilium_vxlan_small", cluster, "192.168.245.0/24", "netns")
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, dump(up)
        inv.with_suffix(".yaml").unlink()
        inv.unlink()
        listed = _cnilab("labs")
        assert re.search(rf"^{cluster}\s+netns$", listed.stdout, re.M), listed.stdout
        down = _cnilab("down", cluster)
        assert down.returncode == 0, dump(down)
        assert leftovers(cluster) == {}, leftovers(cluster)
        assert cluster not in _cnilab("labs").stdout
    finally:
        if leftovers(cluster):
            _cnilab("down", cluster)
