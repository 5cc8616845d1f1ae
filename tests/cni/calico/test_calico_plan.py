"""The Calico plan against seed 003's own text: the `ip route` lines of each node in each
mode (but the default route, which in a lab goes to the lab's world host, and the node's
NIC, ens3 there and eth0 here), the pods' addresses and cali veths, the VTEP MAC, the BGP
peers of a mesh and of route reflectors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnilab.model import load_lab
from cnilab.model.declaration import DeclarationError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def seed(name: str) -> list[str]:
    """A command's output from seed 003 (fixtures/README.md), without the prompt line."""
    return (FIXTURES / name).read_text().splitlines()[1:]


def calico_lines(lines: list[str]) -> set[str]:
    """The seed's lines that are Calico's: not the default route, the NIC's subnet, docker0."""
    return {
        line.replace(" dev ens3", " dev eth0")
        for line in lines
        if not line.startswith(("default ", "172.17.0.0/16 ", "172.18.0.0/24 ")) and " dev docker0 " not in line
    }


def lines_of(lab, node: str) -> set[str]:
    return {r.line() for r in lab.node_routes(node) if r.dst != "default"}


def test_ipip_routes_are_the_seeds():
    lab = load_lab("calico_ipip").cni
    assert lines_of(lab, "calico-ipip-controlplane") == calico_lines(seed("seed003_ip_route_ipip_controlplane.txt"))
    assert lines_of(lab, "calico-ipip-node01") == calico_lines(seed("seed003_ip_route_ipip_node01.txt"))


def test_no_encapsulation_routes_are_the_seeds():
    lab = load_lab("calico_bgp").cni
    assert lines_of(lab, "calico-bgp-controlplane") == calico_lines(seed("seed003_ip_route_noencap_controlplane.txt"))


def test_vxlan_routes_and_vtep_are_the_seeds():
    lab = load_lab("calico_vxlan").cni
    # That run's pods were others (seed: calif5cc38277c7, cali840c047460a): compare the rest.
    want = {line for line in calico_lines(seed("seed003_ip_route_vxlan_controlplane.txt")) if " dev cali" not in line}
    got = {line for line in lines_of(lab, "calico-vxlan-controlplane") if " dev cali" not in line}
    assert got == want
    ifconfig = (FIXTURES / "seed003_ifconfig_vxlan_calico_node01.txt").read_text()
    assert lab.node("calico-vxlan-node01").vxlan_mac == re.search(r"ether (\S+)", ifconfig)[1]
    assert lab.vxlan_neighbours("calico-vxlan-controlplane") == [("192.168.196.128", "66:aa:99:2f:dc:24")]
    assert lab.vxlan_fdb("calico-vxlan-controlplane") == [("66:aa:99:2f:dc:24", "172.17.0.40")]
    assert lab.mode.mtu == 1440 and not lab.mode.bird and lab.bird_routes("calico-vxlan-controlplane") == []


def test_pods_and_veths_are_the_seeds():
    lab = load_lab("calico_ipip").cni
    # calicoctl get workloadendpoints: WORKLOAD NODE NETWORKS INTERFACE
    rows = {line.split()[0]: line.split()[1:] for line in seed("seed003_workloadendpoints.txt") if line.strip()}
    for name, (node, network, iface) in rows.items():
        p = lab.pod(name)
        assert (lab.node(p.node).k8s_name, f"{p.ip}/32", p.veth) == (node, network, iface)


def test_mesh_peers_and_passive_side():
    lab = load_lab("calico_ipip").cni
    (peer,) = lab.peers("calico-ipip-controlplane")
    assert (peer.name, str(peer.ip), peer.passive) == ("Mesh_172_17_0_40", "172.17.0.40", True)
    (peer,) = lab.peers("calico-ipip-node01")
    assert (peer.name, str(peer.ip), peer.passive) == ("Mesh_172_17_0_32", "172.17.0.32", False)


def test_route_reflector_clients_do_not_mesh():
    lab = load_lab("calico_rr").cni
    reflectors = {n.name for n in lab.nodes if n.rr_cluster_id}
    assert len(reflectors) == 2
    for n in lab.nodes:
        peers = {p.node for p in lab.peers(n.name)}
        k8s_reflectors = {lab.node(r).k8s_name for r in reflectors}
        if n.name in reflectors:
            # every other node; rr client towards the clients only
            assert peers == {o.k8s_name for o in lab.nodes} - {n.k8s_name}
            assert {p.node for p in lab.peers(n.name) if p.rr_client} == {o.k8s_name for o in lab.nodes if o.name not in reflectors}
        else:
            assert peers == k8s_reflectors and not any(p.rr_client for p in lab.peers(n.name))


def test_tunnel_address_is_ordinal_zero_and_pods_follow():
    lab = load_lab("calico_ipip").cni
    for n in lab.nodes:
        assert n.tunnel_ip == n.block.network_address
        ips = sorted(p.ip for p in lab.pods_on(n.name))
        assert ips == [n.block.network_address + 1 + i for i in range(len(ips))]


def test_a_reflector_needs_a_peering():
    import copy

    import yaml

    from cnilab.model import build_lab, parse_declaration

    path = Path(__file__).resolve().parents[3] / "inventories" / "calico_rr.yaml"
    data = yaml.safe_load(path.read_text())
    data["cni"]["resources"] = [r for r in data["cni"]["resources"] if r["kind"] != "BGPPeer"]
    with pytest.raises(DeclarationError, match="no BGPPeer sets up sessions"):
        build_lab(parse_declaration(copy.deepcopy(data)), "test")
