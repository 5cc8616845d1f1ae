"""Multi-host labs on the SSH test bed: 3 machines (Docker containers running sshd, reached
with pyinfra over SSH), each lab node a network namespace on its machine, the machines'
underlay bridges joined by VXLAN (cnilab/backends/underlay.py).

What a user does, with the repository's own inventories: up, verify (--inventory), a
no-op up, down, then nothing of the lab on any machine; a cross-machine pod ping seen on a
machine's wire as Cilium's VXLAN inside the underlay's; and the faults: a machine stopped
at up, lost while the lab runs, gone at down.
Skipped, with the reason, only when no Docker daemon answers, when not root, or when a
test bed is already up (someone's own: not touched).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import bind_layers
from scapy.utils import PcapReader

from cnilab import testbed
from cnilab.backends import underlay
from cnilab.drive import leftovers, totals
from cnilab.inventory import read_inventory
from cnilab.model import REPO_ROOT
from tests.labs import docker_available

CILIUM = REPO_ROOT / "inventories" / "cilium_vxlan_multihost.py"
CALICO = REPO_ROOT / "inventories" / "calico_bgp_multihost.py"

bind_layers(UDP, VXLAN, dport=underlay.JOIN_PORT)
bind_layers(UDP, VXLAN, dport=8472)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers"),
]


def run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)


def pyinfra(inv: Path, deploy: str) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "pyinfra", "-y", str(inv), f"deploys/{deploy}")


def verify(inv: Path, *extra: str) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "pytest", "verify/", "--inventory", str(inv), "-q", "-p", "no:cacheprovider", *extra)


def out(p: subprocess.CompletedProcess) -> str:
    return (p.stdout + p.stderr)[-5000:]


@pytest.fixture(scope="module")
def bed():
    if testbed.machines():
        pytest.skip("a test bed is already up (someone's own): `scripts/ssh-testbed down` to run these")
    tb = testbed.up(3, log=lambda m: None)
    try:
        yield tb
    finally:
        testbed.down(log=lambda m: None)


def machine_leftovers(inv, name: str) -> list[str]:
    """What of the lab is on a machine: namespaces (its nodes, pods' namespaces are inside
    them), its state directory, the underlay join, processes other than sshd's own."""
    lab, m = inv.lab, inv.placement.machine(name)
    ours = [n.name for n in lab.nodes] + [lab.world.name, underlay.name(lab.name)]
    p = m.sh(
        f"ip netns list | cut -d' ' -f1; ls -d /run/cnilab/{lab.name} 2>/dev/null; "
        "ps -eo pid=,comm= | grep -v -E ' (sshd|tini|sh|ps|grep|bash|sleep)$' || true"
    )
    lines = p.stdout.decode().split("\n")
    return [x.strip() for x in lines if x.strip() and (x.split()[0] in ours or x.startswith("/run/cnilab") or x.strip()[0].isdigit())]


def everything_left(inv, but: str | None = None) -> dict[str, list[str]]:
    return {name: left for name in inv.placement.used() if name != but and (left := machine_leftovers(inv, name))}


def nothing_left(down: subprocess.CompletedProcess, inv, but: str | None = None) -> None:
    assert down.returncode == 0, out(down)
    assert everything_left(inv, but=but) == {}


def noop_up(inv_path: Path) -> None:
    again = pyinfra(inv_path, "up.py")
    t = totals(again.stdout + again.stderr)
    assert again.returncode == 0 and (t["changed"], t["error"]) == (0, 0), f"second up changed something: {t}\n{out(again)}"


def test_cilium_lab_across_three_machines(bed):
    inv = read_inventory(CILIUM)
    assert [inv.placement.nodes[n.name] for n in inv.lab.nodes] == ["machine1", "machine2", "machine3"]
    try:
        up = pyinfra(CILIUM, "up.py")
        assert up.returncode == 0, out(up)
        # Each node on its own machine, the world beside the first.
        for n in inv.lab.nodes:
            m = inv.placement.machine_of(n.name)
            assert m.sh(f"test -e /run/netns/{n.name}", check=False).returncode == 0, f"{n.name} not on {m.name}"
        assert inv.placement.machine("machine1").sh(f"test -e /run/netns/{inv.lab.world.name}", check=False).returncode == 0

        v = verify(CILIUM)
        assert v.returncode == 0 and " failed" not in v.stdout, out(v)
        # Every check ran on every node: only the two a VXLAN lab has nothing to probe for skip.
        counts = re.search(r"(\d+) passed, (\d+) skipped", v.stdout)
        assert counts and int(counts[1]) >= 100 and counts[2] == "2", out(v)

        _pod_ping_rides_vxlan_in_vxlan(inv)

        noop_up(CILIUM)
    finally:
        down = pyinfra(CILIUM, "down.py")
    nothing_left(down, inv)


