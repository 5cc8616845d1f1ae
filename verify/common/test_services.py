"""Services, whoever serves them (kube-proxy's iptables rules, or Cilium's BPF load balancer
where kube-proxy is replaced): from every pod, each ClusterIP answers from one of its
backends, and each NodePort answers on every node, like seed 000's `curl 172.18.0.3:32000`
-> `PodName: evescn-qff5p | PodIP: eth0 10.0.2.210/32`. Where kind runs kube-proxy, the nat
table holds exactly the rules kube-proxy writes; where it does not, none."""

import re

import pytest

from cnilab.kubeproxy import nat_rules
from cnilab.pytest_plugin import lab_from_config

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)

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
    metafunc.parametrize("service_probe", probes, ids=[f"{pod}->{svc}-{kind}" for pod, svc, _, kind in probes])


def test_service_answers_from_a_backend(running_lab, lab, service_probe):
    pod, svc_name, target, _ = service_probe
    svc = next(s for s in lab.services if s.name == svc_name)
    backends = {b: str(lab.pod(b).ip) for b in svc.backends}
    out = running_lab.host(lab.pod(pod).node).run("ip netns exec %s curl -s -m3 http://%s/", pod, target)
    m = ANSWER.match(out.stdout.strip())
    assert m, f"{pod} -> {target} ({svc_name}): expected an answer from one of {sorted(backends)}, got {out.stdout!r} {out.stderr!r}"
    assert backends.get(m[1]) == m[2], f"{pod} -> {target}: answered by {m[1]} {m[2]}, not a backend of {svc_name}: {backends}"


def test_kube_proxy_rules(running_lab, lab, node):
    got = [r for r in running_lab.host(node).iptables.rules("nat") if r.startswith("-A ") and "KUBE-" in r]
    want = nat_rules(lab)[1] if lab.kube_proxy else []
    by_chain = lambda lines: {c: [r for r in lines if r.split()[1] == c] for c in {r.split()[1] for r in lines}}  # noqa: E731
    assert by_chain(got) == by_chain(want), f"{node}: KUBE rules in the nat table differ from kube-proxy's:\n expected {want}\n got      {got}"
