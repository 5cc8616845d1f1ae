"""BPF masquerade (to-netdev / from-netdev) and BPF vs legacy host routing."""
from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import Ether

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.maps import (
    TC_ACT_OK, TC_ACT_REDIRECT, TUPLE_F_IN, TUPLE_F_OUT, Direction, NatEntry, ObsPoint, nat_entries,
)

pytestmark = needs_root
TO_NETDEV = "cil_to_netdev"
FROM_NETDEV = "cil_from_netdev"
LXC = "cil_from_container"
A_MACS = (lab.POD_A.node_mac, lab.POD_A.mac)
WORLD_MAC = "02:42:c6:33:64:01"


def nat(sb) -> list[NatEntry]:
    import dataclasses

    return sorted((dataclasses.replace(e, created=0) for e in nat_entries(sb.dump_map_json("cilium_snat_v4_external"))),
                  key=lambda e: e.flags)


def leaving(src: str, dst: str, sport: int = 40000, dport: int = 80) -> bytes:
    # As eth0 transmits it: the node's MAC toward the next hop.
    return lab.tcp_frame(src, sport, dst, dport, src_mac=lab.NODE.node_mac, dst_mac=WORLD_MAC, ttl=63)


def world_reply(to_port: int, sport: int = 80) -> bytes:
    return lab.tcp_frame(lab.WORLD_HOST, sport, lab.NODE.node_ip, to_port, src_mac=WORLD_MAC, dst_mac=lab.NODE.node_mac,
                         flags="SA", payload=b"hello")


@pytest.mark.parametrize("dp", ["vxlan_dp", "native_dp"])
def test_pod_to_world_is_masqueraded_and_the_reply_comes_back(dp, request):
    sb = request.getfixturevalue(dp)
    frame = leaving(lab.POD_A.ip, lab.WORLD_HOST)
    res = sb.run(TO_NETDEV, frame)

    assert res.retval == TC_ACT_OK
    assert res.data == lab.translated(frame, src=lab.NODE.node_ip, sport=40000, ttl_dec=0)
    assert nat(sb) == [
        NatEntry(lab.POD_A.ip, 40000, lab.WORLD_HOST, 80, 6, TUPLE_F_OUT, lab.NODE.node_ip, 40000),
        NatEntry(lab.WORLD_HOST, 80, lab.NODE.node_ip, 40000, 6, TUPLE_F_IN, lab.POD_A.ip, 40000),
    ]
    # The same flow keeps its mapping.
    assert sb.run(TO_NETDEV, frame).data == res.data

    reply = world_reply(40000)
    res = sb.run(FROM_NETDEV, reply)
    if dp == "native_dp":  # BPF host routing: delivered straight into the pod
        assert res.retval == TC_ACT_REDIRECT
        assert res.data == lab.translated(reply, dst=lab.POD_A.ip, dport=40000, macs=A_MACS)
    else:  # legacy: back to the stack, which routes it to cilium_host
        assert res.retval == TC_ACT_OK
        assert res.data == lab.translated(reply, dst=lab.POD_A.ip, dport=40000, ttl_dec=0)


def test_masquerade_port_outside_the_range_is_reallocated(native_dp):
    frame = leaving(lab.POD_A.ip, lab.WORLD_HOST, sport=1025)
    out = Ether(native_dp.run(TO_NETDEV, frame).data)
    port = out[TCP].sport
    assert out[IP].src == lab.NODE.node_ip and 32768 <= port <= 65535
    assert bytes(out) == lab.translated(frame, src=lab.NODE.node_ip, sport=port, ttl_dec=0)
    reply = world_reply(port)
    res = native_dp.run(FROM_NETDEV, reply)
    assert res.data == lab.translated(reply, dst=lab.POD_A.ip, dport=1025, macs=A_MACS)


def test_two_pods_with_the_same_port_get_different_ports(native_dp):
    a = Ether(native_dp.run(TO_NETDEV, leaving(lab.POD_A.ip, lab.WORLD_HOST)).data)
    b = Ether(native_dp.run(TO_NETDEV, leaving(lab.POD_B.ip, lab.WORLD_HOST)).data)
    assert a[IP].src == b[IP].src == lab.NODE.node_ip
    assert a[TCP].sport == 40000 and b[TCP].sport != 40000 and 32768 <= b[TCP].sport <= 65535
    back = native_dp.run(FROM_NETDEV, world_reply(b[TCP].sport)).data
    assert Ether(back)[IP].dst == lab.POD_B.ip and Ether(back)[TCP].dport == 40000


