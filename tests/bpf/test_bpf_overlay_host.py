"""bpf_overlay.o (from-overlay, to-overlay) and bpf_host.o (from-host, to-host)."""
from __future__ import annotations

import pytest
from scapy.layers.l2 import Ether

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.maps import (
    DROP_INVALID, DROP_NO_TUNNEL_KEY, HOST_ID, REMOTE_NODE_ID, TC_ACT_OK, IpcacheEntry, TC_ACT_REDIRECT, TC_ACT_SHOT, Direction, ObsPoint,
)

pytestmark = needs_root

# A decapsulated frame as cilium_vxlan hands it up: the remote pod's own MACs.
REMOTE_POD_MAC = "0a:58:0a:00:01:17"
REMOTE_ROUTER_MAC = "0e:4f:10:00:01:17"


def from_remote(dst_ip: str, **kw) -> bytes:
    return lab.icmp_frame(lab.REMOTE_POD_IP, dst_ip, src_mac=REMOTE_POD_MAC, dst_mac=REMOTE_ROUTER_MAC, **kw)


# --- to-overlay / to-host: count and pass ----------------------------------

@pytest.mark.parametrize("prog, point, direction", [
    ("cil_to_overlay", ObsPoint.TO_OVERLAY, Direction.EGRESS),
    ("cil_to_host", ObsPoint.TO_HOST, Direction.INGRESS),
])
def test_pass_through_programs_count_and_pass(datapath, prog, point, direction):
    frame = lab.icmp_frame(lab.POD_A.ip, lab.REMOTE_POD_IP)
    for _ in range(3):
        res = datapath.run(prog, frame)
        assert (res.retval, res.data) == (TC_ACT_OK, frame)
    assert lab.counted(datapath, point=point, direction=direction, reason=0, verdict=TC_ACT_OK) == 3
    assert sum(m.bytes for m in lab.metrics(datapath) if m.point == point) == 3 * len(frame)


# --- from-overlay ------------------------------------------------------------

def test_from_overlay_without_tunnel_key_is_dropped(datapath):
    # BPF_PROG_TEST_RUN packets carry no tunnel metadata, so the real
    # bpf_skb_get_tunnel_key fails (ENOENT) and, like Cilium, we drop.
    res = datapath.run("cil_from_overlay", from_remote(lab.POD_A.ip))
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(datapath, point=ObsPoint.FROM_OVERLAY, direction=Direction.INGRESS,
                       reason=DROP_NO_TUNNEL_KEY) == 1


