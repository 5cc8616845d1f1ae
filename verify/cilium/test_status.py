"""The `cilium status` lines that tell modes apart (seeds 000, 004), read from each live node,
say what the declared mode says: kube-proxy replacement, host routing, masquerading, IPAM."""

import pytest

import readers

from cnilab.cni.cilium.status import LB_MAP, SNAT_MAP, expected_status, format_status, node_status

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_status_names_the_mode(running_lab, lab, node):
    pins = readers.pinned_maps(running_lab.host(node))
    missing = []
    if lab.mode.kpr and LB_MAP not in pins:
        missing.append(f"the BPF load balancer ({LB_MAP} is not pinned)")
    if lab.mode.masquerade == "bpf" and SNAT_MAP not in pins:
        missing.append(f"BPF masquerade ({SNAT_MAP} is not pinned)")
    if missing:
        pytest.skip("the mode asks for what this lab has not deployed: " + ", ".join(missing))
    want, got = expected_status(lab, node), node_status(running_lab, node)
    assert got == want, f"{node}:\nexpected\n{format_status(want)}\ngot\n{format_status(got)}"
