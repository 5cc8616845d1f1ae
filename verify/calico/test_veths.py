"""The cali veths (seed 003): MAC ee:ee:ee:ee:ee:ee, Felix's sysctls, and proxy ARP
answering the pod's ARP for its gateway 169.254.1.1 with that MAC."""

import json

import pytest

from cnilab.cni.calico.plan import HOST_VETH_MAC, POD_GATEWAY

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_veth_mac_and_mtu(running_lab, lab, pod):
    p = lab.pod(pod)
    out = running_lab.host(p.node).run("ip -j link show dev %s", p.veth)
    assert out.rc == 0, f"{p.node}: no {p.veth} for pod {pod}: {out.stderr}"
    link = json.loads(out.stdout)[0]
    got = (link["address"], link["mtu"], "UP" in link["flags"])
    assert got == (HOST_VETH_MAC, lab.mode.mtu, True), f"{p.veth} on {p.node}: expected {(HOST_VETH_MAC, lab.mode.mtu, True)}, got {got}"


def test_veth_sysctls(running_lab, lab, pod):
    p = lab.pod(pod)
    host = running_lab.host(p.node)
    want = {k: v for k, v in lab.sysctls([p.veth]).items() if p.veth in k}
    got = {k: str(host.sysctl(k)) for k in want}
    assert got == want, f"{p.node} {p.veth}: expected {want}, got {got}"


def test_gateway_is_answered_by_proxy_arp(running_lab, lab, pod):
    p = lab.pod(pod)
    host = running_lab.host(p.node)
    # Forget the gateway, then make the pod ask for it again: a packet to the lab's world
    # leaves by the default route (whether it is answered does not matter here).
    host.run("ip netns exec %s ip neigh flush dev eth0", pod)
    host.run("ip netns exec %s ping -c1 -W1 %s", pod, str(lab.world.ip))
    out = host.run("ip netns exec %s ip -j neigh show %s dev eth0", pod, POD_GATEWAY)
    entries = json.loads(out.stdout or "[]")
    got = [(e["dst"], e.get("lladdr")) for e in entries]
    assert got == [(POD_GATEWAY, HOST_VETH_MAC)], f"pod {pod}: ARP for {POD_GATEWAY} should be answered with {HOST_VETH_MAC}, got {got}"
