"""kube-proxy replacement through BPF_PROG_TEST_RUN: ClusterIP at from-container,
NodePort at from-netdev, reverse NAT where the reply enters the client's pod."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.maps import (
    DROP_NO_SERVICE, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, TUPLE_F_IN, TUPLE_F_OUT, TUPLE_F_SERVICE, WORLD_ID,
    CtEntry, NatEntry, ObsPoint, ct_entries, nat_entries,
)

pytestmark = needs_root
LXC = "cil_from_container"
NETDEV = "cil_from_netdev"
OVERLAY = "cil_from_overlay"
HOST = "cil_from_host"
CLIENT_PORT = 40000  # in the SNAT range 32768..65535: NAT keeps it
B_MACS = (lab.POD_B.node_mac, lab.POD_B.mac)  # delivery to POD_B: lxc MAC -> pod MAC
A_MACS = (lab.POD_A.node_mac, lab.POD_A.mac)
B_ID = lab.BACKEND_IDS[(lab.POD_B.ip, 80)]


def ct(sb) -> list[CtEntry]:
    """The load balancer's conntrack entries: a flow's backend (TUPLE_F_SERVICE) and its
    translation (a rev_nat_index). The plain entries every tracked flow gets are
    conntrack's, tested in test_bpf_conntrack.py."""
    return [e for e in ct_entries(sb.dump_map_json("cilium_ct4_global")) if e.flags & 4 or e.rev_nat_index]


def plain_ct(sb, name: str = "cilium_ct4_global") -> list[CtEntry]:
    return [e for e in ct_entries(sb.dump_map_json(name)) if not (e.flags & 4 or e.rev_nat_index)]


def nat(sb) -> list[NatEntry]:
    return nat_entries(sb.dump_map_json("cilium_snat_v4_external"))


def strip(entries):
    """Entries without their timestamps (lifetime / created)."""
    import dataclasses

    out = []
    for e in entries:
        field = "lifetime" if isinstance(e, CtEntry) else "created"
        out.append(dataclasses.replace(e, **{field: 0}))
    return out


def backend_reply(frame: bytes, src_mac: str, dst_mac: str) -> bytes:
    """The backend's answer to the translated ``frame``: addresses and ports swapped."""
    pkt = Ether(frame)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
    ip = IP(src=pkt[IP].dst, dst=pkt[IP].src, ttl=64, id=0x3c3c)
    if TCP in pkt:
        new_l4 = TCP(sport=l4.dport, dport=l4.sport, flags="SA", seq=5000, ack=l4.seq + 1, window=65160)
    else:
        new_l4 = UDP(sport=l4.dport, dport=l4.sport)
    return bytes(Ether(src=src_mac, dst=dst_mac) / ip / new_l4 / b"HTTP/1.1 200 OK\r\n\r\n")


# --- ClusterIP -------------------------------------------------------------------

def test_clusterip_hit_is_dnated_to_the_local_backend(any_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_LOCAL.vip, 8080)
    res = any_dp.run(LXC, frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, dst=lab.POD_B.ip, dport=80, macs=B_MACS)
    assert sorted(strip(ct(any_dp)), key=lambda e: e.flags) == [
        CtEntry(lab.POD_A.ip, lab.POD_B.ip, 80, CLIENT_PORT, 6, TUPLE_F_OUT, backend_id=B_ID, rev_nat_index=1),
        CtEntry(lab.SVC_LOCAL.vip, lab.POD_A.ip, CLIENT_PORT, 8080, 6, TUPLE_F_SERVICE, backend_id=B_ID,
                rev_nat_index=1),
    ]


