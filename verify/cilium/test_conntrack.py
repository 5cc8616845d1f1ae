"""Conntrack of the flows Cilium tracks (seed 001's `cilium bpf ct list global`): a pod's
ping to a pod of another node leaves an OUT entry on the sender's node and an IN entry on
the receiver's, both with the sender's identity and the echo and its reply counted."""

import re

import pytest

from cnilab.bpf.bpftool import PIN_DIR
from cnilab.cni.cilium.listing import LISTS
from cnilab.verify import cross_node_pair

pytestmark = pytest.mark.lab_only  # the lab's own maps, read with bpftool


def _ct_list(host) -> str:
    names, fmt = LISTS["ct"]
    return fmt([host.check_output("bpftool -j map dump pinned %s", f"{PIN_DIR}/{name}") for name in names])


def test_a_cross_node_ping_is_tracked_on_both_nodes(running_lab, lab):
    pair = cross_node_pair(lab)
    if pair is None:
        pytest.skip("no two pods on different nodes")
    src, dst = pair
    a, b = running_lab.host(src.node), running_lab.host(dst.node)
    ping = a.run("ip netns exec %s ping -c1 -W2 %s", src.name, str(dst.ip))
    assert ping.rc == 0, f"{src.name} -> {dst.name}: {ping.stdout}{ping.stderr}"
    found, problems = {}, []
    for node, host, way in ((src.node, a, "OUT"), (dst.node, b, "IN")):
        listing = _ct_list(host)
        pattern = (rf"^ICMP {way} {re.escape(str(src.ip))}:(\d+) -> {re.escape(str(dst.ip))}:0 expires=\d+ "
                   rf"RxPackets=[1-9]\d* .* TxPackets=[1-9]\d* .* SourceSecurityID={src.identity} ")
        found[node] = {m[1] for m in re.finditer(pattern, listing, re.M)}
        if not found[node]:
            problems.append(f"{node}: no `ICMP {way} {src.ip}:<id> -> {dst.ip}:0` entry with both packets counted "
                            f"and identity {src.identity}:\n{listing}")
    if not problems and not found[src.node] & found[dst.node]:
        problems.append(f"no echo id tracked on both nodes: {found}")
    assert not problems, "\n".join(problems)
