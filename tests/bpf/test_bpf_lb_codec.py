"""Codecs of the load balancer, conntrack and NAT maps; lb_entries(); Cilium-style listings."""
from __future__ import annotations

import pytest

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.lb import Backend, Service
from cnilab.cni.cilium.maps import (
    SVC_FLAG_NODEPORT, TUPLE_F_IN, TUPLE_F_OUT, TUPLE_F_SERVICE, CtEntry, LbBackendEntry, LbRevNatEntry,
    LbServiceEntry, NatEntry, format_lb_list, format_nat_list, lb_backend_entries, lb_entries, lb_revnat_entries,
    lb_service_entries,
)

SEED_SVC = Service("10.96.93.201", 8080, "TCP", 32000,
                   (Backend("10.0.0.24", 80), Backend("10.0.2.210", 80), Backend("10.0.1.7", 80)), rev_nat_index=7)


def test_lb4_key_and_service_bytes():
    e = LbServiceEntry("10.96.93.201", 8080, 0, backend_id=0, count=3, rev_nat_index=7, flags=0)
    # address (wire), dport big-endian, backend_slot, proto 0, scope 0, pad[2]
    assert e.pack_key() == bytes([10, 96, 93, 201, 0x1f, 0x90, 0, 0, 0, 0, 0, 0])
    # backend_id, count, rev_nat_index, flags, flags2, pad[2]
    assert e.pack_value() == bytes([0, 0, 0, 0, 3, 0, 7, 0, 0, 0, 0, 0])
    slot = LbServiceEntry("0.0.0.0", 32000, 2, backend_id=513, rev_nat_index=0x8007)
    assert slot.pack_key() == bytes([0, 0, 0, 0, 0x7d, 0x00, 2, 0, 0, 0, 0, 0])
    assert slot.pack_value() == bytes([1, 2, 0, 0, 0, 0, 7, 0x80, 0, 0, 0, 0])
    for x in (e, slot):
        assert LbServiceEntry.unpack(x.pack_key(), x.pack_value()) == x


def test_backend_and_revnat_bytes():
    b = LbBackendEntry(3, "10.0.0.24", 80, 6)
    assert (b.pack_key(), b.pack_value()) == (bytes([3, 0, 0, 0]), bytes([10, 0, 0, 24, 0, 80, 6, 0]))
    assert LbBackendEntry.unpack(b.pack_key(), b.pack_value()) == b
    r = LbRevNatEntry(0x8007, "0.0.0.0", 32000)
    assert (r.pack_key(), r.pack_value()) == (bytes([7, 0x80]), bytes([0, 0, 0, 0, 0x7d, 0x00]))
    assert LbRevNatEntry.unpack(r.pack_key(), r.pack_value()) == r


def test_ct_entry_bytes():
    e = CtEntry("10.0.2.10", "10.0.2.20", 80, 40000, 6, TUPLE_F_OUT, backend_id=2, rev_nat_index=0x8001,
                node_port=True, lifetime=100)
    assert e.pack_key() == bytes([10, 0, 2, 10, 10, 0, 2, 20, 0, 80, 0x9c, 0x40, 6, 0])
    value = e.pack_value()
    assert len(value) == 56
    assert value[8:16] == (2).to_bytes(8, "little")  # backend_id (rx_bytes union)
    assert value[32:36] == (100).to_bytes(4, "little")  # lifetime
    assert value[36:38] == (0x20).to_bytes(2, "little")  # node_port bit
    assert value[38:40] == (0x8001).to_bytes(2, "little")  # rev_nat_index
    assert CtEntry.unpack(e.pack_key(), value) == e


def test_ct_entry_loopback_bit():
    e = CtEntry("169.254.42.1", "10.0.2.10", 80, 40000, 6, TUPLE_F_OUT, backend_id=1, rev_nat_index=6, loopback=True)
    value = e.pack_value()
    assert value[36:38] == (0x08).to_bytes(2, "little")  # lb_loopback: bit 3, after rx/tx_closing and nat46
    assert CtEntry.unpack(e.pack_key(), value) == e
    both = CtEntry("1.2.3.4", "5.6.7.8", 1, 2, 6, TUPLE_F_OUT, node_port=True, loopback=True)
    assert both.pack_value()[36:38] == (0x28).to_bytes(2, "little")


