"""`cilium monitor -vv` of a cross-node ping (seed 000), read from the nodes' own
cilium_events while a pod pings a pod of another node: every line on both nodes, in order,
as the lab's model predicts it (cnilab/cni/cilium/monitor_expect.py)."""

import random

import pytest

from cnilab.cni.cilium import monitor, monitor_expect
from cnilab.cni.cilium.monitor_format import format_sample
from cnilab.verify import cross_node_pair

pytestmark = pytest.mark.lab_only  # the lab's own events map; a real node has the agent's


def _lines(host, text: str) -> list[str]:
    names = monitor.ifnames(host.check_output("ip -j link show"))
    out = []
    for event in monitor.events(text):
        out += format_sample(event, 2, names).split("\n")
    return [line for line in out if line]


def test_a_cross_node_ping_reads_as_seed_000(running_lab, lab):
    pair = cross_node_pair(lab)
    why = monitor_expect.applies(lab) or (None if pair else "no two pods on different nodes")
    if why:
        pytest.skip(why)
    src, dst = pair
    a, b = running_lab.host(src.node), running_lab.host(dst.node)
    # A ping before: the node's VXLAN flow is then known (seed 000 shows it established).
    a.run("ip netns exec %s ping -c1 -W2 %s", src.name, str(dst.ip))
    pids = {}
    for node, host in ((src.node, a), (dst.node, b)):
        pids[node] = int(host.check_output(monitor.start_capture()))
    # An echo id of its own: a recent ping with the same id (a node's ping ids start over
    # when its namespace is made again) would find its conntrack entry, not a new flow.
    echo_id = random.SystemRandom().randrange(1024, 65536)
    try:
        ping = a.run("ip netns exec %s ping -c1 -W2 -e %s %s", src.name, str(echo_id), str(dst.ip))
        assert ping.rc == 0, f"{src.name} -> {dst.name}: {ping.stdout}{ping.stderr}"
    finally:
        caught = {node: host.check_output(monitor.stop_capture(pids[node])) for node, host in ((src.node, a), (dst.node, b))}
    want_src, want_dst = monitor_expect.cross_node_ping(lab, src, dst, echo_id)
    problems = []
    for node, host, want in ((src.node, a, want_src), (dst.node, b, want_dst)):
        got = _lines(host, caught[node])
        wrong = monitor_expect.mismatch(want, got)
        if wrong:
            problems.append(f"{node}: {wrong}\n" + "\n".join(got))
    assert not problems, "\n\n".join(problems)
