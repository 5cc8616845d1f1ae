"""Services as the lab's mode does them (seed 004): kube-proxy's iptables rules when kind
runs kube-proxy, Cilium's BPF load balancer when kube-proxy is replaced. From every pod,
each ClusterIP answers from one of its backends, and each NodePort answers on every node,
like the seed's `curl 172.18.0.3:32000` -> `PodName: evescn-qff5p | PodIP: eth0 10.0.2.210/32`."""

import re

import pytest

from cnilab.facts.bpf import PinnedMaps
from cnilab.facts.iptables import Table
from cnilab.pytest_plugin import lab_from_config

LB_MAP = "cilium_lb4_services_v2"
ANSWER = re.compile(r"^PodName: (\S+) \| PodIP: eth0 (\S+)/32$")


def _targets(lab):
    out = []
    for svc in lab.services:
        for port in svc.ports:
            out.append((svc.name, f"{svc.cluster_ip}:{port.port}", "cluster-ip"))
            if port.node_port:
                for n in lab.nodes:
                    out.append((svc.name, f"{n.ip}:{port.node_port}", f"nodeport-{n.name.removeprefix(lab.name + '-')}"))
    return out


def pytest_generate_tests(metafunc):
    lab = lab_from_config(metafunc.config)
    if lab is None or "service_probe" not in metafunc.fixturenames:
        return
    probes = [(p.name, *t) for p in lab.pods for t in _targets(lab)]
    metafunc.parametrize(
        "service_probe", probes or [pytest.param(None, marks=pytest.mark.skip("no services"))],
        ids=[f"{pod}->{svc}-{kind}" for pod, svc, _, kind in probes] or None,
    )  # fmt: skip


def test_service_answers_from_a_backend(running_lab, lab, service_probe):
    pod, svc_name, target, _ = service_probe
    if not lab.kube_proxy and LB_MAP not in running_lab.fact(lab.pod(pod).node, PinnedMaps):
        pytest.skip(f"kube-proxy is replaced but this lab has no BPF load balancer ({LB_MAP} is not pinned)")
    svc = next(s for s in lab.services if s.name == svc_name)
    backends = {b: str(lab.pod(b).ip) for b in svc.backends}
    out = running_lab.host(lab.pod(pod).node).run(f"ip netns exec {pod} curl -s -m3 http://{target}/")
    m = ANSWER.match(out.stdout.strip())
    assert m, f"{pod} -> {target} ({svc_name}): expected an answer from one of {sorted(backends)}, got {out.stdout!r} {out.stderr!r}"
    assert backends.get(m[1]) == m[2], f"{pod} -> {target}: answered by {m[1]} {m[2]}, not a backend of {svc_name}: {backends}"


def test_kube_rules_only_where_kube_proxy_runs(running_lab, lab, node):
    rules = [r for r in running_lab.fact(node, Table, table="nat")["rules"] if "KUBE-" in r]
    if lab.kube_proxy:
        assert rules, f"{node}: kube-proxy mode but no KUBE rules in the nat table"
    else:
        assert not rules, f"{node}: kube-proxy is replaced, yet the nat table holds {len(rules)} KUBE rules: {rules[:3]}"
