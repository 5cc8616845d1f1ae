"""Dissect a packet as Cilium 1.13's ``cilium monitor`` does, through gopacket.

pkg/monitor/dissect.go runs a gopacket v1.1.19 (the version Cilium 1.13
vendors) DecodingLayerParser from Ethernet, then prints one ``LayerString`` per
layer (-vv), a one-line connection summary, or a summary object (-j).
Fidelity sources: packet.go (LayerString), parser.go (DecodingLayerParser) and
layers/{ethernet,ip4,ip6,icmp4,icmp6,tcp,udp,sctp,ports,iana_ports,enums}.go.

Cilium's parser knows Ethernet, IPv4, IPv6, ICMPv4, ICMPv6, TCP, UDP and SCTP.
Each decoder returns the next layer type by name; decoding stops at an empty
payload, at a type it has no decoder for (an error, printed as "Failed to
decode layer"), or silently at gopacket's LayerTypeZero ("Unknown": unknown
EtherType or IP protocol).  ARP, VXLAN, DNS... therefore never get a layer line.

Like Cilium's parserCache there is one layer object per type, which the
decoders overwrite field by field in gopacket's order: when an inner header of
an already decoded type (IP in IP) fails to decode, the outer layer line shows
the fields written before the error.  Decoders therefore write into a per-type
dict keyed by the Go field names, in Go's order.

Checked against gopacket v1.1.19 itself (a throw-away Go harness fed tens of
thousands of generated and mangled frames): layer lines, truncation and
decode-error notes and the connection summary matched byte for byte.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from typing import Callable

from .gopacket_ports import SCTP_PORT_NAMES, TCP_UDP_PORT_NAMES

__all__ = [
    "Dissection",
    "dissect",
    "dissect_lines",
    "dissect_summary",
    "connection_summary",
    "go_ip",
    "go_byte_list",
]

# --- Go value formatting (net, fmt, gopacket layerString) ---------------------


def go_ip(raw: bytes) -> str:
    """net.IP.String(): dotted quad, RFC 5952 IPv6, IPv4-mapped as dotted."""
    if len(raw) == 0:
        return "<nil>"
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    if len(raw) != 16:
        return "?" + raw.hex()
    if raw[:12] == bytes(10) + b"\xff\xff":
        return go_ip(raw[12:])
    groups = struct.unpack("!8H", raw)
    start, length = _longest_zero_run(groups)
    if length < 2:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:start])
    tail = ":".join(f"{g:x}" for g in groups[start + length :])
    return f"{head}::{tail}"


def _longest_zero_run(groups) -> tuple[int, int]:
    best = (0, 0)
    run_start = None
    for i, group in enumerate(list(groups) + [1]):
        if group == 0 and run_start is None:
            run_start = i
        elif group != 0 and run_start is not None:
            if i - run_start > best[1]:
                best = (run_start, i - run_start)
            run_start = None
    return best


def _go_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort: brackets around hosts that contain a colon."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _go_slice(items: list[str]) -> str:
    """gopacket layerString of a slice: more than 4 elements become [..N..]."""
    if len(items) > 4:
        return f"[..{len(items)}..]"
    return "[" + ", ".join(items) + "]"


def _go_bytes(raw: bytes) -> str:
    if len(raw) > 4:
        return f"[..{len(raw)}..]"
    return _go_slice([str(b) for b in raw])


def go_byte_list(raw: bytes) -> str:
    """fmt's %v of a []byte: "[1 2 3]"."""
    return "[" + " ".join(str(b) for b in raw) + "]"


# --- the parser's layer cache -------------------------------------------------

_LAYER_ZERO = "Unknown"

