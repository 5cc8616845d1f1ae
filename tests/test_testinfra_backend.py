"""The `cnilab://` testinfra backend as a user meets it: their own testinfra test file,
run by pytest with `--hosts='cnilab://<declaration>/*'` against a running lab, passes;
a false assertion in it fails; nodes and pods are hosts of `testinfra.get_host`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import testinfra
import testinfra.backend

from cnilab import drive
from cnilab.model import load_lab
from cnilab.testinfra_backend import LabNotFound, split_spec

CLUSTER = "cnilab-t-tinfra"

# A user's own tests: nothing of cnilab in them but the host URL they are run with.
USER_TESTS = '''
def test_eth0_holds_the_node_address(host):
    eth0 = host.interface("eth0")
    assert eth0.exists and any(a.startswith("172.28.5.") for a in eth0.addresses)

def test_cilium_devices_and_tunnel_map(host):
    assert host.interface("cilium_vxlan").exists and host.interface("cilium_host").exists
    assert host.file("/sys/fs/bpf/tc/globals/cilium_tunnel_map").exists

def test_routes_to_other_nodes_pod_cidrs(host):
    assert "10.0." in host.check_output("ip -4 route show dev %s", "cilium_host")
'''

USER_TESTS_FALSE = '''
def test_a_device_the_lab_does_not_have(host):
    assert host.interface("eth9").exists
'''


def _user_pytest(directory, text: str, hosts: str) -> subprocess.CompletedProcess:
    f = directory / "test_mine.py"
    f.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", f"--hosts={hosts}", str(f)],
        capture_output=True, text=True, cwd=directory, timeout=300,
    )  # fmt: skip


def test_spec_split_and_other_schemes_untouched():
    assert split_spec("cilium_vxlan/worker/net") == ("cilium_vxlan", ["worker", "net"])
    assert split_spec("/tmp/x/lab.yaml/*") == ("/tmp/x/lab.yaml", ["*"])
    assert split_spec("inventories/cilium_vxlan.yaml/worker") == ("inventories/cilium_vxlan.yaml", ["worker"])
    assert testinfra.backend.parse_hostspec("cnilab://cilium_vxlan/worker/net?sudo=true") == (
        "cilium_vxlan/worker/net", {"connection": "cnilab", "sudo": True})  # fmt: skip
    assert testinfra.backend.parse_hostspec("docker://web/x") == ("web", {"connection": "docker"})


def test_unknown_lab_is_named():
    with pytest.raises(LabNotFound, match="no-such-lab-here"):
        testinfra.get_host("cnilab://no-such-lab-here/worker")


def test_user_testinfra_file_against_a_lab(tmp_path):
    inv = drive.private_lab(tmp_path / "lab", "cilium_vxlan_small", CLUSTER, "172.28.5.0/24", "netns")
    decl = inv.with_suffix(".yaml")
    lab = load_lab(decl)
    try:
        up = drive.pyinfra(inv, "up.py")
        assert up.returncode == 0, up.stderr[-3000:]

        ok = _user_pytest(tmp_path, USER_TESTS, f"cnilab://{decl}/*")
        assert ok.returncode == 0, ok.stdout[-4000:] + ok.stderr[-2000:]
        assert "6 passed" in ok.stdout  # 3 tests x 2 nodes, ids by kind suffix
        assert f"[cnilab://{decl}/control-plane]" in ok.stdout and f"[cnilab://{decl}/worker]" in ok.stdout

        bad = _user_pytest(tmp_path, USER_TESTS_FALSE, f"cnilab://{decl}/*")
        assert bad.returncode == 1 and "2 failed" in bad.stdout, bad.stdout[-4000:]

        # in a user's own code: a node by kind suffix or full name, a pod from its node
        worker = testinfra.get_host(f"cnilab://{decl}/worker")
        assert str(lab.node(f"{CLUSTER}-worker").ip) in worker.interface("eth0").addresses
        pod = lab.pods_on(f"{CLUSTER}-worker")[0]
        in_pod = testinfra.get_host(f"cnilab://{decl}/{CLUSTER}-worker/{pod.name}")
        assert str(pod.ip) in in_pod.interface("eth0").addresses
        assert sorted(h.backend.get_hostname() for h in testinfra.get_hosts([f"cnilab://{CLUSTER}/*/*"])) == sorted(
            f"{CLUSTER}/worker/{p.name}" for p in lab.pods)  # fmt: skip
    finally:
        down = drive.pyinfra(inv, "down.py")
    assert down.returncode == 0, down.stderr[-3000:]
    assert drive.leftovers(CLUSTER) == {}
