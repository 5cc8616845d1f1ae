"""gopacket's layer lines and connection summaries as cilium monitor (Cilium 1.13) prints them.

Frames are packed with struct; ``captured`` adds the padding the kernel leaves
after a frame in a trace sample, which gopacket counts in the Ethernet (and
IPv6) payload, so the expected lines are what ``cilium monitor -vv`` shows.
"""

import socket
import struct

import pytest

from cnilab.cni.cilium import gopacket

SRC_MAC, DST_MAC = "72:4a:62:7e:62:6e", "ee:7b:eb:76:25:37"
SRC_IP, DST_IP = "10.0.2.119", "10.0.0.24"


# --- building frames -----------------------------------------------------------------------


def ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total >> 16) + (total & 0xFFFF)
    return total


def checksum(data: bytes) -> int:
    return ~ones_sum(data) & 0xFFFF


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ethernet(src: str, dst: str, ethertype: int, payload: bytes) -> bytes:
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident=0, flags=0, ttl=64,
         options=b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), ident,
                         flags << 13, ttl, proto, 0, socket.inet_aton(src),
                         socket.inet_aton(dst)) + options
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def captured(frame: bytes) -> bytes:
    """The frame as a trace sample carries it: its 48-byte header is 8-aligned,
    so the padding depends on the frame alone."""
    return frame + bytes(-(len(frame) + 4) % 8)


# --- layers ----------------------------------------------------------------------------------


def test_tcp_syn_without_payload_has_no_decode_error():
    syn = struct.pack("!HHIIBBHHH", 41000, 80, 1, 0, 6 << 4, 0x02, 64240, 0, 0)
    syn += b"\x02\x04\x05\xb4"
    frame = captured(ethernet(SRC_MAC, DST_MAC, 0x0800, ipv4(SRC_IP, DST_IP, 6, syn)))
    lines = gopacket.dissect_lines(frame)
    assert len(lines) == 3
    assert lines[2].startswith("TCP\t{Contents=[..24..] Payload=[] SrcPort=41000 DstPort=80(http)")
    assert "Options=[TCPOption(MSS:1460 0x05b4)] Padding=[]}" in lines[2]
    assert gopacket.connection_summary(frame) == "10.0.2.119:41000 -> 10.0.0.24:80 tcp SYN"


def test_udp_dns_and_small_payload():
    udp = struct.pack("!HHHH", 53, 40000, 11, 0) + b"abc"
    frame = captured(ethernet(SRC_MAC, DST_MAC, 0x0800, ipv4(SRC_IP, DST_IP, 17, udp)))
    lines = gopacket.dissect_lines(frame)
    # Even ephemeral ports can carry an IANA name in gopacket's table.
    assert lines[2] == ("UDP\t{Contents=[..8..] Payload=[97, 98, 99] SrcPort=53(domain) "
                        "DstPort=40000(safetynetp) Length=11 Checksum=0}")
    assert lines[3] == "  Failed to decode layer: No decoder for layer type DNS"


def test_arp_is_not_dissected_by_cilium():
    frame = captured(ethernet(SRC_MAC, "ff:ff:ff:ff:ff:ff", 0x0806, bytes(28)))
    assert gopacket.dissect_lines(frame) == [
        "Ethernet\t{Contents=[..14..] Payload=[..30..] SrcMAC=72:4a:62:7e:62:6e "
        "DstMAC=ff:ff:ff:ff:ff:ff EthernetType=ARP Length=0}",
        "  Failed to decode layer: No decoder for layer type ARP",
    ]
    assert gopacket.connection_summary(frame) == "72:4a:62:7e:62:6e -> ff:ff:ff:ff:ff:ff ARP"


def test_unknown_ethertype_stops_silently():
    lines = gopacket.dissect_lines(captured(ethernet(SRC_MAC, DST_MAC, 0x88B5, bytes(20))))
    assert len(lines) == 1
    assert "EthernetType=UnknownEthernetType" in lines[0]


def test_ipv4_options_and_fragments():
    options = b"\x94\x04\x00\x00"  # router alert
    frame = ethernet(SRC_MAC, DST_MAC, 0x0800,
                     ipv4(SRC_IP, DST_IP, 2, bytes(8), options=options))
    line = gopacket.dissect_lines(captured(frame))[1]
    assert "IHL=6" in line and "Protocol=IGMP" in line
    assert "Options=[IPv4Option(148:[0 0])] Padding=[]}" in line
    fragment = ethernet(SRC_MAC, DST_MAC, 0x0800,
                        ipv4(SRC_IP, DST_IP, 17, bytes(16), flags=0b001))
    lines = gopacket.dissect_lines(captured(fragment))
    assert "Flags=MF" in lines[1]
    assert lines[2] == "  Failed to decode layer: No decoder for layer type Fragment"