def test_clusterip_to_a_remote_backend_is_dnated_then_tunnelled(vxlan_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    res = vxlan_dp.run(LXC, frame)

    assert res.retval == TC_ACT_REDIRECT
    # Through the tunnel the frame keeps the pod's MACs and TTL.
    assert res.data == lab.translated(frame, dst=lab.REMOTE_POD_IP, dport=80, ttl_dec=0)
    key = lab.tunnel_key_set(vxlan_dp)
    assert (key["tunnel_id"], key["remote_ipv4"]) == (lab.POD_A.identity, 0xAC120004)


def test_clusterip_to_a_remote_backend_natively_goes_to_the_stack_in_legacy(legacy_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    res = legacy_dp.run(LXC, frame)
    assert res.retval == TC_ACT_OK
    assert res.data == lab.translated(frame, dst=lab.REMOTE_POD_IP, dport=80, ttl_dec=0)


def test_clusterip_to_a_remote_backend_natively_is_redirected_with_bpf_host_routing(native_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    res = native_dp.run(LXC, frame)
    # bpf_redirect_neigh: TTL-1 here, MACs from the neighbour table later.
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, dst=lab.REMOTE_POD_IP, dport=80)


@pytest.mark.parametrize("dst, dport", [("10.96.0.99", 8080), (lab.SVC_LOCAL.vip, 9999), (lab.WORLD_HOST, 8080)])
def test_clusterip_miss_leaves_the_packet_alone(legacy_dp, dst, dport):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, dst, dport)
    res = legacy_dp.run(LXC, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert ct(legacy_dp) == []


def test_service_without_backends_is_dropped_with_no_service(any_dp):
    res = any_dp.run(LXC, lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_EMPTY.vip, 80))
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(any_dp, point=ObsPoint.FROM_CONTAINER, reason=DROP_NO_SERVICE, verdict=TC_ACT_SHOT) == 1


@pytest.mark.parametrize("zero_csum", [False, True], ids=["udp-csum", "udp-no-csum"])
def test_udp_clusterip_and_its_reply(legacy_dp, zero_csum):
    query = lab.udp_frame(lab.POD_A.ip, 33333, lab.SVC_DNS.vip, 53, zero_csum=zero_csum)
    res = legacy_dp.run(LXC, query)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(query, dst=lab.POD_B.ip, dport=5353, macs=B_MACS)
    if zero_csum:
        assert Ether(res.data)[UDP].chksum == 0

    answer = lab.udp_frame(lab.POD_B.ip, 5353, lab.POD_A.ip, 33333, src_mac=lab.POD_B.mac, dst_mac=lab.POD_B.node_mac,
                           zero_csum=zero_csum)
    res = legacy_dp.run(LXC, answer)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(answer, src=lab.SVC_DNS.vip, sport=53, macs=A_MACS)


def test_reply_from_a_local_backend_is_reverse_nated(any_dp):
    request = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_LOCAL.vip, 8080)
    forwarded = any_dp.run(LXC, request).data
    reply = backend_reply(forwarded, lab.POD_B.mac, lab.POD_B.node_mac)

    res = any_dp.run(LXC, reply)  # from POD_B's lxc

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_LOCAL.vip, sport=8080, macs=A_MACS)
    assert Ether(res.data)[TCP].dport == CLIENT_PORT


def test_reply_from_a_remote_backend_through_the_tunnel_is_reverse_nated(vxlan_dp):
    request = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    vxlan_dp.run(LXC, request)
    lab.set_tunnel_key_received(vxlan_dp, 46188, lab.REMOTE_NODE_IP)
    reply = backend_reply(lab.translated(request, dst=lab.REMOTE_POD_IP, dport=80, ttl_dec=0),
                          "0a:58:0a:00:01:17", "0e:4f:10:00:01:17")

    res = vxlan_dp.run(OVERLAY, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_REMOTE.vip, sport=8080, macs=A_MACS)


def test_reply_from_a_remote_backend_through_the_stack_is_reverse_nated(legacy_dp):
    # Native, legacy: the reply climbs the stack and leaves through cilium_host.
    request = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    legacy_dp.run(LXC, request)
    reply = backend_reply(lab.translated(request, dst=lab.REMOTE_POD_IP, dport=80, ttl_dec=0),
                          lab.NODE.host_mac, lab.NODE.host_mac)

    res = legacy_dp.run(HOST, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_REMOTE.vip, sport=8080, macs=A_MACS)


def test_reply_from_a_remote_backend_at_from_netdev_is_reverse_nated(native_dp):
    # Native, BPF host routing: from-netdev delivers the reply itself.
    request = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_REMOTE.vip, 8080)
    native_dp.run(LXC, request)
    reply = backend_reply(lab.translated(request, dst=lab.REMOTE_POD_IP, dport=80, ttl_dec=0),
                          "02:42:ac:12:00:04", lab.NODE.node_mac)

    res = native_dp.run(NETDEV, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_REMOTE.vip, sport=8080, macs=A_MACS)
    assert lab.counted(native_dp, point=ObsPoint.FROM_NETDEV, verdict=TC_ACT_REDIRECT) == 1


