"""Pod traffic leaving the cluster takes its node's address (seeds 000, 001, 004).

The world is a lab host with a TEST-NET address (198.51.100.1) that knows no pod CIDR:
it answers only masqueraded traffic, and says which source it saw. Who masquerades is
the mode's: iptables (Cilium's CILIUM_POST_nat MASQUERADE; the NAT sits in the node's
conntrack) or BPF (the NAT sits in cilium_snat_v4_external; no MASQUERADE rule at all).
"""

import re
import threading

import pytest

import readers

from cnilab.cni.cilium.maps import PIN_DIR

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)

SNAT_MAP = "cilium_snat_v4_external"


def _to_world(running_lab, lab, pod):
    p = lab.pod(pod)
    if lab.mode.masquerade == "bpf":
        # Asked for, so it must be there: a missing map fails the check, never skips it.
        assert SNAT_MAP in readers.pinned_maps(running_lab.host(p.node)), f"{p.node}: BPF masquerade, yet {SNAT_MAP} is not pinned"
    out = running_lab.host(p.node).run("ip netns exec %s curl -s -m3 %s", pod, f"http://{lab.world.ip}/")
    return p, out


def test_pod_to_world_takes_the_node_address(running_lab, lab, pod):
    if lab.mode.masquerade is None:
        pytest.skip("masquerade disabled")
    p, out = _to_world(running_lab, lab, pod)
    want = f"World: {lab.world.ip} | ClientIP: {lab.node(p.node).ip}"
    assert out.stdout.strip() == want, f"{pod} -> {lab.world.ip}: expected {want!r}, got {out.stdout!r} {out.stderr!r}"


def test_the_nat_is_where_the_mode_puts_it(running_lab, lab, pod):
    if lab.mode.masquerade is None:
        pytest.skip("masquerade disabled")
    p, out = _to_world(running_lab, lab, pod)
    node_ip = str(lab.node(p.node).ip)
    masq_rules = [r for r in running_lab.host(p.node).iptables.rules("nat") if "cilium masquerade" in r]
    if lab.mode.masquerade == "iptables":
        assert masq_rules, f"{p.node}: iptables masquerade but no CILIUM_POST_nat MASQUERADE rule"
        ct = running_lab.host(p.node).run("grep %s /proc/net/nf_conntrack", f"src={p.ip} dst={lab.world.ip} ").stdout
        # the reply direction of a masqueraded flow comes back to the node, not the pod
        assert re.search(rf"src={lab.world.ip} dst={node_ip} ", ct), f"{p.node} conntrack has no NAT of {p.ip} -> {lab.world.ip}:\n{ct}"
    else:
        assert not masq_rules, f"{p.node}: BPF masquerade, yet iptables masquerades: {masq_rules}"
        dump = running_lab.host(p.node).run("bpftool -j map dump pinned %s", f"{PIN_DIR}/{SNAT_MAP}")
        assert dump.rc == 0 and dump.stdout.strip() not in ("", "[]"), f"{p.node}: {SNAT_MAP} holds no NAT entry"


def test_pod_to_the_control_plane_keeps_its_address(running_lab, lab):
    """Natively routed with BPF masquerade, a pod's packet to another node is not masqueraded,
    the kube-apiserver's node (reserved identity 7 in the ipcache) included: the control
    plane's eth0 sees the pod's own address."""
    if lab.mode.masquerade != "bpf" or lab.mode.tunnelled:
        # iptables masquerade (1.13's CILIUM_POST_nat) translates whatever leaves the
        # native-routing CIDR, nodes included; in a tunnel, pod traffic to nodes is the stack's.
        pytest.skip("not BPF masquerade in native routing")
    cp = next(n for n in lab.nodes if n.role == "control-plane")
    src = next((p for p in lab.pods if p.node != cp.name), None)
    if src is None:
        pytest.skip("no pod off the control-plane node")
    got = _src_seen_by(running_lab, cp, src)
    assert got == str(src.ip), f"{src.name} -> {cp.name} ({cp.ip}): the control plane saw {got}, not the pod's {src.ip}"


def _src_seen_by(running_lab, cp, src) -> str | None:
    """The source address of the first echo request the control plane's eth0 sees while
    `src` pings it (the capture runs in the background on the control plane)."""
    result: dict = {}
    cp_host, src_host = running_lab.host(cp.name), running_lab.host(src.node)

    def capture():
        result["out"] = cp_host.run(
            "timeout 10 tcpdump --immediate-mode -pn -i eth0 -c 1 %s 2>/dev/null", f"icmp[icmptype] = icmp-echo and dst host {cp.ip}"
        ).stdout

    t = threading.Thread(target=capture)
    t.start()
    for _ in range(20):  # until tcpdump listens: each ping is answered or not, the capture takes the first
        src_host.run("ip netns exec %s ping -c1 -W1 %s", src.name, str(cp.ip))
        t.join(0.25)
        if not t.is_alive():
            break
    t.join()
    m = re.search(r"IP (\d+\.\d+\.\d+\.\d+) > ", result.get("out", ""))
    return m.group(1) if m else None
