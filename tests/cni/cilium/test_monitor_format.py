"""cilium monitor (Cilium 1.13) output, byte for byte, from samples built like the BPF does.

The SEED block is a real ``cilium monitor -vv`` capture of a cross-node ping
(pod 10.0.2.119 on this node, endpoint 189, to 10.0.0.24 behind node
172.18.0.2 over VXLAN).  Every sample below is packed with struct the way the
datapath fills bpf/lib/{trace,drop,dbg}.h, padded the way the kernel pads a
perf raw sample.
"""

import json
import socket
import struct

import pytest

from cnilab.cni.cilium import monitor_format as mf
from cnilab.cni.cilium.monitor_format import Lost, Sample
from tests.cni.cilium.test_gopacket import checksum, ethernet, ipv4, ones_sum

SEED = """\
CPU 01: MARK 0x0 FROM 189 DEBUG: Conntrack lookup 1/2: src=10.0.2.119:278 dst=10.0.0.24:0
CPU 01: MARK 0x0 FROM 189 DEBUG: Conntrack lookup 2/2: nexthdr=1 flags=1
CPU 01: MARK 0x0 FROM 189 DEBUG: CT verdict: New, revnat=0
CPU 01: MARK 0x0 FROM 189 DEBUG: Successfully mapped addr=10.0.0.24 to identity=46188
CPU 01: MARK 0x0 FROM 189 DEBUG: Conntrack create: proxy-port=0 revnat=0 src-identity=32359 lb=0.0.0.0
CPU 01: MARK 0x0 FROM 189 DEBUG: Encapsulating to node 2886860802 (0xac120002) from seclabel 32359
------------------------------------------------------------------------------
Ethernet\t{Contents=[..14..] Payload=[..86..] SrcMAC=72:4a:62:7e:62:6e DstMAC=ee:7b:eb:76:25:37 EthernetType=IPv4 Length=0}
IPv4\t{Contents=[..20..] Payload=[..64..] Version=4 IHL=5 TOS=0 Length=84 Id=64237 Flags=DF FragOffset=0 TTL=64 Protocol=ICMPv4 Checksum=10541 SrcIP=10.0.2.119 DstIP=10.0.0.24 Options=[] Padding=[]}
ICMPv4\t{Contents=[..8..] Payload=[..56..] TypeCode=EchoRequest Checksum=5865 Id=278 Seq=0}
  Failed to decode layer: No decoder for layer type Payload
CPU 01: MARK 0x0 FROM 189 to-overlay: 98 bytes (98 captured), state new, interface cilium_vxlan, , identity 32359->46188, orig-ip 0.0.0.0
CPU 01: MARK 0x0 FROM 3386 DEBUG: Conntrack lookup 1/2: src=172.18.0.3:49017 dst=172.18.0.2:8472
CPU 01: MARK 0x0 FROM 3386 DEBUG: Conntrack lookup 2/2: nexthdr=17 flags=1
CPU 01: MARK 0x0 FROM 3386 DEBUG: CT entry found lifetime=342890, revnat=0
CPU 01: MARK 0x0 FROM 3386 DEBUG: CT verdict: Established, revnat=0
CPU 01: MARK 0x0 FROM 3386 DEBUG: Successfully mapped addr=172.18.0.2 to identity=6
CPU 01: MARK 0x0 FROM 0 DEBUG: Tunnel decap: id=46188 flowlabel=0
CPU 01: MARK 0x0 FROM 0 DEBUG: Attempting local delivery for container id 189 from seclabel 46188
CPU 01: MARK 0x0 FROM 189 DEBUG: Conntrack lookup 1/2: src=10.0.0.24:0 dst=10.0.2.119:278
CPU 01: MARK 0x0 FROM 189 DEBUG: Conntrack lookup 2/2: nexthdr=1 flags=0
CPU 01: MARK 0x0 FROM 189 DEBUG: CT entry found lifetime=342891, revnat=0
CPU 01: MARK 0x0 FROM 189 DEBUG: CT verdict: Reply, revnat=0
------------------------------------------------------------------------------
Ethernet\t{Contents=[..14..] Payload=[..86..] SrcMAC=ee:7b:eb:76:25:37 DstMAC=72:4a:62:7e:62:6e EthernetType=IPv4 Length=0}
IPv4\t{Contents=[..20..] Payload=[..64..] Version=4 IHL=5 TOS=0 Length=84 Id=53736 Flags= FragOffset=0 TTL=63 Protocol=ICMPv4 Checksum=37682 SrcIP=10.0.0.24 DstIP=10.0.2.119 Options=[] Padding=[]}
ICMPv4\t{Contents=[..8..] Payload=[..56..] TypeCode=EchoReply Checksum=7913 Id=278 Seq=0}
  Failed to decode layer: No decoder for layer type Payload
CPU 01: MARK 0x0 FROM 189 to-endpoint: 98 bytes (98 captured), state reply, interface lxcf46963b8bfc3, , identity 46188->32359, orig-ip 10.0.0.24, to endpoint 189"""