def test_ipv6_icmpv6_echo():
    icmp = struct.pack("!BBHHH", 128, 0, 0x1234, 7, 1) + bytes(4)
    ip6 = (struct.pack("!IHBB", 0x60000000 | 0x12345, len(icmp), 58, 64)
           + socket.inet_pton(socket.AF_INET6, "fd00::10")
           + socket.inet_pton(socket.AF_INET6, "fd00:0:0:1::20") + icmp)
    frame = captured(ethernet(SRC_MAC, DST_MAC, 0x86DD, ip6))
    lines = gopacket.dissect_lines(frame)
    assert lines[1] == ("IPv6\t{Contents=[..40..] Payload=[..12..] Version=6 TrafficClass=0 "
                        "FlowLabel=74565 Length=12 NextHeader=ICMPv6 HopLimit=64 "
                        "SrcIP=fd00::10 DstIP=fd00:0:0:1::20 HopByHop=nil}")
    assert lines[2] == ("ICMPv6\t{Contents=[128, 0, 18, 52] Payload=[..8..] "
                        "TypeCode=EchoRequest Checksum=4660 TypeBytes=[]}")
    assert lines[3] == "  Failed to decode layer: No decoder for layer type ICMPv6Echo"
    assert gopacket.connection_summary(frame) == "fd00::10 -> fd00:0:0:1::20 EchoRequest"


def test_ipv6_hop_by_hop_mld_report():
    """gopacket decodes hop-by-hop inside IPv6 and then finds the packet short:
    it compares IPv6.Length (which counts the extension header) with what is
    left after the header.  Cilium shows that as truncated, and so do we."""
    record = struct.pack("!BBH", 4, 0, 0) + socket.inet_pton(socket.AF_INET6, "ff02::fb")
    mld = struct.pack("!BBHHH", 143, 0, 0x1111, 0, 1) + record
    hbh = bytes([58, 0, 5, 2, 0, 0, 1, 0])
    ip6 = (struct.pack("!IHBB", 0x60000000, len(hbh) + len(mld), 0, 1)
           + socket.inet_pton(socket.AF_INET6, "fe80::1")
           + socket.inet_pton(socket.AF_INET6, "ff02::16") + hbh + mld)
    frame = captured(ethernet(SRC_MAC, "33:33:00:00:00:16", 0x86DD, ip6))
    lines = gopacket.dissect_lines(frame)
    assert lines[1] == (
        "IPv6\t{Contents=[..40..] Payload=[..30..] Version=6 TrafficClass=0 FlowLabel=0 "
        "Length=36 NextHeader=IPv6HopByHop HopLimit=1 SrcIP=fe80::1 DstIP=ff02::16 "
        "HopByHop={ Contents=[..8..] Payload=[..30..] NextHeader=ICMPv6 HeaderLength=0 "
        "ActualLength=8 Options=[{OptionType=5 OptionLength=2 ActualLength=4 "
        "OptionData=[0, 0] OptionAlignment=[0 0]}, {OptionType=1 OptionLength=0 "
        "ActualLength=2 OptionData=[] OptionAlignment=[0 0]}]}}")
    assert lines[2] == ("ICMPv6\t{Contents=[143, 0, 17, 17] Payload=[..26..] TypeCode=143(0) "
                        "Checksum=4369 TypeBytes=[]}")
    assert lines[3:5] == [
        "  Packet has been truncated",
        "  Failed to decode layer: No decoder for layer type MLDv2MulticastListenerReport"]
    assert gopacket.connection_summary(frame) == "fe80::1 -> ff02::16 143(0)"


def test_frame_shorter_than_the_ip_header():
    frame = captured(ethernet(SRC_MAC, DST_MAC, 0x0800,
                              ipv4(SRC_IP, DST_IP, 1, bytes(64)))[:24])
    lines = gopacket.dissect_lines(frame)
    assert lines[0].startswith("Ethernet\t{Contents=[..14..] Payload=[..14..] ")
    assert lines[1:] == ["  Packet has been truncated",
                         "  Failed to decode layer: Invalid ip4 header. Length 14 less than 20"]
    assert gopacket.connection_summary(frame) == f"{SRC_MAC} -> {DST_MAC} IPv4"


# --- Go value formatting ---------------------------------------------------------------------


@pytest.mark.parametrize("address, text", [
    ("fd00::10", "fd00::10"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
    ("2001:db8:1:0:1:1:1:1", "2001:db8:1:0:1:1:1:1"),
    ("::ffff:10.0.0.1", "10.0.0.1"),
    ("::", "::"),
])
def test_ipv6_addresses_print_like_go(address, text):
    assert gopacket.go_ip(socket.inet_pton(socket.AF_INET6, address)) == text
