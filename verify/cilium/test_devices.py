"""Cilium's devices on every node: cilium_host/cilium_net, cilium_vxlan (seed 002)."""

import pytest
import readers

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_cilium_host_and_net_are_a_veth_pair_without_arp(running_lab, node):
    links = readers.links(running_lab.host(node))
    for dev, peer in (("cilium_host", "cilium_net"), ("cilium_net", "cilium_host")):
        assert dev in links, f"{node}: no {dev} (links: {sorted(links)})"
        got = {k: links[dev][k] for k in ("kind", "peer", "noarp", "up", "mtu")}
        want = {"kind": "veth", "peer": peer, "noarp": True, "up": True, "mtu": 1500}
        assert got == want, f"{node} {dev}: expected {want}, got {got}"


def test_router_ip_on_cilium_host(running_lab, lab, node):
    want = [{"local": str(lab.node(node).router_ip), "prefixlen": 32, "scope": "link"}]
    got = readers.addresses(running_lab.host(node)).get("cilium_host")
    assert got == want, f"{node} cilium_host addresses: expected {want}, got {got}"


def test_cilium_vxlan_is_flow_based_on_8472(running_lab, lab, node):
    if not lab.mode.tunnelled:
        return
    link = readers.links(running_lab.host(node)).get("cilium_vxlan")
    assert link is not None, f"{node}: no cilium_vxlan"
    vxlan = {k: (link["vxlan"] or {}).get(k) for k in ("external", "port")}
    got = {"kind": link["kind"], "vxlan": vxlan, "up": link["up"], "mtu": link["mtu"]}
    want = {"kind": "vxlan", "vxlan": {"external": True, "port": 8472}, "up": True, "mtu": 1500}
    assert got == want, f"{node} cilium_vxlan: expected {want}, got {got}"


def test_pod_side_of_each_endpoint(running_lab, lab, pod):
    p = lab.pod(pod)
    host = running_lab.host(p.node)
    links = readers.links(host, netns=pod)
    eth0 = links.get("eth0")
    assert eth0 is not None, f"pod {pod}: no eth0 (links: {sorted(links)})"
    assert (eth0["mac"], eth0["up"]) == (p.mac, True), f"pod {pod} eth0: {eth0}"
    addrs = readers.addresses(host, netns=pod).get("eth0")
    assert addrs == [{"local": str(p.ip), "prefixlen": 32, "scope": "global"}], f"pod {pod} eth0: {addrs}"
    lxc = readers.links(host).get(p.lxc)
    assert lxc is not None and lxc["kind"] == "veth" and lxc["mac"] == p.lxc_mac and lxc["up"], f"{p.node} {p.lxc}: {lxc}"