def test_ping_to_the_world_is_masqueraded(native_dp):
    ping = bytes(Ether(src=lab.NODE.node_mac, dst=WORLD_MAC) / IP(src=lab.POD_A.ip, dst=lab.WORLD_HOST, ttl=63)
                 / ICMP(type=8, id=4242, seq=1) / b"cnilab")
    res = native_dp.run(TO_NETDEV, ping)
    assert res.retval == TC_ACT_OK
    out = Ether(res.data)
    # The echo identifier plays the source port: 4242 is outside 32768..65535, so it changes.
    ident = out[ICMP].id
    assert out[IP].src == lab.NODE.node_ip and 32768 <= ident <= 65535
    assert bytes(out) == lab.translated(ping, src=lab.NODE.node_ip, sport=ident, ttl_dec=0)

    pong = bytes(Ether(src=WORLD_MAC, dst=lab.NODE.node_mac) / IP(src=lab.WORLD_HOST, dst=lab.NODE.node_ip, ttl=64)
                 / ICMP(type=0, id=ident, seq=1) / b"cnilab")
    res = native_dp.run(FROM_NETDEV, pong)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(pong, dst=lab.POD_A.ip, dport=4242, macs=A_MACS)


@pytest.mark.parametrize("dst", [lab.REMOTE_POD_IP, "10.0.0.5", "10.200.0.1"], ids=["pod", "pod2", "in-cidr"])
@pytest.mark.parametrize("dp", ["vxlan_dp", "native_dp"])
def test_no_masquerade_inside_the_native_routing_cidr(dp, dst, request):
    sb = request.getfixturevalue(dp)
    frame = leaving(lab.POD_A.ip, dst)
    res = sb.run(TO_NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert nat(sb) == []


def test_native_routing_does_not_masquerade_to_other_nodes(native_dp):
    frame = leaving(lab.POD_A.ip, lab.CONTROL_PLANE_IP, dport=32000)
    res = native_dp.run(TO_NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_tunnel_mode_masquerades_to_other_nodes(vxlan_dp):
    # Cilium: in tunnel mode a pod's packet to a node leaves natively, so it is masqueraded.
    frame = leaving(lab.POD_A.ip, lab.CONTROL_PLANE_IP, dport=32000)
    res = vxlan_dp.run(TO_NETDEV, frame)
    assert res.data == lab.translated(frame, src=lab.NODE.node_ip, sport=40000, ttl_dec=0)


@pytest.mark.parametrize("src", [lab.NODE.node_ip, lab.NODE.router_ip, "10.0.2.99"], ids=["node", "router", "unknown"])
def test_only_local_pods_are_masqueraded(native_dp, src):
    frame = leaving(src, lab.WORLD_HOST)
    res = native_dp.run(TO_NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_legacy_mode_has_no_bpf_masquerade(legacy_dp):
    frame = leaving(lab.POD_A.ip, lab.WORLD_HOST)
    res = legacy_dp.run(TO_NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert nat(legacy_dp) == []


# --- host routing: BPF vs legacy -------------------------------------------------

def test_bpf_host_routing_redirects_pod_traffic_to_eth0(native_dp):
    for dst in (lab.REMOTE_POD_IP, lab.WORLD_HOST):
        frame = lab.tcp_frame(lab.POD_A.ip, 40000, dst, 80)
        res = native_dp.run(LXC, frame)
        # bpf_redirect_neigh(eth0): routed in BPF (TTL-1), MACs from the neighbour table.
        assert res.retval == TC_ACT_REDIRECT
        assert res.data == lab.translated(frame)
    assert lab.counted(native_dp, point=ObsPoint.FROM_CONTAINER, verdict=TC_ACT_REDIRECT) == 2
    assert lab.counted(native_dp, point=ObsPoint.FROM_CONTAINER, verdict=TC_ACT_OK) == 0


def test_legacy_host_routing_hands_pod_traffic_to_the_stack(legacy_dp):
    for dst in (lab.REMOTE_POD_IP, lab.WORLD_HOST):
        frame = lab.tcp_frame(lab.POD_A.ip, 40000, dst, 80)
        res = legacy_dp.run(LXC, frame)
        assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert lab.counted(legacy_dp, point=ObsPoint.FROM_CONTAINER, verdict=TC_ACT_OK) == 2


def test_bpf_host_routing_keeps_traffic_for_the_node_on_the_stack(native_dp):
    for dst in (lab.NODE.node_ip, lab.NODE.router_ip):
        frame = lab.tcp_frame(lab.POD_A.ip, 40000, dst, 22)
        res = native_dp.run(LXC, frame)
        assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_bpf_host_routing_delivers_from_eth0_to_the_pod(native_dp):
    frame = lab.tcp_frame(lab.REMOTE_POD_IP, 80, lab.POD_A.ip, 40000, src_mac="02:42:ac:12:00:04",
                          dst_mac=lab.NODE.node_mac, flags="SA")
    res = native_dp.run(FROM_NETDEV, frame)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, macs=A_MACS)
    assert lab.counted(native_dp, point=ObsPoint.FROM_NETDEV, direction=Direction.INGRESS,
                       verdict=TC_ACT_REDIRECT) == 1


def test_legacy_host_routing_leaves_eth0_traffic_to_the_stack(legacy_dp):
    frame = lab.tcp_frame(lab.REMOTE_POD_IP, 80, lab.POD_A.ip, 40000, src_mac="02:42:ac:12:00:04",
                          dst_mac=lab.NODE.node_mac, flags="SA")
    res = legacy_dp.run(FROM_NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert lab.counted(legacy_dp, point=ObsPoint.FROM_NETDEV, verdict=TC_ACT_OK) == 1


def test_to_netdev_counts_under_its_own_point(any_dp):
    any_dp.run(TO_NETDEV, leaving(lab.NODE.node_ip, lab.WORLD_HOST))
    assert lab.counted(any_dp, point=ObsPoint.TO_NETDEV, direction=Direction.EGRESS, verdict=TC_ACT_OK) == 1


# --- maps shared by every object -------------------------------------------------

NEW_MAPS = ("cilium_lb4_services_v2", "cilium_lb4_backends_v2", "cilium_lb4_reverse_nat", "cilium_ct4_global",
            "cilium_snat_v4_external")


def test_new_maps_are_one_instance_shared_by_all_programs(any_dp):
    ids = {name: any_dp.bpftool("map", "show", "pinned", any_dp.map_path(name), json_out=True)["id"]
           for name in NEW_MAPS}
    assert len(set(ids.values())) == len(NEW_MAPS)
    progs = {name: set(any_dp.bpftool("prog", "show", "pinned", path, json_out=True).get("map_ids", []))
             for name, path in any_dp.programs.items()}
    assert {"cil_from_netdev", "cil_to_netdev"} <= set(progs)
    for name in ("cil_from_container", "cil_from_netdev"):
        assert ids["cilium_ct4_global"] in progs[name]
    assert ids["cilium_lb4_services_v2"] in progs["cil_from_container"]
    if any_dp.mode != "legacy":
        assert ids["cilium_snat_v4_external"] in progs["cil_to_netdev"]


@pytest.mark.parametrize("dp", ["vxlan_dp", "native_dp"])
def test_only_ports_of_the_nat_range_are_looked_up_for_a_reply(dp, request):
    # Mappings always get a port of 32768..65535 (Cilium's snat_v4_rev_nat_can_skip): a
    # packet to the node on another port (VXLAN's 8472 here) answers no translated flow,
    # even if an entry with that port were planted, and passes untouched.
    sb = request.getfixturevalue(dp)
    planted = NatEntry(lab.WORLD_HOST, 80, lab.NODE.node_ip, 8472, 6, TUPLE_F_IN, lab.POD_A.ip, 40000)
    sb.update_map("cilium_snat_v4_external", planted.pack_key(), planted.pack_value())
    frame = world_reply(8472)
    assert (sb.run(FROM_NETDEV, frame).retval, sb.run(FROM_NETDEV, frame).data) == (TC_ACT_OK, frame)


def test_the_nodes_own_traffic_is_not_masqueraded(vxlan_dp):
    # A VXLAN packet of the node itself on its way out of eth0.
    frame = leaving(lab.NODE.node_ip, lab.REMOTE_NODE_IP, sport=50000, dport=8472)
    assert (vxlan_dp.run(TO_NETDEV, frame).retval, vxlan_dp.run(TO_NETDEV, frame).data) == (TC_ACT_OK, frame)
    assert nat(vxlan_dp) == []
