"""cnilab.cni.calico.ipip without root: the shell lines, the CONFIG encoding and layout."""
from __future__ import annotations

import shutil

import pytest

from cnilab.bpf import template
from cnilab.cni.calico import ipip

needs_clang = pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang")

CFG = ipip.IpipConfig("172.17.0.32", eth0_ifindex=2, tunl0_ifindex=0x1234, tunl0_mac="02:AB:cd:00:01:ff")


def test_tunl0_lines():
    assert ipip.tunl0_lines("192.168.49.64") == [
        "ip link add tunl0 mtu 1440 type ifb",
        "tc qdisc replace dev tunl0 root noqueue",
        "ip link set tunl0 txqueuelen 1000",
        "ip addr add 192.168.49.64/32 dev tunl0",
        "ip link set tunl0 up",
    ]
    assert ipip.tunl0_lines("192.168.196.128", mtu=1480, address="02:00:C0:A8:C4:80")[0] == (
        "ip link add tunl0 address 02:00:c0:a8:c4:80 mtu 1480 type ifb"
    )


@pytest.mark.parametrize("args", [("192.168.49.64/26",), ("10.0.0.1", 0), ("10.0.0.1", 1440, "02:00:00:00:00")])
def test_tunl0_lines_refuse_bad_values(args):
    with pytest.raises(ValueError):
        ipip.tunl0_lines(*args)


def test_attach_lines():
    assert ipip.attach_lines("/var/lib/cnilab/node 1/bpf_ipip.o") == [
        "tc qdisc replace dev tunl0 clsact",
        "tc qdisc replace dev eth0 clsact",
        "tc filter replace dev tunl0 egress pref 1 handle 1 bpf da obj '/var/lib/cnilab/node 1/bpf_ipip.o' sec ipip-encap",
        "tc filter replace dev eth0 ingress pref 1 handle 1 bpf da obj '/var/lib/cnilab/node 1/bpf_ipip.o' sec ipip-decap",
    ]


def test_parse_link():
    out = '[{"ifindex":7,"ifname":"tunl0","flags":["BROADCAST","NOARP","UP","LOWER_UP"],"mtu":1440,"address":"9e:a7:f9:0a:c3:f6"}]'
    assert ipip.parse_link(out) == (7, "9e:a7:f9:0a:c3:f6")
    assert ipip.link_lines() == ["ip -j link show dev tunl0", "ip -j link show dev eth0"]


def test_config_values_byte_order():
    assert CFG.values() == {
        "node_ip": bytes([172, 17, 0, 32]),  # network order, as in the IP header
        "eth0_ifindex": b"\x02\x00\x00\x00",  # host order (little-endian)
        "tunl0_ifindex": b"\x34\x12\x00\x00",
        "tunl0_mac": bytes.fromhex("02abcd0001ff"),  # wire order
    }
    assert CFG.section().hex() == "ac110020" "02000000" "34120000" "02abcd0001ff"
    assert ipip.config_values("172.17.0.32", 2, 0x1234, "02:ab:cd:00:01:ff") == CFG.values()


@pytest.mark.parametrize("kw", [
    {"node_ip": "0.0.0.0"}, {"node_ip": "::1"}, {"eth0_ifindex": 0}, {"tunl0_ifindex": 2**32}, {"tunl0_mac": "02:00:00:00:00"},
])  # fmt: skip
def test_config_refuses_bad_values(kw):
    fields = {"node_ip": "10.0.0.1", "eth0_ifindex": 2, "tunl0_ifindex": 3, "tunl0_mac": "02:00:00:00:00:01"} | kw
    with pytest.raises(ValueError):
        ipip.IpipConfig(**fields)


@needs_clang
def test_object_layout_and_configure(tmp_path):
    """The compiled template holds exactly CONFIG_LAYOUT's variables, all zero; configure() writes
    a node's values at those places and nothing else changes."""
    tmpl = ipip.compile(tmp_path)
    data = tmpl.read_bytes()
    symbols = template.config_symbols(data)
    base = min(off for off, _ in symbols.values())
    assert {name: (off - base, size) for name, (off, size) in symbols.items()} == ipip.CONFIG_LAYOUT
    assert all(not any(data[off : off + size]) for off, size in symbols.values())
    out = ipip.configure(tmpl, tmp_path / "node" / "bpf_ipip.o", CFG).read_bytes()
    assert out[base : base + len(CFG.section())] == CFG.section()
    assert out[:base] == data[:base] and out[base + len(CFG.section()) :] == data[base + len(CFG.section()) :]
    with pytest.raises(template.TemplateError):  # a configured object is no template
        ipip.configure(tmp_path / "node" / "bpf_ipip.o", tmp_path / "again.o", CFG)


@needs_clang
def test_sections_and_programs(tmp_path):
    data = ipip.compile(tmp_path).read_bytes()
    for name in (ipip.ENCAP_SECTION, ipip.DECAP_SECTION, ipip.ENCAP_PROGRAM, ipip.DECAP_PROGRAM):
        assert name.encode() + b"\0" in data
    assert ipip.SOURCE.is_file() and ipip.SOURCE.parent == ipip.BPF_DIR
