"""Conntrack of an endpoint's flows (bpf/lib/conntrack.h), through BPF_PROG_TEST_RUN: pod A
sends to pod B on the same node, so from-container tracks the flow OUT (egress) and the
delivery into B tracks it IN, as Cilium's from-container and B's policy program do."""

from __future__ import annotations

import struct
import time

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.listing import LISTS
from cnilab.cni.cilium.maps import TC_ACT_REDIRECT

pytestmark = needs_root

A, B = lab.POD_A, lab.POD_B
CT_ENTRY = struct.Struct("<QQQQIHHHBBIII")


def _entries(sb, name: str) -> dict[tuple, tuple]:
    """(daddr, saddr, dport, sport, nexthdr, flags) -> the ct_entry's fields."""
    out = {}
    for e in sb.dump_map_json(name):
        key = bytes(int(b, 16) for b in e["key"])
        value = bytes(int(b, 16) for b in e["value"])
        tup = (".".join(map(str, key[0:4])), ".".join(map(str, key[4:8])),
               int.from_bytes(key[8:10], "big"), int.from_bytes(key[10:12], "big"), key[12], key[13])
        out[tup] = CT_ENTRY.unpack(value)
    return out


def _now() -> int:
    return int(time.clock_gettime(time.CLOCK_MONOTONIC))


def test_a_ping_is_tracked_out_and_in_with_the_senders_identity(datapath):
    res = datapath.run("cil_from_container", lab.icmp_frame(A.ip, B.ip))
    assert res.retval == TC_ACT_REDIRECT
    ct = _entries(datapath, "cilium_ct_any4_global")
    assert _entries(datapath, "cilium_ct4_global") == {}  # not TCP
    echo_id = 7  # lab.icmp_frame's
    # Stored as the reply's tuple (daddr the sender), as Cilium: OUT for the sender's
    # egress, IN for the receiver's ingress, in the same map.
    out = ct[(A.ip, B.ip, 0, echo_id, 1, 0)]
    inn = ct[(A.ip, B.ip, 0, echo_id, 1, 1)]
    assert len(ct) == 2
    for entry in (out, inn):
        rx_packets, rx_bytes, tx_packets, tx_bytes, lifetime, *_, src_id, last_tx, last_rx = entry
        assert src_id == A.identity
        assert abs(lifetime - (_now() + 60)) <= 2
    assert (out[2], out[0]) == (1, 0) and (inn[0], inn[2]) == (1, 0)  # tx on egress, rx on ingress


def test_tcp_flags_and_lifetimes_follow_the_handshake_and_the_close(datapath):
    def send(flags: str):
        res = datapath.run("cil_from_container", lab.tcp_frame(A.ip, 40000, B.ip, 80, flags=flags))
        assert res.retval == TC_ACT_REDIRECT
        return _entries(datapath, "cilium_ct4_global")[(A.ip, B.ip, 80, 40000, 6, 0)][4:]

    lifetime, bits, _, _, tx_seen, _, _, _, _ = send("S")
    assert (tx_seen, bits & 0x10) == (0x02, 0) and abs(lifetime - (_now() + 60)) <= 2  # SYN only: 60 s
    lifetime, bits, _, _, tx_seen, _, _, _, _ = send("A")
    assert (tx_seen, bits & 0x10) == (0x12, 0x10) and lifetime > _now() + 21000  # established: 6 h
    lifetime, bits, _, _, tx_seen, _, _, _, _ = send("FA")
    assert bits & 0x3 == 0x2  # TxClosing
    listing = LISTS["ct"][1]([datapath.dump_map_json("cilium_ct4_global"), datapath.dump_map_json("cilium_ct_any4_global")])
    assert f"TCP OUT {A.ip}:40000 -> {B.ip}:80 " in listing and "TxFlagsSeen=0x13 " in listing
    assert "Flags=0x0012 [ TxClosing SeenNonSyn ]" in listing