IFNAMES = {4: "cilium_vxlan", 9: "lxcf46963b8bfc3", 2: "eth0"}
POD_MAC, ROUTER_MAC = "72:4a:62:7e:62:6e", "ee:7b:eb:76:25:37"
POD, REMOTE_POD, NODE, REMOTE_NODE = "10.0.2.119", "10.0.0.24", "172.18.0.3", "172.18.0.2"


# --- building samples like the datapath ---------------------------------------------


def perf_pad(raw: bytes) -> bytes:
    """The kernel pads a raw sample so that its u32 size plus data is 8-aligned."""
    return raw + bytes(-(len(raw) + 4) % 8)


def raw_ip(addr: str) -> int:
    """An IPv4 address as the BPF sees it in a u32: network-order bytes, read LE."""
    return struct.unpack("<I", socket.inet_aton(addr))[0]


def host_ip(addr: str) -> int:
    return struct.unpack("!I", socket.inet_aton(addr))[0]


def icmp_echo(kind: int, ident: int, seq: int, data: bytes, csum=None) -> bytes:
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    value = checksum(header + data) if csum is None else csum
    return header[:2] + struct.pack("!H", value) + header[4:] + data


def ping_data(target_checksum: int) -> bytes:
    """56 bytes of iputils ping data whose echo request sums to the seed checksum."""
    header = struct.pack("!BBHHH", 8, 0, 0, 278, 0)
    timestamp, pattern = (0x6411, 0x000B73E1), bytes(range(0x10, 0x10 + 48))
    base = ones_sum(header + struct.pack("!HHI", timestamp[0], 0, timestamp[1]) + pattern)
    word = ((~target_checksum & 0xFFFF) - base) % 0xFFFF  # one's complement: solve for it
    data = struct.pack("!HHI", timestamp[0], word, timestamp[1]) + pattern
    assert checksum(header + data) == target_checksum
    return data


def seed_frames():
    data = ping_data(5865)
    request = ethernet(POD_MAC, ROUTER_MAC, 0x0800,
                       ipv4(POD, REMOTE_POD, 1, icmp_echo(8, 278, 0, data), 64237, 0b010, 64))
    reply = ethernet(ROUTER_MAC, POD_MAC, 0x0800,
                     ipv4(REMOTE_POD, POD, 1, icmp_echo(0, 278, 0, data), 53736, 0, 63))
    return request, reply


def debug(source: int, subtype: int, arg1=0, arg2=0, arg3=0, cpu=1, mark=0) -> Sample:
    raw = struct.pack("<BBHIIII", 2, subtype, source, mark, arg1, arg2, arg3)
    return Sample(cpu=cpu, data=perf_pad(raw))


def trace(obs_point: int, source: int, packet: bytes, *, src_label=0, dst_label=0, dst_id=0,
          reason=0, ifindex=0, orig_ip="0.0.0.0", cap_len=None, orig_len=None, cpu=1,
          mark=0, flags=0, version=1) -> Sample:
    cap = len(packet) if cap_len is None else cap_len
    raw = struct.pack("<BBHIIHHIIHBBI", 4, obs_point, source, mark,
                      len(packet) if orig_len is None else orig_len, cap, version,
                      src_label, dst_label, dst_id, reason, flags, ifindex)
    if version == 1:
        raw += socket.inet_aton(orig_ip) + bytes(12)
    return Sample(cpu=cpu, data=perf_pad(raw + packet[:cap]))