def test_from_overlay_delivers_to_a_local_pod(mock_datapath):
    lab.set_tunnel_key_received(mock_datapath, 46188, lab.REMOTE_NODE_IP)
    frame = from_remote(lab.POD_A.ip)
    res = mock_datapath.run("cil_from_overlay", frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.routed(frame, lab.POD_A.node_mac, lab.POD_A.mac)
    assert lab.counted(mock_datapath, point=ObsPoint.FROM_OVERLAY, reason=0, verdict=TC_ACT_REDIRECT) == 1


def test_from_overlay_drops_vni_1(mock_datapath):
    # No node sends as host (it sends as remote-node): Cilium drops VNI 1 as an invalid identity.
    lab.set_tunnel_key_received(mock_datapath, HOST_ID, lab.REMOTE_NODE_IP)
    res = mock_datapath.run("cil_from_overlay", from_remote(lab.POD_A.ip))
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(mock_datapath, point=ObsPoint.FROM_OVERLAY, direction=Direction.INGRESS, reason=171) == 1


def test_from_overlay_delivers_a_nodes_own_packet(mock_datapath):
    lab.set_tunnel_key_received(mock_datapath, REMOTE_NODE_ID, lab.REMOTE_NODE_IP)
    frame = from_remote(lab.POD_A.ip)
    res = mock_datapath.run("cil_from_overlay", frame)
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.routed(frame, lab.POD_A.node_mac, lab.POD_A.mac)


def test_from_overlay_to_router_ip_goes_to_cilium_host(mock_datapath):
    lab.set_tunnel_key_received(mock_datapath, 46188, lab.REMOTE_NODE_IP)
    frame = from_remote(lab.NODE.router_ip)
    res = mock_datapath.run("cil_from_overlay", frame)

    expected = Ether(frame)
    expected[Ether].dst = lab.NODE.host_mac
    assert res.retval == TC_ACT_REDIRECT
    assert res.data == bytes(expected)


@pytest.mark.parametrize("dst", [lab.NODE.node_ip, "10.0.2.99", lab.WORLD_IP])
def test_from_overlay_unknown_destination_goes_to_the_stack(mock_datapath, dst):
    lab.set_tunnel_key_received(mock_datapath, 46188, lab.REMOTE_NODE_IP)
    frame = from_remote(dst)
    res = mock_datapath.run("cil_from_overlay", frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_from_overlay_invalid_ipv4_is_dropped(mock_datapath):
    lab.set_tunnel_key_received(mock_datapath, 46188, lab.REMOTE_NODE_IP)
    frame = bytearray(from_remote(lab.POD_A.ip))
    frame[14] = 0x43  # ihl 3
    res = mock_datapath.run("cil_from_overlay", bytes(frame))
    assert res.retval == TC_ACT_SHOT
    assert lab.counted(mock_datapath, point=ObsPoint.FROM_OVERLAY, reason=DROP_INVALID) == 1


# --- from-host ---------------------------------------------------------------

def node_frame(dst_ip: str) -> bytes:
    # The node's own packet leaving through cilium_host (ARP off: the
    # kernel fills both MACs with cilium_host's).
    return lab.icmp_frame(lab.NODE.router_ip, dst_ip, src_mac=lab.NODE.host_mac, dst_mac=lab.NODE.host_mac)


def test_from_host_delivers_to_a_local_pod(datapath):
    frame = node_frame(lab.POD_B.ip)
    res = datapath.run("cil_from_host", frame)

    assert res.retval == TC_ACT_REDIRECT
    assert res.data == lab.routed(frame, lab.POD_B.node_mac, lab.POD_B.mac)
    assert lab.counted(datapath, point=ObsPoint.FROM_HOST, direction=Direction.EGRESS,
                       reason=0, verdict=TC_ACT_REDIRECT) == 1


def test_from_host_to_a_remote_pod_is_encapsulated(datapath):
    frame = node_frame(lab.REMOTE_POD_IP)
    res = datapath.run("cil_from_host", frame)
    assert (res.retval, res.data) == (TC_ACT_REDIRECT, frame)


def test_from_host_tunnel_key_carries_the_remote_node_identity(mock_datapath):
    # Cilium 1.13 sends the host's packets as LOCAL_NODE_ID (remote-node, 6), never as 1:
    # the receiving node drops VNI 1 and looks the sender up in its ipcache.
    # The node's router IP is the host's in its ipcache, as in every lab (not in the
    # sandbox's own ipcache, whose captured dump tests the codec).
    router = IpcacheEntry(f"{lab.NODE.router_ip}/32", HOST_ID)
    mock_datapath.update_map("cilium_ipcache", router.pack_key(), router.pack_value())
    res = mock_datapath.run("cil_from_host", node_frame("10.0.0.5"))
    assert res.retval == TC_ACT_REDIRECT
    key = lab.tunnel_key_set(mock_datapath)
    assert key["tunnel_id"] == REMOTE_NODE_ID != HOST_ID
    assert key["remote_ipv4"] == 0xAC120002  # 172.18.0.2, host byte order
    assert key["tunnel_ttl"] == 64


@pytest.mark.parametrize("dst", [lab.NODE.router_ip, lab.WORLD_IP, "10.0.2.99"])
def test_from_host_other_destinations_pass(datapath, dst):
    frame = node_frame(dst)
    res = datapath.run("cil_from_host", frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


def test_from_host_non_ipv4_passes(datapath):
    frame = lab.arp_request(lab.POD_A.ip, sender_ip=lab.NODE.router_ip, sender_mac=lab.NODE.host_mac)
    res = datapath.run("cil_from_host", frame)
    assert (res.retval, res.data) == (TC_ACT_OK, frame)


# --- the three objects share their maps -------------------------------------

def test_objects_share_one_instance_of_each_map(datapath):
    # map/prog ids are kernel-wide (other labs may run on this machine): go
    # through the sandbox's own pins.
    pinned = {name: datapath.bpftool("map", "show", "pinned", datapath.map_path(name), json_out=True)["id"]
              for name in ("cilium_tunnel_map", "cilium_lxc", "cilium_ipcache", "cilium_metrics")}
    assert len(set(pinned.values())) == 4
    progs = {name: set(datapath.bpftool("prog", "show", "pinned", path, json_out=True)["map_ids"])
             for name, path in datapath.programs.items()}
    assert set(progs) == {"cil_from_container", "cil_from_overlay", "cil_to_overlay", "cil_from_host", "cil_to_host"}
    # Every program counts into the one cilium_metrics; the routing ones use
    # the one cilium_lxc and cilium_tunnel_map.
    assert all(pinned["cilium_metrics"] in ids for ids in progs.values())
    for name in ("cil_from_container", "cil_from_host", "cil_from_overlay"):
        assert pinned["cilium_lxc"] in progs[name]
    for name in ("cil_from_container", "cil_from_host"):
        assert pinned["cilium_tunnel_map"] in progs[name]