def test_a_flow_keeps_its_backend_and_new_flows_spread(legacy_dp):
    def backend_of(sport: int) -> str:
        res = legacy_dp.run(LXC, lab.tcp_frame(lab.POD_A.ip, sport, lab.SVC_TWO.vip, 80))
        return Ether(res.data)[IP].dst

    first = backend_of(41000)
    assert {backend_of(41000) for _ in range(12)} == {first}
    assert {backend_of(42000 + i) for i in range(24)} == {lab.POD_B.ip, lab.REMOTE_POD_IP}


def test_a_flow_whose_backend_vanished_is_rebalanced(legacy_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_TWO.vip, 80)
    first = Ether(legacy_dp.run(LXC, frame).data)[IP].dst
    gone = lab.BACKEND_IDS[(first, 80)]
    other = lab.REMOTE_POD_IP if first == lab.POD_B.ip else lab.POD_B.ip
    legacy_dp.bpftool("map", "delete", "pinned", legacy_dp.map_path("cilium_lb4_backends_v2"),
                      "key", "hex", f"{gone:02x}", "00", "00", "00")
    # Both slots still point at ids; slot selection is random, the gone one finds no backend.
    seen = set()
    for _ in range(16):
        res = legacy_dp.run(LXC, frame)
        if res.retval != TC_ACT_SHOT:
            seen.add(Ether(res.data)[IP].dst)
    assert seen == {other}


# --- NodePort ----------------------------------------------------------------------

def netdev_frame(dport: int, sport: int = 45000, src: str = lab.EXTERNAL_CLIENT) -> bytes:
    return lab.tcp_frame(src, sport, lab.NODE.node_ip, dport, src_mac="02:42:ac:12:00:04", dst_mac=lab.NODE.node_mac)


def test_nodeport_to_a_local_backend_is_delivered_with_bpf_host_routing(native_dp):
    frame = netdev_frame(32000)
    res = native_dp.run(NETDEV, frame)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, dst=lab.POD_B.ip, dport=80, macs=B_MACS)
    assert CtEntry(lab.EXTERNAL_CLIENT, lab.POD_B.ip, 80, 45000, 6, TUPLE_F_OUT, backend_id=B_ID,
                   rev_nat_index=0x8001, node_port=True) in strip(ct(native_dp))


def test_nodeport_to_a_local_backend_climbs_the_stack_in_legacy(legacy_dp):
    frame = netdev_frame(32000)
    res = legacy_dp.run(NETDEV, frame)
    assert res.retval == TC_ACT_OK
    assert res.data == lab.translated(frame, dst=lab.POD_B.ip, dport=80, ttl_dec=0)


def test_nodeport_reply_from_a_local_backend_leaves_through_eth0(any_dp):
    forwarded = any_dp.run(NETDEV, netdev_frame(32000)).data
    reply = backend_reply(forwarded, lab.POD_B.mac, lab.POD_B.node_mac)

    res = any_dp.run(LXC, reply)

    # Source back to <node IP>:<nodePort>; bpf_redirect_neigh to eth0 in every
    # mode (the stack would drop a packet from its own address as martian).
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32000)
    assert Ether(res.data)[IP].dst == lab.EXTERNAL_CLIENT and Ether(res.data)[TCP].dport == 45000


@pytest.mark.parametrize("dp", ["native_dp", "legacy_dp"])
def test_nodeport_to_a_remote_backend_natively_is_snated_to_the_node(dp, request):
    sb = request.getfixturevalue(dp)
    frame = netdev_frame(32001)
    res = sb.run(NETDEV, frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, src=lab.NODE.node_ip, sport=45000, dst=lab.REMOTE_POD_IP, dport=80)
    assert sorted(strip(nat(sb)), key=lambda e: e.flags) == [
        NatEntry(lab.EXTERNAL_CLIENT, 45000, lab.REMOTE_POD_IP, 80, 6, TUPLE_F_OUT, lab.NODE.node_ip, 45000),
        NatEntry(lab.REMOTE_POD_IP, 80, lab.NODE.node_ip, 45000, 6, TUPLE_F_IN, lab.EXTERNAL_CLIENT, 45000),
    ]

    reply = backend_reply(res.data, "02:42:ac:12:00:04", lab.NODE.node_mac)
    res = sb.run(NETDEV, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32001, dst=lab.EXTERNAL_CLIENT, dport=45000)