def _pod_ping_rides_vxlan_in_vxlan(inv) -> None:
    """A ping between pods on two machines leaves the source machine as the underlay's
    VXLAN (lab VNI, port 4800) around the node's frame, itself Cilium's VXLAN (VNI = the
    source pod's identity) around the pod's packet."""
    lab = inv.lab.cni
    src = next(p for p in lab.pods if inv.placement.nodes[p.node] == "machine2")
    dst = next(p for p in lab.pods if inv.placement.nodes[p.node] == "machine3")
    machine = inv.placement.machine("machine2")
    backend = inv.backend().of(src.node)
    ping = shlex.join(backend.exec_argv(lab.name, src.node, f"ip netns exec {src.name} ping -c1 -W2 {dst.ip} >/dev/null"))
    p = machine.sh(
        f"f=$(mktemp -d); timeout 10 tcpdump --immediate-mode -U -pn -i eth0 -c 2 -w $f/cap.pcap 'udp port {underlay.JOIN_PORT}' 2>$f/err & pid=$!; "
        "for i in $(seq 100); do grep -q listening $f/err && break; sleep 0.05; done; "
        f"{ping}; wait $pid; cat $f/cap.pcap; rm -rf $f"
    )
    frames = list(PcapReader(io.BytesIO(p.stdout)))
    assert len(frames) == 2, f"expected the request and reply on machine2's eth0, got {len(frames)}"
    sn, dn = lab.node(src.node), lab.node(dst.node)
    m2, m3 = inv.placement.machine("machine2").address, inv.placement.machine("machine3").address
    vni = underlay.vni(lab.name)
    want = [
        (m2, m3, vni, str(sn.ip), str(dn.ip), src.identity, str(src.ip), str(dst.ip)),
        (m3, m2, vni, str(dn.ip), str(sn.ip), dst.identity, str(dst.ip), str(src.ip)),
    ]
    got = []
    for f in frames:
        node_frame = f[VXLAN].payload
        pod_frame = node_frame[VXLAN].payload
        got.append((f[IP].src, f[IP].dst, f[VXLAN].vni, node_frame[IP].src, node_frame[IP].dst,
                    node_frame[VXLAN].vni, pod_frame[IP].src, pod_frame[IP].dst))
        assert node_frame[UDP].dport == 8472 and isinstance(node_frame, Ether)
    assert got == want


def test_native_routing_lab_on_this_machine_and_two_more(bed, tmp_path):
    """Seed 001 (native routing over a second NIC, eth1) with its control plane and the world
    here (@local) and its workers on machine1 and machine2: both underlay bridges joined."""
    gateway = str(testbed._subnet(None).network_address + 1)  # this host, on the test bed's network
    inv_path = tmp_path / "native.py"
    inv_path.write_text(
        "from cnilab.placement import lab_group, testbed_machines\n"
        f"_here = ('@local', {{'machine': 'here', 'cnilab_underlay_address': {gateway!r}}})\n"
        f"nodes = lab_group({str(REPO_ROOT / 'inventories' / 'cilium_native_iptables.yaml')!r}, "
        "[_here, *testbed_machines()[:2]], backend='netns')\n"
    )
    inv = read_inventory(inv_path)
    assert list(inv.placement.nodes.values()) == ["here", "machine1", "machine2"]
    try:
        up = pyinfra(inv_path, "up.py")
        assert up.returncode == 0, out(up)
        assert {j["dev"] for j in underlay.join_state(inv.lab.name, inv.placement.machine("machine1"))} == {"ulx0", "ulx1"}
        v = verify(inv_path)
        assert v.returncode == 0 and " failed" not in v.stdout, out(v)
        noop_up(inv_path)
    finally:
        down = pyinfra(inv_path, "down.py")
    nothing_left(down, inv, but="here")
    assert leftovers(inv.lab.name) == {}


def test_calico_bgp_lab_across_machines(bed):
    inv = read_inventory(CALICO)
    try:
        up = pyinfra(CALICO, "up.py")
        assert up.returncode == 0, out(up)
        v = verify(CALICO)
        assert v.returncode == 0 and " failed" not in v.stdout, out(v)
        noop_up(CALICO)
    finally:
        down = pyinfra(CALICO, "down.py")
    nothing_left(down, inv)