def drop(reason: int, source: int, packet: bytes, *, src_label=0, dst_label=0, dst_id=0,
         line=0, file=0, ext_error=0, ifindex=0, cpu=1) -> Sample:
    raw = struct.pack("<BBHIIHHIIIHBbI", 1, reason, source, 0, len(packet), len(packet), 0,
                      src_label, dst_label, dst_id, line, file, ext_error, ifindex)
    return Sample(cpu=cpu, data=perf_pad(raw + packet))


def seed_samples():
    """The seed's events in order, as the datapath would emit them."""
    request, reply = seed_frames()
    return [
        debug(189, 48, raw_ip(POD), raw_ip(REMOTE_POD), (0 << 16) | 278),
        debug(189, 49, (1 << 8) | 1),
        debug(189, 15, 0, 0),
        debug(189, 58, raw_ip(REMOTE_POD), 46188),
        debug(189, 50, (0 << 16) | 0, 32359, raw_ip("0.0.0.0")),
        debug(189, 3, host_ip(REMOTE_NODE), 32359),
        trace(4, 189, request, src_label=32359, dst_label=46188, ifindex=4),
        debug(3386, 48, raw_ip(NODE), raw_ip(REMOTE_NODE), (8472 << 16) | 49017),
        debug(3386, 49, (17 << 8) | 1),
        debug(3386, 8, 342890, 0),
        debug(3386, 15, 1, 0),
        debug(3386, 58, raw_ip(REMOTE_NODE), 6),
        debug(0, 16, 46188, 0),
        debug(0, 2, 189, 46188),
        debug(189, 48, raw_ip(REMOTE_POD), raw_ip(POD), (278 << 16) | 0),
        debug(189, 49, (1 << 8) | 0),
        debug(189, 8, 342891, 0),
        debug(189, 15, 2, 0),
        trace(0, 189, reply, src_label=46188, dst_label=32359, dst_id=189, reason=2,
              ifindex=9, orig_ip=REMOTE_POD),
    ]


# --- the seed, -vv -----------------------------------------------------------------------


def test_seed_frames_match_the_capture_checksums():
    request, reply = seed_frames()
    assert struct.unpack_from("!H", request, 24)[0] == 10541
    assert struct.unpack_from("!H", reply, 24)[0] == 37682
    # The reply carries the request's data, so its checksum follows by itself.
    assert struct.unpack_from("!H", request, 36)[0] == 5865
    assert struct.unpack_from("!H", reply, 36)[0] == 7913


def test_seed_samples_carry_the_kernel_padding():
    trace_sample = seed_samples()[6]
    assert len(trace_sample.data) == 48 + 98 + 2
    assert (len(trace_sample.data) + 4) % 8 == 0


def test_seed_vv_byte_for_byte():
    out = [mf.format_sample(s, 2, IFNAMES) for s in seed_samples()]
    assert "\n".join(out) == SEED


@pytest.mark.parametrize("index", range(19))
def test_each_seed_event(index):
    expected_blocks = _seed_blocks()
    assert mf.format_sample(seed_samples()[index], 2, IFNAMES) == expected_blocks[index]


def _seed_blocks():
    """Split SEED into one block per event: a trace block runs from its separator."""
    blocks, pending = [], []
    for line in SEED.split("\n"):
        if line == mf.SEPARATOR or pending:
            pending.append(line)
            if line.startswith("CPU "):
                blocks.append("\n".join(pending))
                pending = []
        else:
            blocks.append(line)
    return blocks


# --- default and -v ----------------------------------------------------------------------