def test_nodeport_snat_port_outside_the_range_is_reallocated(native_dp):
    frame = netdev_frame(32001, sport=1234)
    out = Ether(native_dp.run(NETDEV, frame).data)
    port = out[TCP].sport
    assert out[IP].src == lab.NODE.node_ip and 32768 <= port <= 65535
    assert lab.translated(frame, src=lab.NODE.node_ip, sport=port, dst=lab.REMOTE_POD_IP, dport=80) == bytes(out)
    out_entry = [e for e in nat(native_dp) if e.flags == TUPLE_F_OUT]
    assert [(e.to_addr, e.to_port) for e in out_entry] == [(lab.NODE.node_ip, port)]


def test_nodeport_to_a_remote_backend_through_the_tunnel(vxlan_dp):
    frame = netdev_frame(32001)
    res = vxlan_dp.run(NETDEV, frame)

    # SNAT to the router IP (Cilium's IPV4_GATEWAY in tunnel mode) so the
    # reply comes back through the tunnel; VNI = world.
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, src=lab.NODE.router_ip, sport=45000, dst=lab.REMOTE_POD_IP, dport=80,
                                      ttl_dec=0)
    key = lab.tunnel_key_set(vxlan_dp)
    assert (key["tunnel_id"], key["remote_ipv4"]) == (WORLD_ID, 0xAC120004)

    lab.set_tunnel_key_received(vxlan_dp, 46188, lab.REMOTE_NODE_IP)
    reply = backend_reply(res.data, "0a:58:0a:00:01:17", "0e:4f:10:00:01:17")
    res = vxlan_dp.run(OVERLAY, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32001, dst=lab.EXTERNAL_CLIENT, dport=45000)


def test_nodeport_of_the_own_node_ip_from_a_pod_is_translated_at_from_container(any_dp):
    # Seed 000: `curl <worker IP>:32000` from pod net on the worker.
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.NODE.node_ip, 32000)
    res = any_dp.run(LXC, frame)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, dst=lab.POD_B.ip, dport=80, macs=B_MACS)

    reply = backend_reply(res.data, lab.POD_B.mac, lab.POD_B.node_mac)
    res = any_dp.run(LXC, reply)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32000, macs=A_MACS)


def test_nodeport_of_another_node_from_a_pod_is_routed_unchanged(legacy_dp):
    # Seed 000: `curl <control-plane IP>:32000`: that node's from-netdev translates it.
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.CONTROL_PLANE_IP, 32000)
    res = legacy_dp.run(LXC, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


@pytest.mark.parametrize("dport", [22, 8472, 32002, 40000])
def test_other_traffic_to_the_node_passes_from_netdev(any_dp, dport):
    frame = netdev_frame(dport)
    res = any_dp.run(NETDEV, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


# --- Hairpin (service loopback) -------------------------------------------------------
#
# POD_A calls a service and the load balancer picks POD_A itself.  As Cilium
# (lb4_local's loopback case), the source becomes IPV4_LOOPBACK so the pod does
# not see a packet from its own address, the TUPLE_F_OUT entry is keyed by the
# reply to that address and marked lb_loopback, and both directions are
# delivered back into POD_A through its own lxc.

LOOPBACK = lab.SERVICE_LOOPBACK_IP
SELF_ID = lab.BACKEND_IDS[(lab.POD_A.ip, 80)]


def test_clusterip_to_itself_is_looped_back_into_the_pod(any_dp):
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_SELF.vip, 8080)
    res = any_dp.run(LXC, frame)

    # DNAT to the pod, SNAT to 169.254.42.1, routed back into the pod itself
    # (bpf_redirect_peer of its own lxc); scapy recomputed every checksum.
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, src=LOOPBACK, dst=lab.POD_A.ip, dport=80, macs=A_MACS)
    out = Ether(res.data)
    assert (out[IP].src, out[TCP].sport, out[IP].dst, out[TCP].dport) == (LOOPBACK, CLIENT_PORT, lab.POD_A.ip, 80)
    assert sorted(strip(ct(any_dp)), key=lambda e: e.flags) == [
        CtEntry(LOOPBACK, lab.POD_A.ip, 80, CLIENT_PORT, 6, TUPLE_F_OUT, backend_id=SELF_ID, rev_nat_index=6,
                loopback=True),
        CtEntry(lab.SVC_SELF.vip, lab.POD_A.ip, CLIENT_PORT, 8080, 6, TUPLE_F_SERVICE, backend_id=SELF_ID,
                rev_nat_index=6),
    ]
    assert lab.counted(any_dp, point=ObsPoint.FROM_CONTAINER, verdict=TC_ACT_REDIRECT) == 1


