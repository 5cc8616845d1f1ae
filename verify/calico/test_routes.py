"""Routes, line for line as a Calico v3.16 node prints them (seed 003: `ip route`): the
default route, each local pod's /32 on its cali veth, and, learnt over BGP by BIRD (or
programmed as Felix does in VXLAN mode), the local block's blackhole and the remote blocks."""

import pytest

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _lines(host, netns: str | None = None) -> list[str]:
    cmd = "ip netns exec %s ip -4 route show" if netns else "ip -4 route show"
    out = host.run(cmd, *([netns] if netns else []))
    assert out.rc == 0, out.stderr
    # iproute2 ends lines with a space; the kernel's own (proto kernel) subnet routes are not Calico's.
    return [line.rstrip() for line in out.stdout.splitlines() if line.strip() and " proto kernel " not in line]


def test_node_routes(running_lab, lab, node):
    want = sorted(r.line() for r in lab.node_routes(node))
    got = sorted(_lines(running_lab.host(node)))
    assert got == want, f"{node}:\n missing: {sorted(set(want) - set(got))}\n unexpected: {sorted(set(got) - set(want))}"


def test_pod_routes(running_lab, lab, pod):
    want = sorted(r.line() for r in lab.pod_routes(pod))
    got = sorted(_lines(running_lab.host(lab.pod(pod).node), pod))
    assert got == want, f"pod {pod}:\n missing: {sorted(set(want) - set(got))}\n unexpected: {sorted(set(got) - set(want))}"
