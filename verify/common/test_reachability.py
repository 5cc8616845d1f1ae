"""Packets really flow: the reachability matrix, each pair a named test.

Every probe is an ICMP echo and an HTTP GET to the pod's responder, which answers like
the seed's nettool image (`PodName: evescn-qff5p | PodIP: eth0 10.0.2.210/32`).
Every address probed is inside the lab.
"""

import pytest

from cnilab.pytest_plugin import lab_from_config

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _pairs(lab):
    same, cross = [], []
    for a in lab.pods:
        for b in lab.pods:
            if a.name != b.name:
                (same if a.node == b.node else cross).append((a.name, b.name))
    node_pod = [(n.name, p.name) for n in lab.nodes for p in lab.pods]
    return {"same": same, "cross": cross, "node_pod": node_pod}


def pytest_generate_tests(metafunc):
    lab = lab_from_config(metafunc.config)
    if lab is None:
        return
    pairs = _pairs(lab)
    short = lambda n: n.removeprefix(f"{lab.name}-")  # noqa: E731
    for fixture, kind in (("same_node_pair", "same"), ("cross_node_pair", "cross"), ("node_pod_pair", "node_pod")):
        if fixture in metafunc.fixturenames:
            values = pairs[kind]
            ids = [f"{short(a)}->{short(b)}" for a, b in values]
            metafunc.parametrize(fixture, values or [pytest.param(None, marks=pytest.mark.skip("no such pair"))], ids=ids or None)


def _probe(running_lab, node: str, prefix: str, target_pod: str):
    lab = running_lab.lab
    p = lab.pod(target_pod)
    host = running_lab.host(node)
    ping = host.run(f"{prefix}ping -c1 -W2 {p.ip}")
    assert ping.rc == 0, f"ping {p.ip} ({target_pod}) from {node} {prefix or ''}failed:\n{ping.stdout}{ping.stderr}"
    http = host.run(f"{prefix}curl -s -m3 http://{p.ip}:80/")
    want = f"PodName: {target_pod} | PodIP: eth0 {p.ip}/32"
    assert http.stdout.strip() == want, f"curl {p.ip}:80 from {node}: expected {want!r}, got {http.stdout!r} {http.stderr!r}"


def test_pod_to_pod_same_node(running_lab, same_node_pair):
    src, dst = same_node_pair
    _probe(running_lab, running_lab.lab.pod(src).node, f"ip netns exec {src} ", dst)


def test_pod_to_pod_cross_node(running_lab, cross_node_pair):
    src, dst = cross_node_pair
    _probe(running_lab, running_lab.lab.pod(src).node, f"ip netns exec {src} ", dst)


def test_node_to_pod(running_lab, node_pod_pair):
    node, dst = node_pod_pair
    _probe(running_lab, node, "", dst)