def test_reply_of_a_looped_back_flow_goes_back_to_the_pod_from_the_frontend(any_dp):
    request = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_SELF.vip, 8080)
    forwarded = any_dp.run(LXC, request).data
    # The pod answers 169.254.42.1 through its default route: from-container again.
    reply = backend_reply(forwarded, lab.POD_A.mac, lab.POD_A.node_mac)
    assert (Ether(reply)[IP].src, Ether(reply)[IP].dst) == (lab.POD_A.ip, LOOPBACK)

    res = any_dp.run(LXC, reply)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_SELF.vip, sport=8080, dst=lab.POD_A.ip, macs=A_MACS)
    out = Ether(res.data)
    assert (out[IP].src, out[TCP].sport, out[IP].dst, out[TCP].dport) == (
        lab.SVC_SELF.vip, 8080, lab.POD_A.ip, CLIENT_PORT)


def test_a_looped_back_tcp_flow_keeps_its_translation(legacy_dp):
    syn = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_SELF.vip, 8080, payload=b"")
    forwarded = legacy_dp.run(LXC, syn).data
    syn_ack = legacy_dp.run(LXC, backend_reply(forwarded, lab.POD_A.mac, lab.POD_A.node_mac))
    assert Ether(syn_ack.data)[IP].src == lab.SVC_SELF.vip

    ack = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.SVC_SELF.vip, 8080, flags="A")
    res = legacy_dp.run(LXC, ack)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(ack, src=LOOPBACK, dst=lab.POD_A.ip, dport=80, macs=A_MACS)
    assert len(ct(legacy_dp)) == 2  # no new entries for later packets


@pytest.mark.parametrize("zero_csum", [False, True], ids=["udp-csum", "udp-no-csum"])
def test_udp_to_itself_is_looped_back_and_answered(legacy_dp, zero_csum):
    query = lab.udp_frame(lab.POD_A.ip, 33333, lab.SVC_SELF_DNS.vip, 53, zero_csum=zero_csum)
    res = legacy_dp.run(LXC, query)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(query, src=LOOPBACK, dst=lab.POD_A.ip, dport=5353, macs=A_MACS)
    if zero_csum:
        assert Ether(res.data)[UDP].chksum == 0

    answer = lab.udp_frame(lab.POD_A.ip, 5353, LOOPBACK, 33333, zero_csum=zero_csum)
    res = legacy_dp.run(LXC, answer)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(answer, src=lab.SVC_SELF_DNS.vip, sport=53, dst=lab.POD_A.ip, macs=A_MACS)


def test_another_client_of_the_same_backend_is_not_looped_back(any_dp):
    # POD_B calls the service whose backend is POD_A: plain DNAT, source kept.
    request = lab.tcp_frame(lab.POD_B.ip, CLIENT_PORT, lab.SVC_SELF.vip, 8080, src_mac=lab.POD_B.mac,
                            dst_mac=lab.POD_B.node_mac)
    res = any_dp.run(LXC, request)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(request, dst=lab.POD_A.ip, dport=80, macs=A_MACS)
    assert CtEntry(lab.POD_B.ip, lab.POD_A.ip, 80, CLIENT_PORT, 6, TUPLE_F_OUT, backend_id=SELF_ID,
                   rev_nat_index=6) in strip(ct(any_dp))
    assert not any(e.loopback for e in ct(any_dp))

    reply = backend_reply(res.data, lab.POD_A.mac, lab.POD_A.node_mac)
    res = any_dp.run(LXC, reply)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.SVC_SELF.vip, sport=8080, macs=B_MACS)


