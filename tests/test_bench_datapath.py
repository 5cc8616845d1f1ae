"""cnilab.bench_datapath for real, reduced: the classic kernel VXLAN path and the BPF VXLAN
path of a private copy of the seed lab, one second each, then BPF_PROG_TEST_RUN of every
section of that lab's node with few runs. Everything it made is gone afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import datapath as bd

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("iperf3", "bpftool", "clang", "nsenter", "unshare")),
    reason="needs root, iperf3, bpftool, clang, nsenter and unshare",
)

# Names and underlay of their own, so the test runs beside `cnilab bench` and other labs.
LAB = bd.LabSpec("cilium_vxlan", "cnilab-tput-test-vx", "192.168.214.0/24")
KVX = bd.KernelVxlan(prefix="cnilab-tput-test-kvx", underlay="192.168.213.0/24")


def _iperf3_servers_of(ips: set[str]) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"iperf3") and ips & {c.decode(errors="replace") for c in cmd}:
                found.append(pid)
    return found


def test_throughput_kernel_vxlan_and_bpf_vxlan():
    r = bd.throughput(
        log=lambda *a: None, seconds=1, paths=["kernel_vxlan", "bpf_vxlan"], labs={"cilium_vxlan": LAB}, kernel_vxlan=KVX
    )

    for name in ("kernel_vxlan", "bpf_vxlan"):
        p = r["paths"][name]
        assert p["gbps"] > 0
        # Both are VXLAN paths: the pods' routes carry mtu 1450 and TCP's MSS follows.
        assert p["path_mtu"] == 1450
        assert p["mtu_ok"], p["mtu_problems"]
        assert p["mss"] <= 1450 - 40
    assert r["ratios"]["bpf_vxlan / kernel_vxlan"] > 0
    assert r["paths"]["bpf_vxlan"]["client"].startswith("cnilab-tput-test-vx/")

    # Nothing is left: namespaces, lab state, iperf3 servers.
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert [n for n in namespaces if n.startswith(("cnilab-tput-test-vx", KVX.prefix))] == []
    assert not Path("/run/cnilab", LAB.cluster).exists()
    ips = {c.split()[-1] for p in r["paths"].values() for c in (p["client"], p["server"])}
    assert _iperf3_servers_of(ips) == []


def test_kernel_vxlan_is_removed_when_a_measurement_fails(monkeypatch):
    kvx = bd.KernelVxlan(prefix="cnilab-tput-test-kvf", underlay="192.168.213.0/24")

    def broken(*a, **kw):
        raise bd.BenchError("iperf3 broke")

    monkeypatch.setattr(bd, "iperf3", broken)
    with pytest.raises(bd.BenchError, match="iperf3 broke"):
        bd.throughput(log=lambda *a: None, seconds=1, paths=["underlay"], kernel_vxlan=kvx)
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    assert [n for n in namespaces if n.startswith(kvx.prefix)] == []


def test_names_outside_the_prefix_are_refused():
    with pytest.raises(ValueError):
        bd.KernelVxlan(prefix="kvx")
    with pytest.raises(ValueError):
        bd.throughput(paths=["bpf_vxlan"], labs={"cilium_vxlan": bd.LabSpec("cilium_vxlan", "other", "192.168.214.0/24")})


def test_per_program_every_section_of_the_vxlan_node(tmp_path, monkeypatch):
    monkeypatch.setenv("CNILAB_CACHE", str(tmp_path / "cache"))
    sizes = bd.Sizes(hot_repeat=1000, hot_calls=2, ttl_calls=4, single_runs=20)
    r = bd.per_program(log=lambda *a: None, seeds=("cilium_vxlan",), sizes=sizes)

    assert set(r["labs"]) == {"cilium_vxlan, events off", "cilium_vxlan, events on"}
    rows = r["labs"]["cilium_vxlan, events on"]["rows"]
    sections = {row["section"] for row in rows}
    assert sections == {"from-container", "from-overlay", "to-overlay", "to-host", "from-host", "from-netdev", "to-netdev"}
    for row in rows:
        assert row["single_ns"] > 0
        assert row["hot_ns"] is None or row["hot_ns"] > 0
    cases = {row["what"] for row in rows}
    assert any("ClusterIP" in c for c in cases) and any("NodePort" in c for c in cases)
    assert any("masquerade" in c for c in cases)
    assert "from-container" in bd.format_per_program(r)
