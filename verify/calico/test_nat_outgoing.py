"""natOutgoing (seed 003's ping to the outside): a pod reaches the lab's world host from its
node's address, through Felix's cali-nat-outgoing rule and ipsets."""

import re

import pytest

from cnilab.cni.calico import felix, nat

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_pod_reaches_the_world_masqueraded(running_lab, lab, pod):
    p = lab.pod(pod)
    out = running_lab.host(p.node).run("ip netns exec %s curl -s -m3 http://%s/", pod, str(lab.world.ip))
    if lab.mode.nat_outgoing:
        want = f"World: {lab.world.ip} | ClientIP: {lab.node(p.node).ip}"
        assert out.stdout.strip() == want, f"{pod} -> {lab.world.ip}: expected {want!r}, got {out.stdout!r} {out.stderr!r}"
    else:
        assert out.stdout.strip() == "", f"{pod} reached the world though the pool has no natOutgoing: {out.stdout!r}"


def test_felix_nat_rules_and_ipsets(running_lab, lab, node):
    host = running_lab.host(node)
    rules = [r for r in host.iptables.rules("nat") if r.startswith("-A ") and re.search(r"cali[-:]", r)]
    _, _, want = nat.nat_rules(lab, node)
    # iptables-save lists chains in its own order; within a chain, order is the rules' own.
    by_chain = lambda lines: {c: [r for r in lines if r.split()[1] == c] for c in {r.split()[1] for r in lines}}  # noqa: E731
    assert by_chain(rules) == by_chain(want), f"{node}: nat rules\n expected {want}\n got      {rules}"
    saved = host.run("ipset save").stdout.splitlines()
    got = {line.split()[2] for line in saved if line.startswith("add ")} | set()
    sets = {line.split()[1] for line in saved if line.startswith("create ")}
    assert sets == set(nat.ipsets(lab)), f"{node}: ipsets {sorted(sets)}, expected {sorted(nat.ipsets(lab))}"
    assert str(lab.mode.pool) in got and felix.SET_ALL_POOLS in sets