def test_trace_default_and_v():
    request_trace = seed_samples()[6]
    expected = ("-> overlay flow 0x0 , identity 32359->46188 state new ifindex cilium_vxlan "
                "orig-ip 0.0.0.0: 10.0.2.119 -> 10.0.0.24 EchoRequest")
    assert mf.format_sample(request_trace, 0, IFNAMES) == expected
    assert mf.format_sample(request_trace, 1, IFNAMES) == expected


def test_trace_to_endpoint_default():
    reply_trace = seed_samples()[18]
    assert mf.format_sample(reply_trace, 0, IFNAMES) == (
        "-> endpoint 189 flow 0x0 , identity 46188->32359 state reply "
        "ifindex lxcf46963b8bfc3 orig-ip 10.0.0.24: 10.0.0.24 -> 10.0.2.119 EchoReply")


def test_debug_is_silent_by_default_and_printed_with_v():
    sample = seed_samples()[0]
    assert mf.format_sample(sample, 0, IFNAMES) == ""
    assert mf.format_sample(sample, 1, IFNAMES) == SEED.split("\n")[0]


def test_unknown_interface_prints_its_index():
    request, _ = seed_frames()
    sample = trace(4, 189, request, src_label=32359, dst_label=46188, ifindex=77)
    assert "ifindex 77 orig-ip" in mf.format_sample(sample, 0, {})
    assert ", interface 77, , identity" in mf.format_sample(sample, 2, {})


def test_reserved_identities_by_name_unless_numeric():
    request, _ = seed_frames()
    sample = trace(3, 3006, request, src_label=52663, dst_label=1, reason=1)
    assert "identity 52663->host state established" in mf.format_sample(sample, 0)
    assert "identity 52663->1 state" in mf.format_sample(sample, 0, numeric=True)
    assert mf.identity_name(6) == "remote-node"
    assert mf.identity_name(0) == "unknown"
    assert mf.identity_name(46188) == "46188"
    assert mf.identity_name(2, numeric=True) == "2"


def test_trace_without_identities_or_interface():
    request, _ = seed_frames()
    line = mf.format_sample(trace(10, 3650, request, mark=0x5A139E68), 2).split("\n")[-1]
    assert line == ("CPU 01: MARK 0x5a139e68 FROM 3650 from-network: 98 bytes (98 captured), "
                    "state new, orig-ip 0.0.0.0")


def test_trace_encrypted_reason_and_proxy_port():
    request, _ = seed_frames()
    encrypted = trace(4, 189, request, src_label=1, dst_label=2, reason=0x80)
    assert mf.format_sample(encrypted, 0).startswith(
        "-> overlay encrypted  flow 0x0 , identity host->world state new")
    to_proxy = trace(1, 189, request, dst_id=15001)
    assert mf.format_sample(to_proxy, 0).startswith("-> proxy port 15001 flow")
    assert mf.format_sample(to_proxy, 2).endswith(", to proxy-port 15001")


def test_trace_version0_has_no_orig_ip_field():
    request, _ = seed_frames()
    sample = trace(5, 189, request, src_label=32359, version=0)
    assert mf.format_sample(sample, 0).startswith(
        "<- endpoint 189 flow 0x0 , identity 32359->unknown state new ifindex 0 orig-ip 0.0.0.0: ")


def test_trace_ipv6_flag_prints_orig_ip_as_ipv6():
    request, _ = seed_frames()
    assert mf.format_sample(trace(5, 189, request, flags=1), 0).endswith(
        "orig-ip ::: 10.0.2.119 -> 10.0.0.24 EchoRequest")