# LayerString field order (the Go struct order) per layer type.
_LAYER_FIELDS = {
    "Ethernet": ("Contents", "Payload", "SrcMAC", "DstMAC", "EthernetType", "Length"),
    "IPv4": ("Contents", "Payload", "Version", "IHL", "TOS", "Length", "Id", "Flags",
             "FragOffset", "TTL", "Protocol", "Checksum", "SrcIP", "DstIP", "Options",
             "Padding"),
    "IPv6": ("Contents", "Payload", "Version", "TrafficClass", "FlowLabel", "Length",
             "NextHeader", "HopLimit", "SrcIP", "DstIP", "HopByHop"),
    "ICMPv4": ("Contents", "Payload", "TypeCode", "Checksum", "Id", "Seq"),
    "ICMPv6": ("Contents", "Payload", "TypeCode", "Checksum", "TypeBytes"),
    "TCP": ("Contents", "Payload", "SrcPort", "DstPort", "Seq", "Ack", "DataOffset", "FIN",
            "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS", "Window", "Checksum",
            "Urgent", "Options", "Padding"),
    "UDP": ("Contents", "Payload", "SrcPort", "DstPort", "Length", "Checksum"),
    "SCTP": ("Contents", "Payload", "SrcPort", "DstPort", "VerificationTag", "Checksum"),
}


class _DecodeError(Exception):
    """A gopacket DecodeFromBytes error; its text is printed verbatim."""


class _Feedback:
    """gopacket.DecodeFeedback: decoders flag a truncated packet here."""

    def __init__(self) -> None:
        self.truncated = False


@dataclass
class Dissection:
    """Result of DecodeLayers: decoded types in order, the parser cache, notes."""

    decoded: list[str]
    layers: dict[str, dict]
    truncated: bool
    error: str | None

    def layer_string(self, name: str) -> str:
        """gopacket.LayerString: "Name<TAB>{Key=value ...}"."""
        layer = self.layers[name]
        body = " ".join(f"{key}={_field_text(layer[key])}" for key in _LAYER_FIELDS[name])
        return f"{name}\t{{{body}}}"