def test_nat_entry_bytes():
    e = NatEntry("10.0.2.10", 40000, "198.51.100.1", 80, 6, TUPLE_F_OUT, "172.18.0.3", 40000, created=5, host_local=0)
    # The key is struct ipv4_ct_tuple: daddr first.
    assert e.pack_key() == bytes([198, 51, 100, 1, 10, 0, 2, 10, 0, 80, 0x9c, 0x40, 6, 0])
    value = e.pack_value()
    assert len(value) == 40 and value[:8] == (5).to_bytes(8, "little")
    assert value[32:38] == bytes([172, 18, 0, 3, 0x9c, 0x40])
    assert NatEntry.unpack(e.pack_key(), value) == e


def test_lb_entries_for_the_seed_nodeport_service():
    maps = lb_entries([SEED_SVC])
    backends = maps["cilium_lb4_backends_v2"]
    # Ids follow the sorted (ip, port, proto) of all backends.
    assert backends == [LbBackendEntry(1, "10.0.0.24", 80, 6), LbBackendEntry(2, "10.0.1.7", 80, 6),
                        LbBackendEntry(3, "10.0.2.210", 80, 6)]
    svcs = maps["cilium_lb4_services_v2"]
    assert svcs[0] == LbServiceEntry("10.96.93.201", 8080, 0, 0, 3, 7, 0)
    assert [e.backend_id for e in svcs[1:4]] == [1, 3, 2]
    assert svcs[4] == LbServiceEntry("0.0.0.0", 32000, 0, 0, 3, 0x8007, SVC_FLAG_NODEPORT)
    assert [(e.slot, e.backend_id, e.rev_nat_index) for e in svcs[5:]] == [(1, 1, 0x8007), (2, 3, 0x8007),
                                                                          (3, 2, 0x8007)]
    assert maps["cilium_lb4_reverse_nat"] == [LbRevNatEntry(7, "10.96.93.201", 8080),
                                              LbRevNatEntry(0x8007, "0.0.0.0", 32000)]


def test_lb_entries_share_backends_between_services():
    a = Service("10.96.0.1", 80, "TCP", None, (Backend("10.0.0.5", 80),), 1)
    b = Service("10.96.0.2", 80, "TCP", None, (Backend("10.0.0.5", 80),), 2)
    u = Service("10.96.0.3", 80, "UDP", None, (Backend("10.0.0.5", 80),), 3)
    assert len(lb_entries([a, b, u])["cilium_lb4_backends_v2"]) == 2  # TCP and UDP differ


def test_lb_entries_is_deterministic():
    assert lb_entries(lab.SERVICES) == lb_entries(list(lab.SERVICES))


@pytest.mark.parametrize("services, message", [
    ([Service("10.96.0.1", 80, "TCP", None, (), 1), Service("10.96.0.1", 80, "TCP", None, (), 2)], "declared twice"),
    ([Service("10.96.0.1", 80, "TCP", None, (), 1), Service("10.96.0.2", 80, "TCP", None, (), 1)],
     "rev_nat_index 1"),
])
def test_lb_entries_rejects_clashes(services, message):
    with pytest.raises(ValueError, match=message):
        lb_entries(services)


@pytest.mark.parametrize("kwargs, message", [
    (dict(proto="SCTP"), "proto"),
    (dict(vip="10.96.0"), "vip"),
    (dict(port=0), "port"),
    (dict(rev_nat_index=0x8000), "rev_nat_index"),  # with a NodePort: below 0x8000
    (dict(backends=[Backend("10.0.0.1", 80)]), "backends"),
])
def test_service_validation_names_the_field(kwargs, message):
    fields = dict(vip="10.96.0.1", port=80, proto="TCP", node_port=30080, backends=(), rev_nat_index=1) | kwargs
    with pytest.raises(ValueError, match=message):
        Service(**fields)


def test_format_lb_list_like_cilium():
    maps = lb_entries([SEED_SVC])
    text = format_lb_list(maps["cilium_lb4_services_v2"], maps["cilium_lb4_backends_v2"])
    assert text == (
        "SERVICE ADDRESS     BACKEND ADDRESS (REVNAT_ID) (SLOT)               \n"
        "0.0.0.0:32000       0.0.0.0:0 (32775) (0) [NodePort, non-routable]   \n"
        "                    10.0.0.24:80 (32775) (1)                         \n"
        "                    10.0.2.210:80 (32775) (2)                        \n"
        "                    10.0.1.7:80 (32775) (3)                          \n"
        "10.96.93.201:8080   0.0.0.0:0 (7) (0) [ClusterIP, non-routable]      \n"
        "                    10.0.0.24:80 (7) (1)                             \n"
        "                    10.0.2.210:80 (7) (2)                            \n"
        "                    10.0.1.7:80 (7) (3)                              \n"
    )