def test_preflight_names_what_each_machine_lacks(bed):
    """`cnilab preflight` says one line per machine (Calico's needs: BIRD); up refuses a
    machine without bpftool with that line, changes nothing on it, and the others converge."""
    cnilab = [sys.executable, "-m", "cnilab.cli"]
    p = run(*cnilab, "preflight", str(CALICO))
    assert p.returncode == 0, out(p)
    assert p.stdout.splitlines() == ["machine1: ready for controlplane", "machine2: ready for node01"], out(p)
    m2 = bed.machines[1].container
    tools = ("bird", "birdc", "bpftool")
    hide = " && ".join(f"mv /usr/sbin/{t} /usr/sbin/{t}.hidden" for t in tools)
    assert run("docker", "exec", m2, "sh", "-c", hide).returncode == 0
    inv = read_inventory(CILIUM)
    try:
        p = run(*cnilab, "preflight", str(CALICO))
        assert p.returncode == 1
        assert p.stdout.splitlines() == [
            "machine1: ready for controlplane",
            "machine2 (172.30.77.12): missing bird (apt-get install bird2), birdc (apt-get install bird2), "
            "bpftool (apt-get install bpftool) (nodes node01)",
        ], out(p)
        up = pyinfra(CILIUM, "up.py")
        assert up.returncode != 0
        worker = inv.lab.nodes[1].name
        lines = [line for line in out(up).splitlines() if "machine2 (172.30.77.12): missing bpftool" in line]
        assert lines and worker in lines[0], out(up)
        assert machine_leftovers(inv, "machine2") == []
        for n in (inv.lab.nodes[0], inv.lab.nodes[2]):  # the other machines' part converged
            assert inv.placement.machine_of(n.name).sh(f"test -e /run/netns/{n.name}", check=False).returncode == 0
    finally:
        run("docker", "exec", m2, "sh", "-c", "; ".join(f"mv /usr/sbin/{t}.hidden /usr/sbin/{t}" for t in tools))
        down = pyinfra(CILIUM, "down.py")
    nothing_left(down, inv)


def test_interrupted_up_then_down_leaves_nothing(bed):
    """An up killed once the first machine holds a node, then down: nothing anywhere."""
    inv = read_inventory(CILIUM)
    first = inv.lab.nodes[0].name
    m1 = inv.placement.machine("machine1")
    p = subprocess.Popen([sys.executable, "-m", "pyinfra", "-y", str(CILIUM), "deploys/up.py"], cwd=REPO_ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while m1.sh(f"test -e /run/netns/{first}", check=False).returncode != 0:
            assert p.poll() is None, "up ended before it made a node"
            assert time.monotonic() < deadline, "up made no node in 60 s"
            time.sleep(0.05)
    finally:
        p.kill()
        p.wait()
    time.sleep(2)  # what the machines were running when up died ends on its own
    nothing_left(pyinfra(CILIUM, "down.py"), inv)


def test_machine_faults(bed):
    """machine3 stopped at up, lost while the lab runs, gone at down."""
    inv = read_inventory(CILIUM)
    worker2 = inv.lab.nodes[2].name
    container = bed.machines[2].container
    try:
        docker = lambda *a: run("docker", *a, timeout=120)  # noqa: E731
        assert docker("stop", "-t", "1", container).returncode == 0
        up = pyinfra(CILIUM, "up.py")
        text = out(up)
        assert up.returncode != 0
        lines = [line for line in text.splitlines() if "machine3" in line and "unreachable" in line]
        assert lines and worker2 in lines[0], text
        # The other machines' part converged: their nodes answer, verify's checks there pass.
        for n in inv.lab.nodes[:2]:
            assert inv.placement.machine_of(n.name).sh(f"test -e /run/netns/{n.name}", check=False).returncode == 0

        assert docker("start", container).returncode == 0
        testbed.wait_for_ssh(bed.machines[2])
        up = pyinfra(CILIUM, "up.py")
        assert up.returncode == 0, out(up)
        v = verify(CILIUM)
        assert v.returncode == 0, out(v)

        # Lost while the lab runs: verify names the nodes on it.
        assert docker("stop", "-t", "1", container).returncode == 0
        v = verify(CILIUM, "-k", "worker2 and not pod_to_pod and not node_to_pod and not service")  # its own checks
        assert v.returncode != 0
        assert "machine3" in v.stdout and "worker2 unreachable" in v.stdout, out(v)
        assert f"node {worker2} is unreachable" in v.stdout, out(v)

        # Down with the machine gone: the rest goes, and what could not is named.
        down = pyinfra(CILIUM, "down.py")
        assert down.returncode != 0
        assert any("machine3" in line and worker2 in line for line in out(down).splitlines()), out(down)
        assert everything_left(inv, but="machine3") == {}
    finally:
        run("docker", "start", container)
        testbed.wait_for_ssh(bed.machines[2])
        down = pyinfra(CILIUM, "down.py")
    nothing_left(down, inv)