def _field_text(value) -> str:
    """gopacket layerString of one field value."""
    if isinstance(value, (bytes, bytearray)):
        return _go_bytes(value)
    if isinstance(value, list):
        return _go_slice(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- layer decoders (layers/*.go) ---------------------------------------------

# EtherType -> (EthernetType.String(), next layer type); layers/enums.go.
_ETHERNET_TYPES = {
    0x0000: ("LLC", "LLC"),
    0x0800: ("IPv4", "IPv4"),
    0x0806: ("ARP", "ARP"),
    0x86DD: ("IPv6", "IPv6"),
    0x2000: ("CiscoDiscovery", "CiscoDiscovery"),
    0x01A2: ("NortelDiscovery", "NortelDiscovery"),
    0x6558: ("TransparentEthernetBridging", "Ethernet"),
    0x8100: ("Dot1Q", "Dot1Q"),
    0x88A8: ("Dot1Q", "Dot1Q"),
    0x880B: ("PPP", "PPP"),
    0x8863: ("PPPoEDiscovery", "PPPoE"),
    0x8864: ("PPPoESession", "PPPoE"),
    0x8847: ("MPLSUnicast", "MPLS"),
    0x8848: ("MPLSMulticast", "MPLS"),
    0x888E: ("EAPOL", "EAPOL"),
    0x88BE: ("ERSPAN Type II", "ERSPAN Type II"),
    0x88CC: ("LinkLayerDiscovery", "LinkLayerDiscovery"),
    0x9000: ("EthernetCTP", "EthernetCTP"),
}

# IP protocol -> (IPProtocol.String(), next layer type); layers/enums.go.
_IP_PROTOCOLS = {
    0: ("IPv6HopByHop", "IPv6HopByHop"),
    1: ("ICMPv4", "ICMPv4"),
    2: ("IGMP", "IGMP"),
    4: ("IPv4", "IPv4"),
    6: ("TCP", "TCP"),
    17: ("UDP", "UDP"),
    27: ("RUDP", "RUDP"),
    41: ("IPv6", "IPv6"),
    43: ("IPv6Routing", "IPv6Routing"),
    44: ("IPv6Fragment", "IPv6Fragment"),
    47: ("GRE", "GRE"),
    50: ("IPSecESP", "IPSecESP"),
    51: ("IPSecAH", "IPSecAH"),
    58: ("ICMPv6", "ICMPv6"),
    59: ("NoNextHeader", "Payload"),
    60: ("IPv6Destination", "IPv6Destination"),
    89: ("OSPF", "OSPF"),
    94: ("IPv4", "IPv4"),
    97: ("EtherIP", "EtherIP"),
    112: ("VRRP", "VRRP"),
    132: ("SCTP", "SCTP"),
    136: ("UDPLite", "UDPLite"),
    137: ("MPLS", "MPLS"),
}


def _ip_protocol(number: int) -> tuple[str, str]:
    return _IP_PROTOCOLS.get(number, ("UnknownIPProtocol", _LAYER_ZERO))


def _decode_ethernet(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/ethernet.go; an EtherType below 0x600 is an 802.3 length."""
    if len(data) < 14:
        raise _DecodeError("Ethernet packet too small")
    st["DstMAC"], st["SrcMAC"] = _go_mac(data[0:6]), _go_mac(data[6:12])
    ethertype = int.from_bytes(data[12:14], "big")
    st["Contents"], st["Payload"] = data[:14], data[14:]
    st["Length"] = 0
    if ethertype < 0x0600:
        st["Length"], ethertype = ethertype, 0x0000
        if len(st["Payload"]) < st["Length"]:
            fb.truncated = True
        else:
            st["Payload"] = st["Payload"][: st["Length"]]
    st["EthernetType"], next_type = _ETHERNET_TYPES.get(
        ethertype, ("UnknownEthernetType", _LAYER_ZERO))
    return next_type, st["Payload"]


def _ipv4_flags(flags: int) -> str:
    names = [name for bit, name in ((4, "Evil"), (2, "DF"), (1, "MF")) if flags & bit]
    return "|".join(names)


def _decode_ipv4(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/ip4.go, including its length checks and error texts."""
    if len(data) < 20:
        fb.truncated = True
        raise _DecodeError(f"Invalid ip4 header. Length {len(data)} less than 20")
    ihl = data[0] & 0x0F
    length, ident, flagsfrags = struct.unpack_from("!HHH", data, 2)
    flags, frag_offset, protocol = flagsfrags >> 13, flagsfrags & 0x1FFF, data[9]
    st.update(Version=data[0] >> 4, IHL=ihl, TOS=data[1], Length=length, Id=ident,
              Flags=_ipv4_flags(flags), FragOffset=frag_offset, TTL=data[8],
              Protocol=_ip_protocol(protocol)[0],
              Checksum=struct.unpack_from("!H", data, 10)[0],
              SrcIP=go_ip(data[12:16]), DstIP=go_ip(data[16:20]),
              Options=[], Padding=b"", Contents=data, Payload=b"")
    if length == 0:  # TSO: the kernel leaves the length to the hardware
        st["Length"] = length = len(data)
    if length < 20:
        raise _DecodeError(f"Invalid (too small) IP length ({length} < 20)")
    if ihl < 5:
        raise _DecodeError(f"Invalid (too small) IP header length ({ihl} < 5)")
    if ihl * 4 > length:
        raise _DecodeError(f"Invalid IP header length > IP length ({ihl} > {length})")
    if len(data) > length:
        data = data[:length]  # drops link-layer padding (and perf padding)
    elif len(data) < length:
        fb.truncated = True
        if ihl * 4 > len(data):
            raise _DecodeError("Not all IP header bytes available")
    st["Contents"], st["Payload"] = data[: ihl * 4], data[ihl * 4 :]
    _decode_ipv4_options(data[20 : ihl * 4], fb, st)
    next_type = _ip_protocol(protocol)[1]
    if flags & 1 or frag_offset:
        next_type = "Fragment"
    return next_type, st["Payload"]


def _decode_ipv4_options(data: bytes, fb: _Feedback, st: dict) -> None:
    """Appends IPv4Option strings ("IPv4Option(type:[data])"); EOL starts padding."""
    while data:
        kind = data[0]
        if kind == 0:
            st["Options"].append("IPv4Option(0:[])")
            st["Padding"] = data[1:]
            return
        if kind == 1:
            st["Options"].append("IPv4Option(1:[])")
            data = data[1:]
            continue
        if len(data) < 2:
            fb.truncated = True
            raise _DecodeError(f"Invalid ip4 option length. Length {len(data)} less than 2")
        length = data[1]
        if len(data) < length:
            fb.truncated = True
            raise _DecodeError("IP option length exceeds remaining IP header size, "
                               f"option type {kind} length {length}")
        if length <= 2:
            raise _DecodeError(f"Invalid IP option type {kind} length {length}. "
                               "Must be greater than 2")
        st["Options"].append(f"IPv4Option({kind}:{go_byte_list(data[2:length])})")
        data = data[length:]


def _decode_ipv6(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/ip6.go; a hop-by-hop header is decoded as part of the IPv6 layer."""
    if len(data) < 40:
        fb.truncated = True
        raise _DecodeError(f"Invalid ip6 header. Length {len(data)} less than 40")
    word = struct.unpack_from("!I", data, 0)[0]
    length, next_header, hop_limit = struct.unpack_from("!HBB", data, 4)
    st.update(Version=data[0] >> 4, TrafficClass=(word >> 20) & 0xFF,
              FlowLabel=word & 0xFFFFF, Length=length,
              NextHeader=_ip_protocol(next_header)[0], HopLimit=hop_limit,
              SrcIP=go_ip(data[8:24]), DstIP=go_ip(data[24:40]), HopByHop="nil",
              Contents=data[:40], Payload=data[40:])
    next_type = _ip_protocol(next_header)[1]
    if next_header == 0:
        hbh = _decode_hop_by_hop(st["Payload"], fb)
        st["HopByHop"] = hbh["string"]
        next_type = _ip_protocol(hbh["next_header"])[1]
        jumbo = _jumbo_length(hbh["options"])
        if jumbo is not None and length == 0:
            if jumbo > len(st["Payload"]):
                fb.truncated = True
            st["Payload"] = st["Payload"][:jumbo]
            return next_type, st["Payload"]
        if jumbo is not None:
            raise _DecodeError("IPv6 has jumbo length and IPv6 length is not 0")
        if length == 0:
            raise _DecodeError("IPv6 length 0, but HopByHop header does not have "
                               "jumbogram option")
        # gopacket then checks Length, which counts this header, against what
        # is left after it: such packets always look truncated.
        st["Payload"] = st["Payload"][hbh["actual_length"]:]
    if length == 0:
        raise _DecodeError(f"IPv6 length 0, but next header is {st['NextHeader']}, "
                           "not HopByHop")
    if length > len(st["Payload"]):
        fb.truncated = True
    st["Payload"] = st["Payload"][:length]
    return next_type, st["Payload"]


def _decode_hop_by_hop(data: bytes, fb: _Feedback) -> dict:
    """IPv6HopByHop.DecodeFromBytes, rendered as layerString renders a nested
    struct pointer (its first field follows "{ " because Go passes writeSpace)."""
    if len(data) < 2:
        fb.truncated = True
        raise _DecodeError(f"Invalid ip6-extension header. Length {len(data)} less than 2")
    next_header, header_length = data[0], data[1]
    actual_length = header_length * 8 + 8
    if len(data) < actual_length:
        raise _DecodeError(f"Invalid ip6-extension header. Length {len(data)} less than "
                           f"specified length {actual_length}")
    options = []
    offset = 2
    while offset < actual_length:
        option = _decode_tlv_option(data[offset:], fb)
        options.append(option)
        offset += option[2]
    option_strings = [
        f"{{OptionType={kind} OptionLength={length} ActualLength={actual} "
        f"OptionData={_go_bytes(value)} OptionAlignment=[0 0]}}"
        for kind, length, actual, value in options]
    text = (f"{{ Contents={_go_bytes(data[:actual_length])} "
            f"Payload={_go_bytes(data[actual_length:])} "
            f"NextHeader={_ip_protocol(next_header)[0]} HeaderLength={header_length} "
            f"ActualLength={actual_length} Options={_go_slice(option_strings)}}}")
    return {"string": text, "options": options, "next_header": next_header,
            "actual_length": actual_length}


def _decode_tlv_option(data: bytes, fb: _Feedback) -> tuple[int, int, int, bytes]:
    """(type, length, actual length, data) of one IPv6 TLV option."""
    if len(data) < 2:
        fb.truncated = True
        raise _DecodeError("IPv6 header option too small")
    if data[0] == 0:  # Pad1
        return 0, 0, 1, b""
    actual = data[1] + 2
    if len(data) < actual:
        fb.truncated = True
        raise _DecodeError("IPv6 header TLV option too small")
    return data[0], data[1], actual, data[2:actual]


def _jumbo_length(options) -> int | None:
    for kind, _, _, value in options:
        if kind == 0xC2:
            if len(value) != 4:
                raise _DecodeError("Jumbo length TLV data must have length 4")
            jumbo = int.from_bytes(value, "big")
            if jumbo <= 65535:
                raise _DecodeError("Jumbo length cannot be less than 65536")
            return jumbo
    return None


def _icmp_type_code(table: dict, kind: int, code: int) -> str:
    """ICMPv4TypeCode / ICMPv6TypeCode .String (layers/icmp4.go, icmp6.go)."""
    if kind not in table:
        return f"{kind}({code})"
    name, codes = table[kind]
    if codes is None:
        return name if code == 0 else f"{name}(Code: {code})"
    if code not in codes:
        return f"{name}(Code: {code})"
    return f"{name}({codes[code]})"


_ICMPV4_UNREACH = {0: "Net", 1: "Host", 2: "Protocol", 3: "Port", 4: "FragmentationNeeded",
                   5: "SourceRoutingFailed", 6: "NetUnknown", 7: "HostUnknown",
                   8: "SourceIsolated", 9: "NetAdminProhibited", 10: "HostAdminProhibited",
                   11: "NetTOS", 12: "HostTOS", 13: "CommAdminProhibited",
                   14: "HostPrecedence", 15: "PrecedenceCutoff"}
_ICMPV4_TYPES = {
    0: ("EchoReply", None),
    3: ("DestinationUnreachable", _ICMPV4_UNREACH),
    4: ("SourceQuench", None),
    5: ("Redirect", {0: "Net", 1: "Host", 2: "TOS+Net", 3: "TOS+Host"}),
    8: ("EchoRequest", None),
    9: ("RouterAdvertisement", None),
    10: ("RouterSolicitation", None),
    11: ("TimeExceeded", {0: "TTLExceeded", 1: "FragmentReassemblyTimeExceeded"}),
    12: ("ParameterProblem", {0: "PointerIndicatesError", 1: "MissingOption", 2: "BadLength"}),
    13: ("TimestampRequest", None),
    14: ("TimestampReply", None),
    15: ("InfoRequest", None),
    16: ("InfoReply", None),
    17: ("AddressMaskRequest", None),
    18: ("AddressMaskReply", None),
}
_ICMPV6_TYPES = {
    1: ("DestinationUnreachable", {0: "NoRouteToDst", 1: "AdminProhibited",
                                   2: "BeyondScopeOfSrc", 3: "AddressUnreachable",
                                   4: "PortUnreachable", 5: "SrcAddressFailedPolicy",
                                   6: "RejectRouteToDst"}),
    2: ("PacketTooBig", None),
    3: ("TimeExceeded", {0: "HopLimitExceeded", 1: "FragmentReassemblyTimeExceeded"}),
    4: ("ParameterProblem", {0: "ErroneousHeaderField", 1: "UnrecognizedNextHeader",
                             2: "UnrecognizedIPv6Option"}),
    128: ("EchoRequest", None),
    129: ("EchoReply", None),
    133: ("RouterSolicitation", None),
    134: ("RouterAdvertisement", None),
    135: ("NeighborSolicitation", None),
    136: ("NeighborAdvertisement", None),
    137: ("Redirect", None),
}
_ICMPV6_NEXT = {128: "ICMPv6Echo", 129: "ICMPv6Echo", 133: "ICMPv6RouterSolicitation",
                134: "ICMPv6RouterAdvertisement", 135: "ICMPv6NeighborSolicitation",
                136: "ICMPv6NeighborAdvertisement", 137: "ICMPv6Redirect",
                131: "MLDv1MulticastListenerReport", 132: "MLDv1MulticastListenerDone",
                143: "MLDv2MulticastListenerReport"}


def _decode_icmpv4(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    if len(data) < 8:
        fb.truncated = True
        raise _DecodeError("ICMP layer less then 8 bytes for ICMPv4 packet")
    checksum, ident, seq = struct.unpack_from("!HHH", data, 2)
    st.update(TypeCode=_icmp_type_code(_ICMPV4_TYPES, data[0], data[1]), Checksum=checksum,
              Id=ident, Seq=seq, Contents=data[:8], Payload=data[8:])
    return "Payload", st["Payload"]


def _decode_icmpv6(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    if len(data) < 4:
        fb.truncated = True
        raise _DecodeError("ICMP layer less then 4 bytes for ICMPv6 packet")
    st.update(TypeCode=_icmp_type_code(_ICMPV6_TYPES, data[0], data[1]),
              Checksum=struct.unpack_from("!H", data, 2)[0], TypeBytes=b"",
              Contents=data[:4], Payload=data[4:])
    next_type = _ICMPV6_NEXT.get(data[0], "Payload")
    if data[0] == 130:  # MLD query: v1 and v2 differ only in size
        next_type = ("MLDv2MulticastListenerQuery" if len(st["Payload"]) > 20
                     else "MLDv1MulticastListenerQuery")
    return next_type, st["Payload"]


# Ports gopacket hands to another decoder (layers/ports.go).
_TCP_PORT_LAYERS = {53: "DNS", 443: "TLS", 502: "ModbusTCP", 636: "TLS", 989: "TLS",
                    990: "TLS", 992: "TLS", 993: "TLS", 994: "TLS", 995: "TLS",
                    5061: "TLS"}
_UDP_PORT_LAYERS = {53: "DNS", 123: "NTP", 4789: "VXLAN", 67: "DHCPv4", 68: "DHCPv4",
                    546: "DHCPv6", 547: "DHCPv6", 5060: "SIP", 6343: "SFlow",
                    6081: "Geneve", 3784: "BFD", 2152: "GTPv1U", 623: "RMCP",
                    1812: "RADIUS"}


@functools.lru_cache(maxsize=None)
def _port_names() -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    """(TCP, UDP, SCTP) port names, parsed once from gopacket_ports."""
    tcp: dict[int, str] = {}
    udp: dict[int, str] = {}
    for entry in re.split(r"[,\n]", TCP_UDP_PORT_NAMES.strip()):
        port_text, _, names = entry.partition("=")
        port = int(port_text)
        for name in names.split("|"):
            if name.startswith("t:"):
                tcp[port] = name[2:]
            elif name.startswith("u:"):
                udp[port] = name[2:]
            else:
                tcp[port] = udp[port] = name
    sctp = {}
    for entry in re.split(r"[,\n]", SCTP_PORT_NAMES.strip()):
        port_text, _, name = entry.partition("=")
        sctp[int(port_text)] = name
    return tcp, udp, sctp


def _port_next_layer(table: dict[int, str], src: int, dst: int) -> str:
    """NextLayerType: the destination port's decoder, else the source port's."""
    return table.get(dst) or table.get(src) or "Payload"


def _port_string(port: int, names: dict[int, str]) -> str:
    """TCPPort/UDPPort/SCTPPort.String: "8472(otv)" for IANA-named ports."""
    name = names.get(port)
    return f"{port}({name})" if name else str(port)


def _set_ports(st: dict, sport: int, dport: int, names: dict[int, str]) -> None:
    st.update(SrcPort=_port_string(sport, names), DstPort=_port_string(dport, names),
              sport=sport, dport=dport)


_TCP_OPTION_KINDS = {0: "EndList", 1: "NOP", 2: "MSS", 3: "WindowScale", 4: "SACKPermitted",
                     5: "SACK", 6: "Echo", 7: "EchoReply", 8: "Timestamps",
                     9: "PartialOrderConnectionPermitted", 10: "PartialOrderServiceProfile",
                     11: "CC", 12: "CCNew", 13: "CCEcho", 14: "AltChecksum",
                     15: "AltChecksumData"}


def _tcp_option_string(kind: int, value: bytes) -> str:
    """TCPOption.String (layers/tcp.go)."""
    name = _TCP_OPTION_KINDS.get(kind, f"Unknown({kind})")
    hexdata = f" 0x{value.hex()}" if value else ""
    if kind == 2 and len(value) >= 2:
        return f"TCPOption({name}:{int.from_bytes(value[:2], 'big')}{hexdata})"
    if kind == 8 and len(value) == 8:
        first, second = struct.unpack("!II", value)
        return f"TCPOption({name}:{first}/{second}{hexdata})"
    return f"TCPOption({name}:{hexdata})"


def _decode_tcp_options(data: bytes, fb: _Feedback, st: dict) -> None:
    """gopacket appends an option before validating its length, so a broken one
    still shows (without data)."""
    options = st["Options"]
    while data:
        kind = data[0]
        options.append(_tcp_option_string(kind, b""))
        if kind == 0:
            st["Padding"] = data[1:]
            return
        if kind == 1:
            data = data[1:]
            continue
        if len(data) < 2:
            fb.truncated = True
            raise _DecodeError(f"Invalid TCP option length. Length {len(data)} less than 2")
        length = data[1]
        if length < 2:
            raise _DecodeError(f"Invalid TCP option length {length} < 2")
        if length > len(data):
            fb.truncated = True
            raise _DecodeError(f"Invalid TCP option length {length} exceeds remaining "
                               f"{len(data)} bytes")
        options[-1] = _tcp_option_string(kind, data[2:length])
        data = data[length:]


_TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")


def _decode_tcp(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/tcp.go."""
    if len(data) < 20:
        fb.truncated = True
        raise _DecodeError(f"Invalid TCP header. Length {len(data)} less than 20")
    sport, dport, seq, ack = struct.unpack_from("!HHII", data, 0)
    offset = data[12] >> 4
    window, checksum, urgent = struct.unpack_from("!HHH", data, 14)
    _set_ports(st, sport, dport, _port_names()[0])
    st.update(Seq=seq, Ack=ack, DataOffset=offset)
    st.update({name: bool(data[13] & (1 << bit)) for bit, name in enumerate(_TCP_FLAG_NAMES)})
    st.update(NS=bool(data[12] & 1), Window=window, Checksum=checksum, Urgent=urgent,
              Options=[], Padding=b"")
    if offset < 5:
        raise _DecodeError(f"Invalid TCP data offset {offset} < 5")
    if offset * 4 > len(data):
        fb.truncated = True
        st["Payload"], st["Contents"] = b"", data
        raise _DecodeError("TCP data offset greater than packet length")
    st["Contents"], st["Payload"] = data[: offset * 4], data[offset * 4 :]
    _decode_tcp_options(data[20 : offset * 4], fb, st)
    return _port_next_layer(_TCP_PORT_LAYERS, sport, dport), st["Payload"]


def _decode_udp(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/udp.go; Length 0 means a jumbogram that takes the rest."""
    if len(data) < 8:
        fb.truncated = True
        raise _DecodeError(f"Invalid UDP header. Length {len(data)} less than 8")
    sport, dport, length, checksum = struct.unpack_from("!HHHH", data, 0)
    _set_ports(st, sport, dport, _port_names()[1])
    st.update(Length=length, Checksum=checksum, Contents=data[:8], Payload=b"")
    if length >= 8:
        if length > len(data):
            fb.truncated = True
        st["Payload"] = data[8:length]
    elif length == 0:
        st["Payload"] = data[8:]
    else:
        raise _DecodeError(f"UDP packet too small: {length} bytes")
    return _port_next_layer(_UDP_PORT_LAYERS, sport, dport), st["Payload"]


def _decode_sctp(data: bytes, fb: _Feedback, st: dict) -> tuple[str, bytes]:
    """layers/sctp.go: the common header only; chunks stay payload."""
    if len(data) < 12:
        raise _DecodeError("Invalid SCTP common header length")
    sport, dport, tag, checksum = struct.unpack_from("!HHII", data, 0)
    _set_ports(st, sport, dport, _port_names()[2])
    st.update(VerificationTag=tag, Checksum=checksum, Contents=data[:12], Payload=data[12:])
    return "Payload", st["Payload"]


_DECODERS: dict[str, Callable[[bytes, _Feedback, dict], tuple[str, bytes]]] = {
    "Ethernet": _decode_ethernet,
    "IPv4": _decode_ipv4,
    "IPv6": _decode_ipv6,
    "ICMPv4": _decode_icmpv4,
    "ICMPv6": _decode_icmpv6,
    "TCP": _decode_tcp,
    "UDP": _decode_udp,
    "SCTP": _decode_sctp,
}


# --- pkg/monitor/dissect.go ---------------------------------------------------


def dissect(packet: bytes) -> Dissection:
    """DecodingLayerParser.DecodeLayers over Cilium's decoders, from Ethernet."""
    fb = _Feedback()
    decoded: list[str] = []
    cache: dict[str, dict] = {}
    layer_type, data, error = "Ethernet", bytes(packet), None
    while True:
        try:
            next_type, data = _DECODERS[layer_type](data, fb, cache.setdefault(layer_type, {}))
        except _DecodeError as exc:
            error = str(exc)
            break
        decoded.append(layer_type)
        layer_type = next_type
        if not data:
            break
        if layer_type not in _DECODERS:
            if layer_type != _LAYER_ZERO:
                error = f"No decoder for layer type {layer_type}"
            break
    return Dissection(decoded, cache, fb.truncated, error)


def dissect_lines(packet: bytes) -> list[str]:
    """dissect.go Dissect: one LayerString per layer, then the two notes."""
    result = dissect(packet)
    lines = [result.layer_string(name) for name in result.decoded]
    if result.truncated:
        lines.append("  Packet has been truncated")
    if result.error:
        lines.append(f"  Failed to decode layer: {result.error}")
    return lines


def connection_summary(packet: bytes) -> str:
    """dissect.go GetConnectionSummary (decode errors are ignored there)."""
    result = dissect(packet)
    src = dst = "<nil>"
    sport = dport = 0
    proto = icmp_code = ""
    has_ip = has_eth = False
    for name in result.decoded:
        layer = result.layers[name]
        if name == "Ethernet":
            has_eth = True
        elif name in ("IPv4", "IPv6"):
            has_ip, src, dst = True, layer["SrcIP"], layer["DstIP"]
        elif name in ("TCP", "UDP", "SCTP"):
            proto, sport, dport = name.lower(), layer["sport"], layer["dport"]
        elif name in ("ICMPv4", "ICMPv6"):
            proto, icmp_code = "icmp", layer["TypeCode"]
    if icmp_code:
        return f"{src} -> {dst} {icmp_code}"
    if proto:
        text = f"{_join_host_port(src, sport)} -> {_join_host_port(dst, dport)} {proto}"
        if proto == "tcp":
            text += " " + _tcp_flag_summary(result.layers["TCP"])
        return text
    if has_ip:
        return f"{src} -> {dst}"
    if has_eth:
        eth = result.layers["Ethernet"]
        return f"{eth['SrcMAC']} -> {eth['DstMAC']} {eth['EthernetType']}"
    return "[unknown]"


def _tcp_flag_summary(tcp: dict) -> str:
    """getTCPInfo: SYN, ACK, RST, FIN in this order (may be empty)."""
    return ", ".join(name for name in ("SYN", "ACK", "RST", "FIN") if tcp[name])


def dissect_summary(packet: bytes) -> dict:
    """dissect.go GetDissectSummary, as encoding/json shapes it (omitempty)."""
    result = dissect(packet)
    strings: dict[str, str] = {}
    flows: dict[str, dict] = {}
    for name in result.decoded:
        layer = result.layers[name]
        strings[name.lower()] = result.layer_string(name)
        if name == "Ethernet":
            flows["l2"] = {"src": layer["SrcMAC"], "dst": layer["DstMAC"]}
        elif name in ("IPv4", "IPv6"):
            flows["l3"] = {"src": layer["SrcIP"], "dst": layer["DstIP"]}
        elif name in ("TCP", "UDP", "SCTP"):
            flows["l4"] = {"src": str(layer["sport"]), "dst": str(layer["dport"])}
    order = ("ethernet", "ipv4", "ipv6", "tcp", "udp", "sctp", "icmpv4", "icmpv6")
    summary = {key: strings[key] for key in order if key in strings}
    summary.update({key: flows[key] for key in ("l2", "l3", "l4") if key in flows})
    return summary
