"""Host routing, told apart by a measurable fact (seed 004): with legacy host routing a pod's
packets to another node climb the node's IP stack, so the node's count of forwarded
datagrams (`Ip: ForwDatagrams` in /proc/net/snmp, per network namespace) moves; with BPF
host routing they are redirected in BPF and the stack never forwards them."""

import pytest

from cnilab.verify import cross_node_pair

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)

PINGS = 5


def _forwarded(host) -> int:
    out = host.run("grep '^Ip:' /proc/net/snmp").stdout.splitlines()
    assert len(out) == 2, f"cannot read /proc/net/snmp: {out!r}"
    fields = dict(zip(out[0].split()[1:], out[1].split()[1:]))
    return int(fields["ForwDatagrams"])


def test_pod_traffic_climbs_the_stack_only_with_legacy_host_routing(running_lab, lab):
    pair = cross_node_pair(lab)
    if pair is None:
        pytest.skip("no two pods on different nodes")
    src, dst = pair
    host = running_lab.host(src.node)
    before = _forwarded(host)
    ping = host.run("ip netns exec %s ping -c%s -i0.05 -W2 %s", src.name, str(PINGS), str(dst.ip))
    assert ping.rc == 0, f"{src.name} -> {dst.ip}: {ping.stdout}"
    moved = _forwarded(host) - before
    if lab.mode.host_routing == "bpf":
        assert moved == 0, f"BPF host routing, yet {src.node}'s stack forwarded {moved} datagrams"
    elif lab.mode.tunnelled:
        pytest.skip("legacy host routing with a tunnel: encapsulation is decided in BPF before the stack")
    else:
        assert moved >= PINGS, f"legacy host routing, yet only {moved} of {PINGS} echo requests went through {src.node}'s stack"
