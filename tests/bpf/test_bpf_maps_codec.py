"""Map codecs (cnilab/bpf/maps.py) against the C layouts and real bpftool output."""
from __future__ import annotations

import json
import pathlib

import pytest

import bpf_lab as lab
from conftest import needs_root
from cnilab.cni.cilium.maps import (
    EndpointEntry, IpcacheEntry, MetricsEntry, TunnelEntry, endpoint_entries, format_tunnel_list,
    ipcache_entries, metrics_entries, parse_dump, tunnel_entries,
)
from cnilab.bpf.bpftool import bpftool_hex

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / f"bpftool_map_dump_{name}.json").read_text()


def test_tunnel_entry_bytes():
    e = TunnelEntry("10.0.1.0", "172.18.0.4")
    assert e.pack_key() == bytes([10, 0, 1, 0]) + bytes(12) + bytes([1, 0, 0, 0])
    assert e.pack_value() == bytes([172, 18, 0, 4]) + bytes(12) + bytes([1, 0, 0, 0])
    assert TunnelEntry.unpack(e.pack_key(), e.pack_value()) == e


def test_endpoint_entry_bytes():
    e = lab.endpoint_entry(lab.POD_A)
    value = e.pack_value()
    assert len(e.pack_key()) == 20 and len(value) == 48
    assert value[0:4] == (9).to_bytes(4, "little")  # ifindex
    assert value[6:8] == (1234).to_bytes(2, "little")  # lxc_id
    assert value[16:22] == bytes.fromhex("0a580a00020a")  # mac, wire order
    assert value[24:30] == bytes.fromhex("0e4f1000020a")  # node_mac
    assert value[32:36] == (32359).to_bytes(4, "little")  # sec_id
    assert EndpointEntry.unpack(e.pack_key(), value) == e


@pytest.mark.parametrize("entry", lab.IPCACHE)
def test_ipcache_entry_round_trip(entry):
    assert IpcacheEntry.unpack(entry.pack_key(), entry.pack_value()) == entry


def test_ipcache_key_prefixlen_counts_the_family_header():
    key = IpcacheEntry("10.0.1.0/24", 2).pack_key()
    assert key[:4] == (56).to_bytes(4, "little") and key[7] == 1 and key[8:12] == bytes([10, 0, 1, 0])


def test_metrics_entry_round_trip_sums_cpus():
    e = MetricsEntry(reason=0, direction=2, point=1, verdict=7, count=3, bytes=300)
    assert e.pack_key() == bytes([0, 2, 1, 0, 7, 0, 0, 0])
    half = MetricsEntry(0, 2, 1, 7, 1, 100).pack_value()
    assert MetricsEntry.unpack(e.pack_key(), [half, MetricsEntry(0, 2, 1, 7, 2, 200).pack_value()]) == e


def test_bpftool_hex_never_leaves_octal_ambiguity():
    assert bpftool_hex(bytes([10, 0, 8, 255])) == ["hex", "0a", "00", "08", "ff"]


def test_fixture_tunnel_map():
    assert tunnel_entries(fixture("cilium_tunnel_map")) == lab.TUNNELS


def test_fixture_lxc_map():
    assert sorted(endpoint_entries(fixture("cilium_lxc")), key=lambda e: e.ip) == sorted(
        lab.ENDPOINTS, key=lambda e: e.ip)


def test_fixture_ipcache_map():
    assert sorted(ipcache_entries(fixture("cilium_ipcache")), key=lambda e: e.prefix) == sorted(
        lab.IPCACHE, key=lambda e: e.prefix)


def test_fixture_metrics_map():
    # Captured after: ARP reply, local delivery, encap (from-container) and a
    # from-overlay packet without tunnel key (dropped, reason 147).
    got = {(m.point, m.reason, m.verdict): m.count for m in metrics_entries(fixture("cilium_metrics"))}
    assert got == {(1, 0, 7): 3, (3, 147, 2): 1}


def test_parse_dump_keeps_per_cpu_values():
    raw = parse_dump(fixture("cilium_metrics"))
    assert all(e.value is None and len(e.values) >= 1 for e in raw)


def test_parse_dump_rejects_formatted_only_output():
    with pytest.raises(ValueError, match="raw 'key'"):
        parse_dump(json.dumps([{"formatted": {"key": {}, "value": {}}}]))


def test_format_tunnel_list_matches_cilium():
    text = format_tunnel_list([TunnelEntry("10.0.1.0", "172.18.0.4"), TunnelEntry("10.0.0.0", "172.18.0.2")])
    assert text == "TUNNEL       VALUE\n10.0.1.0:0   172.18.0.4:0   \n10.0.0.0:0   172.18.0.2:0   \n"


@needs_root
def test_codecs_agree_with_the_compiled_btf(datapath):
    """bpftool's BTF-formatted view of what we packed names the same values."""
    for item in datapath.dump_map_json("cilium_lxc"):
        ours = EndpointEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        f = item["formatted"]["value"]
        assert (f["ifindex"], f["lxc_id"], f["flags"], f["sec_id"]) == (ours.ifindex, ours.lxc_id, ours.flags,
                                                                          ours.sec_id)
        assert f["mac"].to_bytes(8, "little")[:6].hex(":") == ours.mac
        assert item["formatted"]["key"]["family"] == 1
    for item in datapath.dump_map_json("cilium_ipcache"):
        ours = IpcacheEntry.unpack(*(bytes(int(x, 16) for x in item[k]) for k in ("key", "value")))
        f = item["formatted"]
        assert f["key"]["prefixlen"] - 32 == int(ours.prefix.split("/")[1])
        assert f["value"]["sec_label"] == ours.identity