def test_truncated_capture_of_vxlan_traffic():
    """A 148-byte VXLAN frame captured to 128 bytes (to-network), as in a real -vv."""
    inner = bytes(98)
    udp = struct.pack("!HHHH", 48562, 8472, 8 + 8 + len(inner), 0) + bytes(8) + inner
    ip = bytearray(ipv4("10.169.72.129", "10.169.72.128", 17, udp, ident=10473))
    frame = ethernet("00:50:56:86:66:45", "00:50:56:86:48:98", 0x0800, bytes(ip))
    assert len(frame) == 148
    sample = trace(11, 2161, frame, cap_len=128)
    assert mf.format_sample(sample, 2).split("\n") == [
        mf.SEPARATOR,
        "Ethernet\t{Contents=[..14..] Payload=[..118..] SrcMAC=00:50:56:86:66:45 "
        "DstMAC=00:50:56:86:48:98 EthernetType=IPv4 Length=0}",
        f"IPv4\t{{Contents=[..20..] Payload=[..98..] Version=4 IHL=5 TOS=0 Length=134 "
        f"Id=10473 Flags= FragOffset=0 TTL=64 Protocol=UDP Checksum={checksum(ip[:10] + bytes(2) + ip[12:20])} "
        "SrcIP=10.169.72.129 DstIP=10.169.72.128 Options=[] Padding=[]}",
        "UDP\t{Contents=[..8..] Payload=[..90..] SrcPort=48562 DstPort=8472(otv) "
        "Length=114 Checksum=0}",
        "  Packet has been truncated",
        "  Failed to decode layer: No decoder for layer type Payload",
        "CPU 01: MARK 0x0 FROM 2161 to-network: 148 bytes (128 captured), state new, "
        "orig-ip 0.0.0.0",
    ]
    assert mf.format_sample(sample, 0).endswith(
        ": 10.169.72.129:48562 -> 10.169.72.128:8472 udp")


def test_tcp_layer_string_as_in_a_real_capture():
    """Ethernet/IPv4/TCP lines of a real 'cilium monitor -vv' to-stack event."""
    options = (b"\x01\x01\x08\x0a" + struct.pack("!II", 3989597580, 3076174462))
    tcp = (struct.pack("!HHIIBBHHH", 39670, 10250, 3030219, 2007295670, 8 << 4, 0x18, 502,
                       61301, 0) + options + bytes(38))
    ip = ipv4("172.200.0.112", "10.211.55.30", 6, tcp, ident=42315, flags=0b010, ttl=63)
    frame = ethernet("de:eb:36:0a:d8:21", "aa:ab:bb:d3:01:08", 0x0800, ip)
    sample = trace(3, 3006, frame, src_label=52663, dst_label=1, reason=1, mark=0xADE976E2)
    assert mf.format_sample(sample, 2).split("\n") == [
        mf.SEPARATOR,
        "Ethernet\t{Contents=[..14..] Payload=[..94..] SrcMAC=de:eb:36:0a:d8:21 "
        "DstMAC=aa:ab:bb:d3:01:08 EthernetType=IPv4 Length=0}",
        "IPv4\t{Contents=[..20..] Payload=[..70..] Version=4 IHL=5 TOS=0 Length=90 Id=42315 "
        "Flags=DF FragOffset=0 TTL=63 Protocol=TCP Checksum=42793 SrcIP=172.200.0.112 "
        "DstIP=10.211.55.30 Options=[] Padding=[]}",
        "TCP\t{Contents=[..32..] Payload=[..38..] SrcPort=39670 DstPort=10250 Seq=3030219 "
        "Ack=2007295670 DataOffset=8 FIN=false SYN=false RST=false PSH=true ACK=true "
        "URG=false ECE=false CWR=false NS=false Window=502 Checksum=61301 Urgent=0 "
        "Options=[TCPOption(NOP:), TCPOption(NOP:), "
        "TCPOption(Timestamps:3989597580/3076174462 0xedcc6d8cb75ab27e)] Padding=[]}",
        "  Failed to decode layer: No decoder for layer type Payload",
        "CPU 01: MARK 0xade976e2 FROM 3006 to-stack: 104 bytes (104 captured), "
        "state established, , identity 52663->host, orig-ip 0.0.0.0",
    ]
    assert mf.format_sample(sample, 0).endswith(
        ": 172.200.0.112:39670 -> 10.211.55.30:10250 tcp ACK")


# --- drops -------------------------------------------------------------------------------


