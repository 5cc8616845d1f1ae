"""BIRD runs on every node of a BGP lab, and its sessions are exactly the expected ones,
all Established (the mesh, or the reflectors and their clients: clients do not mesh).
A VXLAN lab (calico_backend: vxlan) runs no BIRD at all."""

import pytest

from cnilab.cni.calico import calicoctl, status

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_bird_runs_as_the_mode_wants(running_lab, lab, node):
    pid = status.bird_pid(running_lab.host(node))
    if lab.mode.bird:
        assert pid is not None, f"{node}: BIRD is not running"
    else:
        assert pid is None, f"{node}: BIRD runs (pid {pid}) though calico_backend is {lab.mode.backend}"


def test_bgp_sessions(running_lab, lab, node):
    text = status.bird_protocols(running_lab.host(node)) if lab.mode.bird else ""
    if lab.mode.bird:
        assert text is not None, f"{node}: BIRD does not answer on its control socket"
    rows = [r for r in calicoctl.parse_bird_protocols(text) if r.proto == "BGP"] if text else []
    got = {r.name: (r.state, r.info) for r in rows}
    want = {p.name: ("up", "Established") for p in lab.peers(node)}
    assert got == want, f"{node}: BGP sessions\n expected {want}\n got      {got}"
