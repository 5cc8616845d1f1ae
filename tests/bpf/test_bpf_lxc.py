"""from-container (bpf_lxc.o) through BPF_PROG_TEST_RUN."""
from __future__ import annotations

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Ether

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.maps import (
    DROP_INVALID, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, Direction, ObsPoint,
)
from cnilab.bpf.testrun import SandboxError

pytestmark = needs_root
PROG = "cil_from_container"


def test_arp_request_for_router_ip_is_answered_with_the_lxc_mac(datapath):
    res = datapath.run(PROG, lab.arp_request(lab.NODE.router_ip))

    expected = bytes(
        Ether(src=lab.POD_A.node_mac, dst=lab.POD_A.mac)
        / ARP(op=2, hwsrc=lab.POD_A.node_mac, psrc=lab.NODE.router_ip, hwdst=lab.POD_A.mac, pdst=lab.POD_A.ip)
    )
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == expected


def test_arp_request_for_any_other_ip_is_answered_too(datapath):
    res = datapath.run(PROG, lab.arp_request("10.0.2.1"))
    assert res.retval == TC_ACT_REDIRECT
    assert ARP(res.data[14:]).psrc == "10.0.2.1"
    assert ARP(res.data[14:]).hwsrc == lab.POD_A.node_mac


@pytest.mark.parametrize("frame", [
    pytest.param(lab.arp_request(lab.POD_A.ip), id="gratuitous-own-ip"),
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst=lab.POD_A.node_mac) / ARP(
        op=2, hwsrc=lab.POD_A.mac, psrc=lab.POD_A.ip, pdst=lab.NODE.router_ip)), id="arp-reply"),
    pytest.param(lab.arp_request(lab.NODE.router_ip)[:14 + 20], id="truncated-arp"),
])
def test_arp_we_do_not_answer_passes_unchanged(datapath, frame):
    res = datapath.run(PROG, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_local_delivery_rewrites_macs_and_decrements_ttl(datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.POD_B.ip)
    res = datapath.run(PROG, frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.routed(frame, lab.POD_B.node_mac, lab.POD_B.mac)
    assert IP(res.data[14:]).ttl == 63
    assert lab.counted(datapath, point=ObsPoint.FROM_CONTAINER, direction=Direction.EGRESS,
                       reason=0, verdict=TC_ACT_REDIRECT) == 1


@pytest.mark.parametrize("ttl", [2, 17, 64, 128, 255])
@pytest.mark.parametrize("options", [b"", b"\x01\x01\x01\x00"], ids=["ihl5", "ihl6"])
def test_ttl_decrement_keeps_the_ip_checksum_valid(datapath, ttl, options):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.POD_B.ip, ttl=ttl, options=options)
    res = datapath.run(PROG, frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.routed(frame, lab.POD_B.node_mac, lab.POD_B.mac)


def test_ttl_1_is_dropped_and_counted(datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.POD_B.ip, ttl=1)
    res = datapath.run(PROG, frame)
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(datapath, point=ObsPoint.FROM_CONTAINER, reason=DROP_INVALID) == 1


def test_router_ip_goes_to_the_stack(datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.NODE.router_ip)
    res = datapath.run(PROG, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_cross_node_is_redirected_to_cilium_vxlan_unchanged(datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.REMOTE_POD_IP)
    res = datapath.run(PROG, frame)

    # The real bpf_skb_set_tunnel_key accepted the key (else DROP_WRITE_ERROR),
    # and the inner frame keeps the pod's own MACs and TTL.
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == frame
    assert lab.counted(datapath, point=ObsPoint.FROM_CONTAINER, reason=0, verdict=TC_ACT_REDIRECT) == 1


def test_cross_node_tunnel_key_carries_identity_and_host_order_remote(mock_datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.REMOTE_POD_IP)
    res = mock_datapath.run(PROG, frame)

    assert res.retval == TC_ACT_REDIRECT
    key = lab.tunnel_key_set(mock_datapath)
    assert key["tunnel_id"] == lab.POD_A.identity
    assert key["remote_ipv4"] == 0xAC120004  # 172.18.0.4 in host byte order
    assert key["tunnel_ttl"] == 64


@pytest.mark.parametrize("dst", [lab.WORLD_IP, "10.0.2.99", lab.NODE.node_ip, "10.0.9.9"])
def test_unknown_destination_goes_to_the_stack_unchanged(datapath, dst):
    frame = lab.icmp_frame(lab.POD_A.ip, dst)
    res = datapath.run(PROG, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert lab.counted(datapath, point=ObsPoint.FROM_CONTAINER, verdict=TC_ACT_OK) == 1


def _eth(ethertype: int, payload: bytes = b"") -> bytes:
    return bytes(Ether(src=lab.POD_A.mac, dst=lab.POD_A.node_mac, type=ethertype)) + payload


def _ipv4_eth(payload: bytes) -> bytes:
    return _eth(0x0800, payload)


GOOD_IP = bytes(IP(src=lab.POD_A.ip, dst=lab.POD_B.ip, ttl=64))
GOOD_IP6 = bytes(IPv6(src="fd00::a", dst="fd00::b"))

# Kernel 6.18's bpf_prog_test_run_skb() refuses, with EINVAL and before the
# program runs, frames shorter than ETH_HLEN and IPv4 (IPv6) frames with less
# than a 20 (40) byte header.  Real devices do not hand tc runts either.  The
# program's own bounds checks (validate_ethertype, ipv4_load_header) are
# therefore exercised only from the 20-byte IPv4 header up, below.
KERNEL_REFUSED = (
    [pytest.param(lab.icmp_frame(lab.POD_A.ip, lab.POD_B.ip)[:n], id=f"{n}-bytes") for n in range(14)]
    + [pytest.param(_ipv4_eth(GOOD_IP[:n]), id=f"ipv4-header-{n}-bytes") for n in (0, 1, 10, 19)]
    + [pytest.param(_eth(0x86DD, GOOD_IP6[:n]), id=f"ipv6-header-{n}-bytes") for n in (0, 20, 39)]
)


@pytest.mark.parametrize("frame", KERNEL_REFUSED)
def test_truncated_frames_are_refused_by_test_run(datapath, frame):
    with pytest.raises(SandboxError, match="Invalid argument"):
        datapath.run(PROG, frame)
    assert lab.metrics(datapath) == []  # the program never ran


@pytest.mark.parametrize("frame", [
    pytest.param(_ipv4_eth(bytes([0x44]) + GOOD_IP[1:]), id="ihl-4"),
    pytest.param(_ipv4_eth(bytes([0x40]) + GOOD_IP[1:]), id="ihl-0"),
    pytest.param(_ipv4_eth(bytes([0x65]) + GOOD_IP[1:]), id="version-6-in-ipv4-frame"),
    pytest.param(_ipv4_eth(bytes([0x4f]) + GOOD_IP[1:]), id="ihl-15-past-end"),
])
def test_clearly_invalid_ipv4_is_dropped(datapath, frame):
    res = datapath.run(PROG, frame)
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(datapath, point=ObsPoint.FROM_CONTAINER, reason=DROP_INVALID) == 1


@pytest.mark.parametrize("frame", [
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst=lab.POD_A.node_mac, type=0x9000)), id="14-bytes-loopback"),
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst="33:33:00:00:00:01") / IPv6(src="fd00::a", dst="fd00::b")
                       / ICMPv6EchoRequest()), id="ipv6"),
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst="01:80:c2:00:00:0e", type=0x88CC)) + b"\x02\x07", id="lldp"),
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst=lab.POD_A.node_mac, type=0x8100)) + b"\x00\x05\x08\x00",
                 id="vlan"),
    pytest.param(bytes(Ether(src=lab.POD_A.mac, dst="ff:ff:ff:ff:ff:ff", type=0x0806)), id="arp-no-payload"),
])
def test_non_ipv4_frames_pass_unchanged(datapath, frame):
    res = datapath.run(PROG, frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_repeat_reports_mean_duration(datapath):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.REMOTE_POD_IP)
    res = datapath.run(PROG, frame, repeat=1000)
    assert res.retval == TC_ACT_REDIRECT
    assert 0 < res.duration_ns < 1_000_000