def test_drop_all_verbosities():
    request, _ = seed_frames()
    sample = drop(133, 189, request, src_label=32359, dst_label=46188, line=1234, file=2,
                  ifindex=9)
    info = ("xx drop (Policy denied) flow 0x0 to endpoint 0, ifindex 9, file bpf_lxc.c:1234, "
            ", identity 32359->46188: 10.0.2.119 -> 10.0.0.24 EchoRequest")
    assert mf.format_sample(sample, 0) == info
    assert mf.format_sample(sample, 1) == info
    # drop_notify is 36 bytes, so the kernel pads this sample by 6 bytes, not 2.
    ethernet_line = SEED.split("\n")[7].replace("Payload=[..86..]", "Payload=[..90..]")
    assert mf.format_sample(sample, 2) == "\n".join([
        mf.SEPARATOR,
        ethernet_line,
        *SEED.split("\n")[8:11],
        "CPU 01: MARK 0x0 FROM 189 DROP: 98 bytes, reason Policy denied, identity 32359->46188",
    ])


@pytest.mark.parametrize("reason, ext, text", [
    (134, 0, "Invalid packet"),
    (141, 0, "Error writing to packet"),
    (147, 0, "Error retrieving tunnel key"),
    (153, 0, "Error while correcting L3 checksum"),
    (154, 0, "Error while correcting L4 checksum"),
    (155, 0, "CT: Map insertion failed"),
    (158, 0, "Service backend not found"),
    (167, 0, "No mapping for NAT masquerade"),
    (171, 0, "Invalid identity"),
    (188, 0, "L3 translation from IPv6 to IPv4 failed (NAT64)"),
    (141, -22, "Error writing to packet, -22"),
    (199, 0, "199, 0"),
    (250, 3, "250, 3"),
])
def test_drop_reasons(reason, ext, text):
    assert mf.drop_reason(reason, ext) == text


def test_drop_to_endpoint_unknown_file_and_no_capture():
    sample = drop(158, 0, b"", dst_id=189, file=42, line=7)
    assert mf.format_sample(sample, 0) == (
        "xx drop (Service backend not found) flow 0x0 to endpoint 189, ifindex 0, "
        "file <unknown-id-42>:7, , identity unknown->unknown: [unknown]")
    assert mf.format_sample(sample, 2) == "\n".join([
        mf.SEPARATOR,
        "CPU 01: MARK 0x0 FROM 0 DROP: 0 bytes, reason Service backend not found, "
        "to endpoint 189"])


# --- debug messages ----------------------------------------------------------------------


@pytest.mark.parametrize("subtype, args, text", [
    (1, (5, 16, 0), "No message, arg1=5 (0x5) arg2=16 (0x10)"),
    (4, (9, 0x3412, 0), "Local container found ifindex lxcf46963b8bfc3 seclabel 4660"),
    (6, ((40000 << 16) | 80, (6 << 8) | 1, 0), "CT lookup: sport=40000 dport=80 nexthdr=6 flags=OUT"),
    (8, (21925, 0x0100, 0), "CT entry found lifetime=21925, revnat=1"),
    (10, (raw_ip("10.96.0.10"), 0x0200, 0), "CT created 2/2: 10.96.0.10 revnat=2"),
    (15, (3, 0, 0), "CT verdict: Related, revnat=0"),
    (15, (4, 0, 0), "CT verdict: Interface Decrypted, revnat=0"),
    (16, (17, 0xBEEF, 0), "Tunnel decap: id=17 flowlabel=beef"),
    (30, (raw_ip("10.96.0.10"), 0x3500, 0), "Frontend service lookup, addr=10.96.0.10 key.dport=53"),
    (42, ((0x901F << 16) | 0x5000, raw_ip(POD), 6),
     "Reverse proxy lookup sport=8080 dport=80 saddr=10.0.2.119 nexthdr=6"),
    (45, (0x5000, 1, 0), "Resolved L4 policy to: 80 / ingress"),
    (50, ((15001 << 16) | 0x0300, 7, raw_ip("10.96.0.1")),
     "Conntrack create: proxy-port=15001 revnat=3 src-identity=7 lb=10.96.0.1"),
    (51, (0x20000000, 0x10000000, 443), "Conntrack lookup 1/2: src=[::0:20]:443 dst=[::0:10]:0"),
    (55, (1, 2, (0x5000 << 16) | 6), "Matched L4 policy; creating conntrack src=1 dst=2 dport=80 proto=6"),
    (56, (raw_ip("1.2.3.4"), 0, 0), "Failed to map addr=1.2.3.4 to identity"),
    (59, (0x0A000000, 5, 0), "Successfully mapped addr.p4=[::0:a] to identity=5"),
    (60, (1, 2, 0), "Stale CT entry found stale_ct.rev_nat_id=2, svc.rev_nat_id=1"),
    (64, (0, 0, 0), "Socket assign: Success"),
    (64, (2, 0, 0), "Socket assign: no such file or directory"),
    (65, (raw_ip(POD), raw_ip(REMOTE_POD), 15001),
     "L7 LB from 10.0.2.119 to 10.0.0.24: proxy port 15001"),
    (0, (1, 2, 3), "Unknown message type=0 arg1=1 arg2=2"),
    (99, (7, 8, 9), "Unknown message type=99 arg1=7 arg2=8"),
])
def test_debug_messages(subtype, args, text):
    line = mf.format_sample(debug(189, subtype, *args), 2, IFNAMES)
    assert line == f"CPU 01: MARK 0x0 FROM 189 DEBUG: {text}"