def test_only_the_flows_that_pick_the_client_are_looped_back(legacy_dp):
    # SVC_PAIR: POD_A and POD_B.  Flows to POD_B keep POD_A's source.
    seen = set()
    for i in range(32):
        res = legacy_dp.run(LXC, lab.tcp_frame(lab.POD_A.ip, 43000 + i, lab.SVC_PAIR.vip, 80))
        assert res.retval == TC_ACT_REDIRECT
        out = Ether(res.data)
        seen.add((out[IP].src, out[IP].dst))
    assert seen == {(LOOPBACK, lab.POD_A.ip), (lab.POD_A.ip, lab.POD_B.ip)}
    outs = [e for e in ct(legacy_dp) if e.flags == TUPLE_F_OUT]
    assert all(e.loopback == (e.daddr == LOOPBACK) and e.saddr == (lab.POD_A.ip if e.loopback else lab.POD_B.ip)
               for e in outs)


def test_nodeport_of_the_own_node_to_itself_is_looped_back(any_dp):
    # `curl <own node IP>:32003` from POD_A, the only backend of that NodePort.
    frame = lab.tcp_frame(lab.POD_A.ip, CLIENT_PORT, lab.NODE.node_ip, 32003)
    res = any_dp.run(LXC, frame)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(frame, src=LOOPBACK, dst=lab.POD_A.ip, dport=80, macs=A_MACS)
    assert CtEntry(LOOPBACK, lab.POD_A.ip, 80, CLIENT_PORT, 6, TUPLE_F_OUT, backend_id=SELF_ID,
                   rev_nat_index=0x8006, loopback=True) in strip(ct(any_dp))

    reply = backend_reply(res.data, lab.POD_A.mac, lab.POD_A.node_mac)
    res = any_dp.run(LXC, reply)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32003, dst=lab.POD_A.ip, macs=A_MACS)


def test_a_stray_packet_to_the_loopback_address_is_left_alone(legacy_dp):
    # No looped-back flow: the pod's packet to 169.254.42.1 is not translated.
    frame = lab.tcp_frame(lab.POD_A.ip, 80, LOOPBACK, CLIENT_PORT, flags="SA")
    res = legacy_dp.run(LXC, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


@pytest.mark.parametrize("dp", ["native_dp", "legacy_dp", "vxlan_dp"])
def test_nodeport_request_from_the_remote_backend_itself_is_no_loopback(dp, request):
    # `curl <this node IP>:32001` from the remote pod that is the backend: this
    # node is not the client's, so no loopback -- SNAT to this node as for any
    # remote backend, and the pod sees a packet from this node.
    sb = request.getfixturevalue(dp)
    frame = netdev_frame(32001, src=lab.REMOTE_POD_IP)
    res = sb.run(NETDEV, frame)

    assert res.retval == TC_ACT_REDIRECT
    snat = lab.NODE.router_ip if dp == "vxlan_dp" else lab.NODE.node_ip
    assert res.data == lab.translated(frame, src=snat, sport=45000, dst=lab.REMOTE_POD_IP, dport=80,
                                      ttl_dec=0 if dp == "vxlan_dp" else 1)
    assert not any(e.loopback for e in ct(sb))

    if dp == "vxlan_dp":
        lab.set_tunnel_key_received(sb, 46188, lab.REMOTE_NODE_IP)
        reply, hook = backend_reply(res.data, "0a:58:0a:00:01:17", "0e:4f:10:00:01:17"), OVERLAY
    else:
        reply, hook = backend_reply(res.data, "02:42:ac:12:00:04", lab.NODE.node_mac), NETDEV
    res = sb.run(hook, reply)
    # Back to the client pod: through the tunnel (as is) or the native device (TTL-1).
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.translated(reply, src=lab.NODE.node_ip, sport=32001, dst=lab.REMOTE_POD_IP, dport=45000,
                                      ttl_dec=0 if dp == "vxlan_dp" else 1)