def test_format_nat_list_like_cilium():
    text = format_nat_list([
        NatEntry("198.51.100.1", 80, "172.18.0.3", 40000, 6, TUPLE_F_IN, "10.0.2.10", 40000, created=120),
        NatEntry("10.0.2.10", 40000, "198.51.100.1", 80, 6, TUPLE_F_OUT, "172.18.0.3", 40000, created=120),
    ])
    assert text == (
        "TCP OUT 10.0.2.10:40000 -> 198.51.100.1:80 XLATE_SRC 172.18.0.3:40000 Created=120sec HostLocal=0\n"
        "TCP IN 198.51.100.1:80 -> 172.18.0.3:40000 XLATE_DST 10.0.2.10:40000 Created=120sec HostLocal=0\n"
    )


def test_tuple_flags_values():
    assert (TUPLE_F_OUT, TUPLE_F_IN, TUPLE_F_SERVICE) == (0, 1, 4)


@needs_root
def test_lb_codecs_agree_with_the_compiled_btf(native_dp):
    """What lb_entries() packed reads back the same, and bpftool's BTF view names the same fields."""
    want = lb_entries(lab.SERVICES)
    assert sorted(lb_service_entries(native_dp.dump_map_json("cilium_lb4_services_v2")),
                  key=lambda e: (e.address, e.port, e.slot)) == sorted(want["cilium_lb4_services_v2"],
                                                                       key=lambda e: (e.address, e.port, e.slot))
    assert sorted(lb_backend_entries(native_dp.dump_map_json("cilium_lb4_backends_v2")),
                  key=lambda e: e.backend_id) == want["cilium_lb4_backends_v2"]
    assert sorted(lb_revnat_entries(native_dp.dump_map_json("cilium_lb4_reverse_nat")),
                  key=lambda e: e.rev_nat_index) == want["cilium_lb4_reverse_nat"]
    for item in native_dp.dump_map_json("cilium_lb4_services_v2"):
        ours = LbServiceEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        f = item["formatted"]
        assert (f["key"]["backend_slot"], f["value"]["count"], f["value"]["rev_nat_index"]) == (
            ours.slot, ours.count, ours.rev_nat_index)
    for item in native_dp.dump_map_json("cilium_lb4_backends_v2"):
        ours = LbBackendEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        assert (item["formatted"]["key"], item["formatted"]["value"]["proto"]) == (ours.backend_id, ours.proto)
    # A CT and a NAT entry written by the datapath decode with the layout BTF describes.
    native_dp.run("cil_from_netdev", lab.tcp_frame(lab.EXTERNAL_CLIENT, 45000, lab.NODE.node_ip, 32001))
    for item in native_dp.dump_map_json("cilium_ct4_global"):
        ours = CtEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        f = item["formatted"]["value"]
        # bpftool prints bit fields as hex strings.
        assert (f["rev_nat_index"], int(f["node_port"], 16)) == (ours.rev_nat_index, int(ours.node_port))
        assert item["formatted"]["key"]["nexthdr"] == 6
    nat = native_dp.dump_map_json("cilium_snat_v4_external")
    assert len(nat) == 2 and all(i["formatted"]["key"]["nexthdr"] == 6 for i in nat)
    # A looped-back flow (the client is the backend): BTF's lb_loopback is our loopback.
    native_dp.run("cil_from_container", lab.tcp_frame(lab.POD_A.ip, 40000, lab.SVC_SELF.vip, 8080))
    flags = {}
    for item in native_dp.dump_map_json("cilium_ct4_global"):
        ours = CtEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        flags[(ours.daddr, ours.flags)] = (int(item["formatted"]["value"]["lb_loopback"], 16), int(ours.loopback))
    assert flags[(lab.SERVICE_LOOPBACK_IP, TUPLE_F_OUT)] == (1, 1)
    assert flags[(lab.SVC_SELF.vip, TUPLE_F_SERVICE)] == (0, 0)