def test_debug_table_covers_the_whole_1_13_list():
    assert set(mf.DEBUG_MESSAGES) == set(range(1, 66))


def test_short_debug_message_reports_go_binary_read_error():
    sample = Sample(cpu=0, data=bytes([2, 16, 1, 0]))
    assert mf.format_sample(sample, 1) == (
        "Error while parsing debug message: unexpected EOF\n"
        "CPU 00: MARK 0x0 FROM 0 DEBUG: Unknown message type=0 arg1=0 arg2=0")


# --- debug capture, policy verdict, other events -----------------------------------------


def test_debug_capture():
    request, _ = seed_frames()
    raw = struct.pack("<BBHIIIII", 3, 4, 189, 0, 98, 98, 9, 0) + request
    sample = Sample(cpu=1, data=perf_pad(raw))
    assert mf.format_sample(sample, 0, IFNAMES) == (
        "-> lxcf46963b8bfc3: 10.0.2.119 -> 10.0.0.24 EchoRequest")
    assert mf.format_sample(sample, 2, IFNAMES).split("\n")[:3] == [
        mf.SEPARATOR,
        "CPU 01: MARK 0x0 FROM 189 DEBUG: 98 bytes, Delivery to ifindex 9",
        SEED.split("\n")[7],
    ]
    snat = Sample(cpu=1, data=perf_pad(struct.pack("<BBHIIIII", 3, 10, 0, 0, 98, 98, 2, 0)))
    assert mf.format_sample(snat, 0) == ""


def test_policy_verdict_is_printed_at_every_verbosity():
    request, _ = seed_frames()
    raw = struct.pack("<BBHIIHHIiHBBHH", 5, 0, 189, 0, 98, 98, 0, 2, -133, 0, 1,
                      1 | (2 << 3), 0, 0) + request
    sample = Sample(cpu=1, data=perf_pad(raw))
    line = ("Policy verdict log: flow 0x0 local EP ID 189, remote ID world, proto 1, ingress, "
            "action deny, match L3-L4, 10.0.2.119 -> 10.0.0.24 EchoRequest")
    assert [mf.format_sample(sample, v) for v in (0, 1, 2)] == [line] * 3


def test_trace_sock_only_with_v():
    raw = struct.pack("<BB16sHQQBB", 7, 1, socket.inet_aton("10.96.0.10") + bytes(12), 53,
                      4097, 77, 2, 0)
    sample = Sample(cpu=0, data=perf_pad(raw))
    assert mf.format_sample(sample, 0) == ""
    assert mf.format_sample(sample, 2) == ""
    assert mf.format_sample(sample, 1) == (
        "CPU 00: [pre-xlate-fwd] cgroup_id: 77 sock_cookie: 4097, dst [10.96.0.10]:53 udp ")


def test_unknown_event_type():
    sample = Sample(cpu=3, data=bytes([42, 1, 2]))
    assert mf.format_sample(sample, 0) == "CPU 03: Unknown event: [42 1 2]"


# --- lost events, header, bpftool records ------------------------------------------------


def test_lost_events():
    assert mf.format_lost(Lost(cpu=1, count=17)) == "CPU 01: Lost 17 events"


def test_header():
    assert mf.header(2) == ("Listening for events on 2 CPUs with 64x4096 of shared memory\n"
                            "Press Ctrl-C to quit")


def test_parse_bpftool_sample_with_int_and_hex_bytes():
    sample = seed_samples()[0]
    as_ints = {"type": 9, "cpu": 1, "index": 1, "timestamp": 123, "data": list(sample.data)}
    as_hex = {"type": 9, "cpu": 1, "index": 1, "data": [f"0x{b:02x}" for b in sample.data]}
    for obj in (as_ints, json.loads(json.dumps(as_hex))):
        parsed = mf.parse_bpftool_event(obj)
        assert isinstance(parsed, Sample)
        assert parsed.cpu == 1 and parsed.data == sample.data
        assert mf.format_sample(parsed, 1) == SEED.split("\n")[0]
    assert mf.parse_bpftool_event(as_ints).timestamp == 123


def test_parse_bpftool_lost_and_others():
    lost = mf.parse_bpftool_event({"type": 2, "cpu": 0, "index": 0,
                                   "lost": {"id": 11, "count": 4}})
    assert lost == Lost(cpu=0, count=4, id=11)
    assert mf.format_lost(lost) == "CPU 00: Lost 4 events"
    assert mf.parse_bpftool_event({"type": 14, "cpu": 0}) is None
    assert mf.parse_bpftool_event("not a record") is None
    with pytest.raises(ValueError):
        mf.parse_bpftool_event({"type": 9, "cpu": 0, "data": [256]})


# --- JSON (-j) ---------------------------------------------------------------------------


def test_trace_json():
    obj = mf.to_json(seed_samples()[6], IFNAMES)
    assert list(obj)[:12] == ["cpu", "type", "mark", "ifindex", "state", "observationPoint",
                              "traceSummary", "source", "bytes", "srcLabel", "dstLabel",
                              "dstID"]
    assert obj["cpu"] == "CPU 01:" and obj["ifindex"] == "cilium_vxlan"
    assert obj["observationPoint"] == "to-overlay" and obj["traceSummary"] == "-> overlay"
    assert obj["summary"]["icmpv4"] == SEED.split("\n")[9]
    assert obj["summary"]["l3"] == {"src": POD, "dst": REMOTE_POD}
    line = mf.format_json(seed_samples()[6], IFNAMES)
    assert line.startswith('{"cpu":"CPU 01:","type":"trace","mark":"0x0",'
                           '"ifindex":"cilium_vxlan","state":"new",'
                           '"observationPoint":"to-overlay","traceSummary":"-\\u003e overlay",'
                           '"source":189,"bytes":98,"srcLabel":32359,"dstLabel":46188,'
                           '"dstID":0,"summary":{"ethernet":"Ethernet\\t{Contents=')
    assert json.loads(line) == obj


def test_debug_and_drop_json():
    assert mf.format_json(seed_samples()[2]) == (
        '{"cpu":"CPU 01:","type":"debug","message":"CT verdict: New, revnat=0"}')
    request, _ = seed_frames()
    obj = mf.to_json(drop(133, 189, request, src_label=32359, dst_label=46188, file=2))
    assert obj["reason"] == "Policy denied" and obj["File"] == 2
    assert obj["summary"]["l2"] == {"src": POD_MAC, "dst": ROUTER_MAC}


def test_json_of_text_only_events():
    raw = struct.pack("<BBHIIHHIiHBBHH", 5, 0, 189, 0, 0, 0, 0, 2, 0, 0, 1, 2, 0, 0)
    sample = Sample(cpu=1, data=perf_pad(raw))
    assert mf.to_json(sample) is None
    assert mf.format_json(sample).startswith("Policy verdict log: flow 0x0 local EP ID 189")
