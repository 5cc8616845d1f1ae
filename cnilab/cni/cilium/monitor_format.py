"""Print Cilium 1.13 datapath events exactly as ``cilium monitor`` does.

The lab's own eBPF programs write Cilium 1.13's notification structs into the
``cilium_events`` perf event array; another part of cnilab reads it with
``bpftool -j map event_pipe pinned /sys/fs/bpf/tc/globals/cilium_events`` and
hands every JSON record to this module.  Nothing here does I/O.

Fidelity sources (Cilium v1.13, Go):
  cilium/cmd/monitor.go            header lines, -v / -vv verbosity levels
  pkg/monitor/format/format.go     which Dump* each verbosity calls
  pkg/monitor/datapath_trace.go    trace lines (TraceNotify v0/v1)
  pkg/monitor/datapath_drop.go     drop lines, BPF source file ids
  pkg/monitor/datapath_debug.go    debug and debug-capture messages
  pkg/monitor/datapath_policy.go   policy verdict line
  pkg/monitor/datapath_sock_trace.go, datapath_recorder.go
  pkg/monitor/api/types.go, drop.go  observation points, drop reasons
  pkg/identity/numericidentity.go  reserved identity names
The packets inside trace, drop and capture events are dissected by
``gopacket`` (pkg/monitor/dissect.go).

Output conventions
------------------
``format_sample`` returns the lines Go prints for one sample, joined with
"\\n" and without the final newline; "" when Go prints nothing (for example a
debug message without -v).  Cilium buffers the trace and drop summary line and
flushes it after the dissection, so at -vv the layers come first.  The
perf sample data keeps the kernel's alignment padding (bpftool prints it, and so
does Cilium's reader): gopacket counts it in the Ethernet payload
("Payload=[..86..]" for a 98-byte frame) and the IPv4 layer trims it away.

What the BPF side must put in a debug_msg (type 2; arg1..arg3 are u32 in host
order; "raw addr" = an IPv4 address as it sits in the packet, i.e. the
network-order bytes stored in the u32; "net16" = a value in network byte order
in the low 16 bits, which Go swaps back):
   2 LOCAL_DELIVERY    arg1 endpoint id, arg2 source identity
   3 ENCAP             arg1 tunnel endpoint as a host-order u32
                       (bpf_ntohl(raw addr)), arg2 source identity
   8 CT_MATCH          arg1 lifetime, arg2 rev_nat_index (net16)
  15 CT_VERDICT        arg1 CT status (0 new, 1 established, 2 reply,
                       3 related; others print as a drop reason),
                       arg2 rev_nat_index (net16)
  16 DECAP             arg1 tunnel id (VNI), arg2 flow label (printed hex)
  48 CT_LOOKUP4_1      arg1 tuple->saddr (raw), arg2 tuple->daddr (raw),
                       arg3 (bpf_ntohs(tuple->sport) << 16) | bpf_ntohs(tuple->dport);
                       Go prints the LOW half as the src port and the HIGH
                       half as the dst port (Cilium's CT tuples store the
                       packet's source port in tuple->dport)
  49 CT_LOOKUP4_2      arg1 (tuple->nexthdr << 8) | tuple->flags, arg2 unused
  50 CT_CREATED4       arg1 (proxy_port << 16) | rev_nat_index (net16),
                       arg2 source identity, arg3 LB address (raw)
  58 IP_ID_MAP_SUCCEED4  arg1 address (raw), arg2 identity
``DEBUG_MESSAGES`` documents every other 1.13 subtype by its Go format.

Not reproduced, or taken from sources other than the v1.13 tag:
  * ``--hex`` (hex.Dump instead of dissection);
  * Go's panics on samples shorter than their own header (we print what we can);
  * the order of "OUT, RELATED" in CT flags, which Go takes from a map;
  * the logrus line "Initializing dissection cache..." (stderr, once);
  * the end of the 1.13 drop-reason table (we stop at 188, NAT64), the 1.13
    policy-verdict line (no "auth:" yet) and the socket-trace line were read
    from neighbouring Cilium versions.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import Callable, Mapping

from .identity import RESERVED_LABELS
from .gopacket import (connection_summary, dissect, dissect_lines, dissect_summary,
                       go_byte_list, go_ip)

__all__ = [
    "Sample",
    "Lost",
    "parse_bpftool_event",
    "format_sample",
    "format_lost",
    "format_json",
    "to_json",
    "header",
    "identity_name",
    "drop_reason",
    "debug_message",
    "dissect",
    "dissect_lines",
    "dissect_summary",
    "connection_summary",
    "DEBUG_MESSAGES",
]

# --- event kinds (pkg/monitor/api/types.go, bpf/lib/common.h) ---------------

MSG_DROP = 1
MSG_DEBUG = 2
MSG_CAPTURE = 3  # DBG_CAPTURE: struct debug_capture_msg
MSG_TRACE = 4
MSG_POLICY_VERDICT = 5
MSG_RECORDER = 6  # pcap recorder capture
MSG_TRACE_SOCK = 7

# Verbosity: cilium monitor (INFO), -v (DEBUG), -vv (VERBOSE); format.go.
INFO, DEBUG, VERBOSE = 0, 1, 2

SEPARATOR = "-" * 78  # format.go msgSeparator

PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9


# --- bpftool records ----------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One PERF_RECORD_SAMPLE: the raw bytes one BPF program emitted."""

    cpu: int
    data: bytes
    index: int = 0
    timestamp: int | None = None


@dataclass(frozen=True)
class Lost:
    """One PERF_RECORD_LOST: ``count`` samples the kernel dropped on ``cpu``."""

    cpu: int
    count: int
    id: int = 0


def parse_bpftool_event(obj: Mapping) -> Sample | Lost | None:
    """Turn one object of ``bpftool -j map event_pipe`` into a record.

    Returns None for anything that is neither a sample nor a lost record.
    Data bytes may be ints or strings such as "0x04" or "4".
    """
    if not isinstance(obj, Mapping):
        return None
    kind = obj.get("type")
    cpu = int(obj.get("cpu", 0))
    if kind == PERF_RECORD_SAMPLE or (kind is None and "data" in obj):
        return Sample(
            cpu=cpu,
            data=bytes(_byte_value(v) for v in obj.get("data") or ()),
            index=int(obj.get("index", cpu)),
            timestamp=obj.get("timestamp"),
        )
    if kind == PERF_RECORD_LOST:
        lost = obj.get("lost") or {}
        return Lost(cpu=cpu, count=int(lost.get("count", 0)), id=int(lost.get("id", 0)))
    return None


def _byte_value(value) -> int:
    number = int(value, 0) if isinstance(value, str) else int(value)
    if not 0 <= number <= 255:
        raise ValueError(f"not a byte: {value!r}")
    return number


# --- Go value formatting --------------------------------------------------------


def identity_name(identity: int, numeric: bool = False) -> str:
    """A security identity as Cilium 1.13 prints it with %s (or %d if numeric).

    NumericIdentity.String() names the reserved identities and prints every
    other one as a number (pkg/identity/numericidentity.go).
    """
    if numeric:
        return str(identity)
    return _RESERVED_IDENTITIES.get(identity, str(identity))


# NumericIdentity.String(): a reserved identity's label without "reserved:"; 0 is "unknown".
_RESERVED_IDENTITIES = {0: "unknown", **{i: labels[0].split(":", 1)[1] for i, labels in RESERVED_LABELS.items()}}


def _swap16(value: int) -> int:
    """byteorder.NetworkToHost16(uint16(value)) on a little-endian host."""
    value &= 0xFFFF
    return ((value & 0xFF) << 8) | (value >> 8)


def _swap32(value: int) -> int:
    return int.from_bytes((value & 0xFFFFFFFF).to_bytes(4, "little"), "big")


def _ip4_str(arg: int) -> str:
    """datapath_debug.go ip4Str: the u32's little-endian bytes are the address."""
    return go_ip(struct.pack("<I", arg & 0xFFFFFFFF))


def _ip6_str(arg: int) -> str:
    """datapath_debug.go ip6Str: last 32 bits of an address, as "%x:%x"."""
    value = _swap32(arg)
    return f"{value >> 16:x}:{value & 0xFFFF:x}"


def _go_quote(text: str) -> str:
    """strconv.Quote for the strings the monitor prints (ASCII in practice)."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
               "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _go_json(value) -> str:
    """encoding/json.Marshal: compact, and <, >, & escaped as \\u003c etc."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _omit_empty(obj: dict, keys: tuple[str, ...]) -> dict:
    """json ``omitempty`` for the string fields listed in ``keys``."""
    return {k: v for k, v in obj.items() if not (k in keys and v in ("", None))}


def _ifname(ifnames: Mapping[int, str], ifindex: int) -> str:
    """LinkCache.Name: the name, or the ifindex as a number when unknown."""
    return ifnames.get(ifindex) or str(ifindex)


# --- notification structs (bpf/lib/*.h; Go decodes them with binary.Read) -----


def _read(layout: str, names: tuple[str, ...], data: bytes) -> tuple[dict, str | None]:
    """binary.Read into a struct: too little data leaves it zeroed, with an error."""
    size = struct.calcsize(layout)
    if len(data) < size:
        return dict.fromkeys(names, 0), "EOF" if not data else "unexpected EOF"
    return dict(zip(names, struct.unpack_from(layout, data))), None


@dataclass(frozen=True)
class TraceNotify:
    """struct trace_notify (bpf/lib/trace.h); version 1 adds orig_ip."""

    type: int = 0
    obs_point: int = 0
    source: int = 0
    hash: int = 0
    orig_len: int = 0
    cap_len: int = 0
    version: int = 0
    src_label: int = 0
    dst_label: int = 0
    dst_id: int = 0
    reason: int = 0
    flags: int = 0
    ifindex: int = 0
    orig_ip: bytes = bytes(16)

    @property
    def data_offset(self) -> int:
        return {0: 32, 1: 48}.get(self.version, 0)

    @property
    def is_ipv6(self) -> bool:
        return bool(self.flags & 1)

    def original_ip(self) -> str:
        return go_ip(self.orig_ip if self.is_ipv6 else self.orig_ip[:4])


_TRACE_LAYOUT = "<BBHIIHHIIHBBI"
_TRACE_FIELDS = ("type", "obs_point", "source", "hash", "orig_len", "cap_len", "version",
                 "src_label", "dst_label", "dst_id", "reason", "flags", "ifindex")


def decode_trace_notify(data: bytes) -> tuple[TraceNotify, str | None]:
    """datapath_trace.go DecodeTraceNotify; on error the struct stays zeroed."""
    if len(data) < 16:
        return TraceNotify(), "Unknown trace event"
    version = struct.unpack_from("<H", data, 14)[0]
    if version not in (0, 1):
        return TraceNotify(), f"Unrecognized trace event (version {version})"
    needed = 32 if version == 0 else 48
    if len(data) < needed:
        return TraceNotify(), "unexpected EOF"
    fields = dict(zip(_TRACE_FIELDS, struct.unpack_from(_TRACE_LAYOUT, data)))
    orig_ip = bytes(data[32:48]) if version == 1 else bytes(16)
    return TraceNotify(**fields, orig_ip=orig_ip), None


@dataclass(frozen=True)
class DropNotify:
    """struct drop_notify (bpf/lib/drop.h); Go reads len_cap+version as one u32."""

    type: int = 0
    reason: int = 0
    source: int = 0
    hash: int = 0
    orig_len: int = 0
    cap_len: int = 0
    src_label: int = 0
    dst_label: int = 0
    dst_id: int = 0
    line: int = 0
    file: int = 0
    ext_error: int = 0
    ifindex: int = 0


DROP_NOTIFY_LEN = 36
_DROP_LAYOUT = "<BBHIIIIIIHBbI"


def decode_drop_notify(data: bytes) -> tuple[DropNotify, str | None]:
    fields, err = _read(_DROP_LAYOUT, tuple(DropNotify.__dataclass_fields__), data)
    return DropNotify(**fields), err


@dataclass(frozen=True)
class DebugMsg:
    """struct debug_msg (bpf/lib/dbg.h)."""

    type: int = 0
    subtype: int = 0
    source: int = 0
    hash: int = 0
    arg1: int = 0
    arg2: int = 0
    arg3: int = 0


def decode_debug_msg(data: bytes) -> tuple[DebugMsg, str | None]:
    fields, err = _read("<BBHIIII", tuple(DebugMsg.__dataclass_fields__), data)
    return DebugMsg(**fields), err


@dataclass(frozen=True)
class DebugCapture:
    """struct debug_capture_msg; Go names len_orig "Len" and the next u32 "OrigLen"."""

    type: int = 0
    subtype: int = 0
    source: int = 0
    hash: int = 0
    len: int = 0
    orig_len: int = 0
    arg1: int = 0
    arg2: int = 0


DEBUG_CAPTURE_LEN = 24


def decode_debug_capture(data: bytes) -> tuple[DebugCapture, str | None]:
    fields, err = _read("<BBHIIIII", tuple(DebugCapture.__dataclass_fields__), data)
    return DebugCapture(**fields), err


@dataclass(frozen=True)
class PolicyVerdictNotify:
    """struct policy_verdict_notify as of 1.13 (bpf/lib/policy_log.h)."""

    type: int = 0
    subtype: int = 0
    source: int = 0
    hash: int = 0
    orig_len: int = 0
    cap_len: int = 0
    version: int = 0
    remote_label: int = 0
    verdict: int = 0
    dst_port: int = 0
    proto: int = 0
    flags: int = 0
    pad1: int = 0
    pad2: int = 0


POLICY_VERDICT_NOTIFY_LEN = 32


def decode_policy_verdict(data: bytes) -> tuple[PolicyVerdictNotify, str | None]:
    names = tuple(PolicyVerdictNotify.__dataclass_fields__)
    fields, err = _read("<BBHIIHHIiHBBHH", names, data)
    return PolicyVerdictNotify(**fields), err


@dataclass(frozen=True)
class TraceSockNotify:
    """struct trace_sock_notify (bpf/lib/trace_sock.h), 38 packed bytes."""

    type: int = 0
    xlate_point: int = 0
    dst_ip: bytes = bytes(16)
    dst_port: int = 0
    sock_cookie: int = 0
    cgroup_id: int = 0
    l4_proto: int = 0
    flags: int = 0


def decode_trace_sock(data: bytes) -> tuple[TraceSockNotify, str | None]:
    fields, err = _read("<BB16sHQQBB", tuple(TraceSockNotify.__dataclass_fields__), data)
    if err:
        fields["dst_ip"] = bytes(16)
    return TraceSockNotify(**fields), err


@dataclass(frozen=True)
class RecorderCapture:
    """struct capture_msg of the pcap recorder (bpf/lib/pcap.h)."""

    type: int = 0
    subtype: int = 0
    rule_id: int = 0
    reserved: int = 0
    time_boot: int = 0
    cap_len: int = 0
    len: int = 0


RECORDER_CAPTURE_LEN = 24


def decode_recorder_capture(data: bytes) -> tuple[RecorderCapture, str | None]:
    fields, err = _read("<BBHIQII", tuple(RecorderCapture.__dataclass_fields__), data)
    return RecorderCapture(**fields), err


# --- names (pkg/monitor/api/types.go, drop.go; datapath_*.go) -------------------

OBSERVATION_POINTS = {
    0: "to-endpoint",
    1: "to-proxy",
    2: "to-host",
    3: "to-stack",
    4: "to-overlay",
    5: "from-endpoint",
    6: "from-proxy",
    7: "from-host",
    8: "from-stack",
    9: "from-overlay",
    10: "from-network",
    11: "to-network",
}

_TRACE_REASONS = {0: "new", 1: "established", 2: "reply", 3: "related",
                  4: "reopened", 5: "unknown"}
_TRACE_REASON_ENCRYPTED = 0x80

# api/drop.go "errors", as far as 1.13 goes (codes up to 188, NAT46/64).
DROP_REASONS = {
    0: "Success",
    2: "Invalid packet",
    3: "Interface",
    4: "Interface Decrypted",
    5: "LB, sock cgroup: No backend slot entry found",
    6: "LB, sock cgroup: No backend entry found",
    7: "LB, sock cgroup: Reverse entry update failed",
    8: "LB, sock cgroup: Reverse entry stale",
    9: "Fragmented packet",
    10: "Fragmented packet entry update failed",
    11: "Missed tail call to custom program",
    130: "Invalid source mac",
    131: "Invalid destination mac",
    132: "Invalid source ip",
    133: "Policy denied",
    134: "Invalid packet",
    135: "CT: Truncated or invalid header",
    136: "Fragmentation needed",
    137: "CT: Unknown L4 protocol",
    138: "CT: Can't create entry from packet",
    139: "Unsupported L3 protocol",
    140: "Missed tail call",
    141: "Error writing to packet",
    142: "Unknown L4 protocol",
    143: "Unknown ICMPv4 code",
    144: "Unknown ICMPv4 type",
    145: "Unknown ICMPv6 code",
    146: "Unknown ICMPv6 type",
    147: "Error retrieving tunnel key",
    148: "Error retrieving tunnel options",
    149: "Invalid Geneve option",
    150: "Unknown L3 target address",
    151: "Stale or unroutable IP",
    152: "No matching local container found",
    153: "Error while correcting L3 checksum",
    154: "Error while correcting L4 checksum",
    155: "CT: Map insertion failed",
    156: "Invalid IPv6 extension header",
    157: "IP fragmentation not supported",
    158: "Service backend not found",
    160: "No tunnel/encapsulation endpoint (datapath BUG!)",
    161: "NAT 46/64 not enabled",
    162: "Reached EDT rate-limiting drop horizon",
    163: "Unknown connection tracking state",
    164: "Local host is unreachable",
    165: "No configuration available to perform policy decision",
    166: "Unsupported L2 protocol",
    167: "No mapping for NAT masquerade",
    168: "Unsupported protocol for NAT masquerade",
    169: "FIB lookup failed",
    170: "Encapsulation traffic is prohibited",
    171: "Invalid identity",
    172: "Unknown sender",
    173: "NAT not needed",
    174: "Is a ClusterIP",
    175: "First logical datagram fragment not found",
    176: "Forbidden ICMPv6 message",
    177: "Denied by LB src range check",
    178: "Socket lookup failed",
    179: "Socket assign failed",
    180: "Proxy redirection not supported for protocol",
    181: "Policy denied by denylist",
    182: "VLAN traffic disallowed by VLAN filter",
    183: "Incorrect VNI from VTEP",
    184: "Failed to update or lookup TC buffer",
    185: "No SID was found for the IP address",
    186: "SRv6 state was removed during tail call",
    187: "L3 translation from IPv4 to IPv6 failed (NAT46)",
    188: "L3 translation from IPv6 to IPv4 failed (NAT64)",
}


def drop_reason(reason: int, ext_error: int = 0) -> str:
    """api/drop.go DropReasonExt: the text, ", ext" if any, else "code, ext"."""
    text = DROP_REASONS.get(reason)
    if text is None:
        return f"{reason}, {ext_error}"
    return f"{text}, {ext_error}" if ext_error else text


# datapath_drop.go sourceFileNames (bpf/source_names_to_ids.h).
_BPF_SOURCE_FILES = {1: "bpf_host.c", 2: "bpf_lxc.c", 3: "bpf_overlay.c", 4: "bpf_xdp.c",
                     101: "arp.h", 102: "drop.h", 103: "egress_policies.h",
                     104: "icmp6.h", 105: "nodeport.h"}


def _bpf_file_name(file_id: int) -> str:
    return _BPF_SOURCE_FILES.get(file_id, f"<unknown-id-{file_id}>")


# --- debug messages (pkg/monitor/datapath_debug.go) -----------------------------

_CT_STATES = {0: "New", 1: "Established", 2: "Reply", 3: "Related"}
_CT_DIRECTIONS = {0: "egress", 1: "ingress"}


def _ct_state(state: int) -> str:
    """ctState: unknown states fall back to the drop reason table."""
    return _CT_STATES.get(state) or drop_reason(state & 0xFF)


def _ct_flags(flags: int) -> str:
    # Go ranges over a map here, so with both bits set its order varies;
    # key 0 ("IN") can never match.
    names = [name for bit, name in ((1, "OUT"), (2, "RELATED")) if bit & flags]
    return ", ".join(names)


def _ct_info(arg1: int, arg2: int) -> str:
    return (f"sport={arg1 >> 16} dport={arg1 & 0xFFFF} nexthdr={arg2 >> 8} "
            f"flags={_ct_flags(arg2 & 0xFF)}")


def _verdict_info(arg: int) -> str:
    return f"revnat={_swap16(arg)}"


def _ct_lookup4_info1(m: DebugMsg) -> str:
    # The low half of arg3 is printed as the source port.
    return (f"src={_ip4_str(m.arg1)}:{m.arg3 & 0xFFFF} "
            f"dst={_ip4_str(m.arg2)}:{m.arg3 >> 16}")


def _ct_lookup6_info1(m: DebugMsg) -> str:
    return (f"src=[::{_ip6_str(m.arg1)}]:{m.arg3 & 0xFFFF} "
            f"dst=[::{_ip6_str(m.arg2)}]:{m.arg3 >> 16}")


def _ct_lookup4_info2(m: DebugMsg) -> str:
    return f"nexthdr={m.arg1 >> 8} flags={m.arg1 & 0xFF}"


def _ct_create4_info(m: DebugMsg) -> str:
    return (f"proxy-port={m.arg1 >> 16} revnat={_swap16(m.arg1)} "
            f"src-identity={m.arg2} lb={_ip4_str(m.arg3)}")


def _ct_create6_info(m: DebugMsg) -> str:
    return f"proxy-port={m.arg1 >> 16} revnat={_swap16(m.arg1)} src-identity={m.arg2}"


def _proxy_info(arg1: int, arg2: int) -> str:
    return f"sport={_swap16(arg1 >> 16)} dport={_swap16(arg1)} saddr={_ip4_str(arg2)}"


def _l4_create_info(m: DebugMsg) -> str:
    return (f"src={m.arg1} dst={m.arg2} dport={_swap16(m.arg3 >> 16)} "
            f"proto={m.arg3 & 0xFF}")


def _errno_text(errno: int) -> str:
    """syscall.Errno(n).Error(): Go's lower-case Linux strings, else "errno N"."""
    if 0 < errno < 134:
        text = os.strerror(errno)
        if not text.startswith("Unknown error"):
            return text[0].lower() + text[1:]
    return f"errno {errno}"


def _sk_assign_info(m: DebugMsg) -> str:
    return "Success" if m.arg1 == 0 else _errno_text(m.arg1)


_DebugFormatter = Callable[[DebugMsg, Mapping[int, str]], str]

# subtype -> (DBG_* name, formatter); the texts are datapath_debug.go's.
DEBUG_MESSAGES: dict[int, tuple[str, _DebugFormatter]] = {
    1: ("GENERIC",
        lambda m, _: f"No message, arg1={m.arg1} ({m.arg1:#x}) arg2={m.arg2} ({m.arg2:#x})"),
    2: ("LOCAL_DELIVERY",
        lambda m, _: f"Attempting local delivery for container id {m.arg1} from seclabel {m.arg2}"),
    3: ("ENCAP",
        lambda m, _: f"Encapsulating to node {m.arg1} ({m.arg1:#x}) from seclabel {m.arg2}"),
    4: ("LXC_FOUND",
        lambda m, ifn: f"Local container found ifindex {_ifname(ifn, m.arg1)} seclabel {_swap16(m.arg2)}"),
    5: ("POLICY_DENIED",
        lambda m, _: f"Policy evaluation would deny packet from {m.arg1} to {m.arg2}"),
    6: ("CT_LOOKUP", lambda m, _: f"CT lookup: {_ct_info(m.arg1, m.arg2)}"),
    7: ("CT_LOOKUP_REV", lambda m, _: f"CT reverse lookup: {_ct_info(m.arg1, m.arg2)}"),
    8: ("CT_MATCH", lambda m, _: f"CT entry found lifetime={m.arg1}, {_verdict_info(m.arg2)}"),
    9: ("CT_CREATED",
        lambda m, _: f"CT created 1/2: {_ct_info(m.arg1, m.arg2)} {_verdict_info(m.arg3)}"),
    10: ("CT_CREATED2",
         lambda m, _: f"CT created 2/2: {_ip4_str(m.arg1)} revnat={_swap16(m.arg2)}"),
    11: ("ICMP6_HANDLE", lambda m, _: f"Handling ICMPv6 type={m.arg1}"),
    12: ("ICMP6_REQUEST", lambda m, _: f"ICMPv6 echo request for router offset={m.arg1}"),
    13: ("ICMP6_NS",
         lambda m, _: f"ICMPv6 neighbour soliciation for address {m.arg1:x}:{m.arg2:x}"),
    14: ("ICMP6_TIME_EXCEEDED", lambda m, _: "Sending ICMPv6 time exceeded"),
    15: ("CT_VERDICT", lambda m, _: f"CT verdict: {_ct_state(m.arg1)}, {_verdict_info(m.arg2)}"),
    16: ("DECAP", lambda m, _: f"Tunnel decap: id={m.arg1} flowlabel={m.arg2:x}"),
    17: ("PORT_MAP", lambda m, _: f"Mapping port from={m.arg1} to={m.arg2}"),
    18: ("ERROR_RET", lambda m, _: f"BPF function {m.arg1} returned error {m.arg2}"),
    19: ("TO_HOST", lambda m, _: f"Going to host, policy-skip={m.arg1}"),
    20: ("TO_STACK", lambda m, _: f"Going to the stack, policy-skip={m.arg1}"),
    21: ("PKT_HASH",
         lambda m, _: f"Packet hash={m.arg1} ({m.arg1:#x}), selected_service={m.arg2}"),
    22: ("LB6_LOOKUP_FRONTEND",
         lambda m, _: f"Frontend service lookup, addr.p4={m.arg1:x} key.dport={_swap16(m.arg2)}"),
    23: ("LB6_LOOKUP_FRONTEND_FAIL",
         lambda m, _: f"Frontend service lookup failed, addr.p2={m.arg1:x} addr.p3={m.arg2:x}"),
    24: ("LB6_LOOKUP_BACKEND_SLOT",
         lambda m, _: f"Service backend slot lookup: slot={m.arg1}, dport={_swap16(m.arg2)}"),
    25: ("LB6_LOOKUP_BACKEND_SLOT_SUCCESS",
         lambda m, _: f"Service backend slot lookup result: target.p4={m.arg1:x} port={_swap16(m.arg2)}"),
    26: ("LB6_LOOKUP_BACKEND_SLOT_V2_FAIL",
         lambda m, _: f"Service backend slot lookup failed: slot={m.arg1}, dport={_swap16(m.arg2)}"),
    27: ("LB6_LOOKUP_BACKEND_FAIL",
         lambda m, _: f"Backend service lookup failed: backend_id={m.arg1}"),
    28: ("LB6_REVERSE_NAT_LOOKUP", lambda m, _: f"Reverse NAT lookup, index={_swap16(m.arg1)}"),
    29: ("LB6_REVERSE_NAT",
         lambda m, _: f"Performing reverse NAT, address.p4={m.arg1:x} port={_swap16(m.arg2)}"),
    30: ("LB4_LOOKUP_FRONTEND",
         lambda m, _: f"Frontend service lookup, addr={_ip4_str(m.arg1)} key.dport={_swap16(m.arg2)}"),
    31: ("LB4_LOOKUP_FRONTEND_FAIL", lambda m, _: "Frontend service lookup failed"),
    32: ("LB4_LOOKUP_BACKEND_SLOT",
         lambda m, _: f"Service backend slot lookup: slot={m.arg1}, dport={_swap16(m.arg2)}"),
    33: ("LB4_LOOKUP_BACKEND_SLOT_SUCCESS",
         lambda m, _: f"Service backend slot lookup result: target={_ip4_str(m.arg1)} port={_swap16(m.arg2)}"),
    34: ("LB4_LOOKUP_BACKEND_SLOT_V2_FAIL",
         lambda m, _: f"Service backend slot lookup failed: slot={m.arg1}, dport={_swap16(m.arg2)}"),
    35: ("LB4_LOOKUP_BACKEND_FAIL",
         lambda m, _: f"Backend service lookup failed: backend_id={m.arg1}"),
    36: ("LB4_REVERSE_NAT_LOOKUP", lambda m, _: f"Reverse NAT lookup, index={_swap16(m.arg1)}"),
    37: ("LB4_REVERSE_NAT",
         lambda m, _: f"Performing reverse NAT, address={_ip4_str(m.arg1)} port={_swap16(m.arg2)}"),
    38: ("LB4_LOOPBACK_SNAT",
         lambda m, _: f"Loopback SNAT from={_ip4_str(m.arg1)} to={_ip4_str(m.arg2)}"),
    39: ("LB4_LOOPBACK_SNAT_REV",
         lambda m, _: f"Loopback reverse SNAT from={_ip4_str(m.arg1)} to={_ip4_str(m.arg2)}"),
    40: ("CT_LOOKUP4", lambda m, _: f"CT lookup address: {_ip4_str(m.arg1)}"),
    41: ("RR_BACKEND_SLOT_SEL",
         lambda m, _: f"RR backend slot selection hash={m.arg1} ({m.arg1:#x}), selected_service={m.arg2}"),
    42: ("REV_PROXY_LOOKUP",
         lambda m, _: f"Reverse proxy lookup {_proxy_info(m.arg1, m.arg2)} nexthdr={m.arg3}"),
    43: ("REV_PROXY_FOUND",
         lambda m, _: f"Reverse proxy entry found, orig-daddr={_ip4_str(m.arg1)} orig-dport={m.arg2}"),
    44: ("REV_PROXY_UPDATE",
         lambda m, _: f"Reverse proxy updated {_proxy_info(m.arg1, m.arg2)} nexthdr={m.arg3}"),
    45: ("L4_POLICY",
         lambda m, _: f"Resolved L4 policy to: {_swap16(m.arg1)} / {_CT_DIRECTIONS.get(m.arg2, '')}"),
    46: ("NETDEV_IN_CLUSTER",
         lambda m, _: f"Destination is inside cluster prefix, source identity: {m.arg1}"),
    47: ("NETDEV_ENCAP4",
         lambda m, _: f"Attempting encapsulation, lookup key: {_ip4_str(m.arg1)}, identity: {m.arg2}"),
    48: ("CT_LOOKUP4_1", lambda m, _: f"Conntrack lookup 1/2: {_ct_lookup4_info1(m)}"),
    49: ("CT_LOOKUP4_2", lambda m, _: f"Conntrack lookup 2/2: {_ct_lookup4_info2(m)}"),
    50: ("CT_CREATED4", lambda m, _: f"Conntrack create: {_ct_create4_info(m)}"),
    51: ("CT_LOOKUP6_1", lambda m, _: f"Conntrack lookup 1/2: {_ct_lookup6_info1(m)}"),
    52: ("CT_LOOKUP6_2", lambda m, _: f"Conntrack lookup 2/2: {_ct_lookup4_info2(m)}"),
    53: ("CT_CREATED6", lambda m, _: f"Conntrack create: {_ct_create6_info(m)}"),
    54: ("SKIP_PROXY", lambda m, _: f"Skipping proxy, tc_index is set={m.arg1:x}"),
    55: ("L4_CREATE", lambda m, _: f"Matched L4 policy; creating conntrack {_l4_create_info(m)}"),
    56: ("IP_ID_MAP_FAILED4", lambda m, _: f"Failed to map addr={_ip4_str(m.arg1)} to identity"),
    57: ("IP_ID_MAP_FAILED6",
         lambda m, _: f"Failed to map addr.p4=[::{_ip6_str(m.arg1)}] to identity"),
    58: ("IP_ID_MAP_SUCCEED4",
         lambda m, _: f"Successfully mapped addr={_ip4_str(m.arg1)} to identity={m.arg2}"),
    59: ("IP_ID_MAP_SUCCEED6",
         lambda m, _: f"Successfully mapped addr.p4=[::{_ip6_str(m.arg1)}] to identity={m.arg2}"),
    60: ("LB_STALE_CT",
         lambda m, _: f"Stale CT entry found stale_ct.rev_nat_id={m.arg2}, svc.rev_nat_id={m.arg1}"),
    61: ("INHERIT_IDENTITY", lambda m, _: f"Inheriting identity={m.arg1} from stack"),
    62: ("SK_LOOKUP4", lambda m, _: f"Socket lookup: {_ct_lookup4_info1(m)}"),
    63: ("SK_LOOKUP6", lambda m, _: f"Socket lookup: {_ct_lookup6_info1(m)}"),
    64: ("SK_ASSIGN", lambda m, _: f"Socket assign: {_sk_assign_info(m)}"),
    65: ("L7_LB",
         lambda m, _: f"L7 LB from {_ip4_str(m.arg1)} to {_ip4_str(m.arg2)}: proxy port {m.arg3}"),
}


def debug_message(msg: DebugMsg, ifnames: Mapping[int, str] | None = None) -> str:
    """DebugMsg.Message: the text after "DEBUG: "."""
    entry = DEBUG_MESSAGES.get(msg.subtype)
    if entry is None:
        return f"Unknown message type={msg.subtype} arg1={msg.arg1} arg2={msg.arg2}"
    return entry[1](msg, ifnames or {})


# DebugCapture subtypes (DBG_CAPTURE_*): text for -vv, and the -v/default prefix.
def _capture_message(c: DebugCapture) -> str:
    texts = {
        4: f"Delivery to ifindex {c.arg1}",
        5: f"Incoming packet to load balancer on ifindex {c.arg1}",
        6: f"Packet after nat46 ifindex {c.arg1}",
        7: f"Packet after nat64 ifindex {c.arg1}",
        8: f"Packet to proxy port {_swap16(c.arg1)} (Pre)",
        9: f"Packet to proxy port {_swap16(c.arg1)} (Post)",
        10: f"Packet going into snat engine on ifindex {c.arg1}",
        11: f"Packet coming from snat engine on ifindex {c.arg1}",
    }
    return texts.get(c.subtype, f"Unknown message type={c.subtype} arg1={c.arg1}")


def _capture_info_prefix(c: DebugCapture, ifnames: Mapping[int, str]) -> str:
    prefixes = {
        4: lambda: f"-> {_ifname(ifnames, c.arg1)}",
        5: lambda: f"<- load-balancer {_ifname(ifnames, c.arg1)}",
        6: lambda: f"== v4->v6 {c.arg1}",
        7: lambda: f"== v6->v4 {c.arg1}",
        9: lambda: f"-> proxy port {_swap16(c.arg1)}",
    }
    make = prefixes.get(c.subtype)
    return make() if make else ""


# --- event lines (datapath_*.go DumpInfo / DumpVerbose / Dump) ------------------


def _trace_reason(tn: TraceNotify) -> str:
    """connState: the CT state without the encrypt bit, else the raw number."""
    return _TRACE_REASONS.get(tn.reason & ~_TRACE_REASON_ENCRYPTED & 0xFF, str(tn.reason))


def _trace_summary(tn: TraceNotify) -> str:
    """TraceNotify.traceSummary, the default-verbosity verb."""
    summaries = {
        0: f"-> endpoint {tn.dst_id}",
        1: "-> proxy" + (f" port {tn.dst_id}" if tn.dst_id else ""),
        2: "-> host from",
        3: "-> stack",
        4: "-> overlay",
        11: "-> network",
        5: f"<- endpoint {tn.source}",
        6: "<- proxy",
        7: "<- host",
        8: "<- stack",
        9: "<- overlay",
        10: "<- network",
    }
    return summaries.get(tn.obs_point, "unknown trace")


def _observation_point(obs_point: int) -> str:
    return OBSERVATION_POINTS.get(obs_point, str(obs_point))


def _identities(src: int, dst: int, numeric: bool) -> str:
    # dumpIdentity in datapath_trace.go / datapath_drop.go starts with ", ".
    return f", identity {identity_name(src, numeric)}->{identity_name(dst, numeric)}"


def _trace_info(tn: TraceNotify, data: bytes, ifnames, numeric: bool) -> str:
    """TraceNotify.DumpInfo (default and -v)."""
    encrypted = "encrypted " if tn.reason & _TRACE_REASON_ENCRYPTED else ""
    verb = f"{_trace_summary(tn)} {encrypted}" if encrypted else _trace_summary(tn)
    return (f"{verb} flow {tn.hash:#x} {_identities(tn.src_label, tn.dst_label, numeric)}"
            f" state {_trace_reason(tn)} ifindex {_ifname(ifnames, tn.ifindex)}"
            f" orig-ip {tn.original_ip()}: {connection_summary(data[tn.data_offset:])}")


def _trace_verbose(tn: TraceNotify, data: bytes, prefix: str, ifnames,
                   numeric: bool) -> list[str]:
    """TraceNotify.DumpVerbose (-vv): layers first, then the buffered line.

    The doubled ", , identity" is Go's: it writes ", " before dumpIdentity.
    """
    line = (f"{prefix} MARK {tn.hash:#x} FROM {tn.source} {_observation_point(tn.obs_point)}:"
            f" {tn.orig_len} bytes ({tn.cap_len} captured), state {_trace_reason(tn)}")
    if tn.ifindex:
        line += f", interface {_ifname(ifnames, tn.ifindex)}"
    if tn.src_label or tn.dst_label:
        line += ", " + _identities(tn.src_label, tn.dst_label, numeric)
    line += f", orig-ip {tn.original_ip()}"
    if tn.dst_id:
        target = "proxy-port" if tn.obs_point == 1 else "endpoint"
        line += f", to {target} {tn.dst_id}"
    layers = _layers_if(tn.cap_len > 0, data, tn.data_offset)
    return layers + [line]


def _layers_if(captured: bool, data: bytes, offset: int) -> list[str]:
    """Go dissects only when something was captured and data follows the header."""
    if captured and len(data) > offset:
        return dissect_lines(data[offset:])
    return []


def _trace_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    tn, err = decode_trace_notify(data)
    lines = [f"Error while parsing trace notification message: {err}"] if err else []
    if level == VERBOSE:
        return lines + [SEPARATOR] + _trace_verbose(tn, data, prefix, ifnames, numeric)
    return lines + [_trace_info(tn, data, ifnames, numeric)]


def _drop_info(dn: DropNotify, data: bytes, numeric: bool) -> str:
    """DropNotify.DumpInfo: note "ifindex" is the number, not the name."""
    return (f"xx drop ({drop_reason(dn.reason, dn.ext_error)}) flow {dn.hash:#x} "
            f"to endpoint {dn.dst_id}, ifindex {dn.ifindex}, "
            f"file {_bpf_file_name(dn.file)}:{dn.line}, "
            f"{_identities(dn.src_label, dn.dst_label, numeric)}"
            f": {connection_summary(data[DROP_NOTIFY_LEN:])}")


def _drop_verbose(dn: DropNotify, data: bytes, prefix: str, numeric: bool) -> list[str]:
    line = (f"{prefix} MARK {dn.hash:#x} FROM {dn.source} DROP: {dn.orig_len} bytes, "
            f"reason {drop_reason(dn.reason, dn.ext_error)}")
    if dn.src_label or dn.dst_label:
        line += _identities(dn.src_label, dn.dst_label, numeric)
    if dn.dst_id:
        line += f", to endpoint {dn.dst_id}"
    return _layers_if(dn.cap_len > 0, data, DROP_NOTIFY_LEN) + [line]


def _drop_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    dn, err = decode_drop_notify(data)
    lines = [f"Error while parsing drop notification message: {err}"] if err else []
    if level == VERBOSE:
        return lines + [SEPARATOR] + _drop_verbose(dn, data, prefix, numeric)
    return lines + [_drop_info(dn, data, numeric)]


def _debug_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    """DebugMsg: DumpInfo (default) prints nothing; -v and -vv print Dump."""
    msg, err = decode_debug_msg(data)
    lines = [f"Error while parsing debug message: {err}"] if err else []
    if level == INFO:
        return lines
    text = debug_message(msg, ifnames)
    return lines + [f"{prefix} MARK {msg.hash:#x} FROM {msg.source} DEBUG: {text}"]


def _capture_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    """DebugCapture: DumpInfo prints only subtypes with a prefix; -vv is unbuffered,
    so its header line comes before the layers."""
    dc, err = decode_debug_capture(data)
    lines = [f"Error while parsing debug capture message: {err}"] if err else []
    if level != VERBOSE:
        info = _capture_info_prefix(dc, ifnames)
        if info:
            lines.append(f"{info}: {connection_summary(data[DEBUG_CAPTURE_LEN:])}")
        return lines
    lines += [SEPARATOR,
              f"{prefix} MARK {dc.hash:#x} FROM {dc.source} DEBUG: {dc.len} bytes, "
              f"{_capture_message(dc)}"]
    return lines + _layers_if(dc.len > 0, data, DEBUG_CAPTURE_LEN)


_POLICY_MATCH_TYPES = {0: "none", 1: "L3-Only", 2: "L3-L4", 3: "L4-Only", 4: "all"}


def _policy_verdict_line(pv: PolicyVerdictNotify, data: bytes, numeric: bool) -> str:
    """PolicyVerdictNotify.DumpInfo, printed at every verbosity (and with -j)."""
    direction = "ingress" if (pv.flags & 0x3) == 1 else "egress"
    if pv.flags & 0x40:
        action = "audit"
    else:
        action = "deny" if pv.verdict < 0 else "redirect" if pv.verdict > 0 else "allow"
    match = _POLICY_MATCH_TYPES.get((pv.flags & 0x38) >> 3, "unknown")
    return (f"Policy verdict log: flow {pv.hash:#x} local EP ID {pv.source}, "
            f"remote ID {identity_name(pv.remote_label, numeric)}, proto {pv.proto}, "
            f"{direction}, action {action}, match {match}, "
            f"{connection_summary(data[POLICY_VERDICT_NOTIFY_LEN:])}")


def _policy_verdict_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    pv, err = decode_policy_verdict(data)
    lines = [f"Error while parsing policy notification message: {err}"] if err else []
    return lines + [_policy_verdict_line(pv, data, numeric)]


def _trace_sock_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    """TraceSockNotify.DumpDebug: format.go prints it with -v only, not -vv."""
    ts, err = decode_trace_sock(data)
    lines = [f"Error while parsing socket trace notification message: {err}"] if err else []
    if level != DEBUG:
        return lines
    points = {1: "pre-xlate-fwd", 2: "post-xlate-fwd", 3: "pre-xlate-rev", 4: "post-xlate-rev"}
    dst_ip = go_ip(ts.dst_ip if ts.flags & 1 else ts.dst_ip[:4])
    proto = {1: "tcp", 2: "udp"}.get(ts.l4_proto, "unknown")
    return lines + [
        f"{prefix} [{points.get(ts.xlate_point, 'unknown')}] cgroup_id: {ts.cgroup_id} "
        f"sock_cookie: {ts.sock_cookie}, dst [{dst_ip}]:{ts.dst_port} {proto} "]


def _recorder_lines(data, prefix, level, ifnames, numeric) -> list[str]:
    """RecorderCapture.DumpInfo, printed at every verbosity."""
    rc, err = decode_recorder_capture(data)
    lines = [f"Error while parsing capture record: {err}"] if err else []
    direction = "ingress" if rc.subtype == 1 else "egress"
    lines.append(f"Recorder capture: dir:{direction} rule:{rc.rule_id} ts:{rc.time_boot} "
                 f"caplen:{rc.cap_len} len:{rc.len}")
    return lines + dissect_lines(data[RECORDER_CAPTURE_LEN:]) + ["----"]


_TEXT_HANDLERS = {
    MSG_DROP: _drop_lines,
    MSG_DEBUG: _debug_lines,
    MSG_CAPTURE: _capture_lines,
    MSG_TRACE: _trace_lines,
    MSG_POLICY_VERDICT: _policy_verdict_lines,
    MSG_RECORDER: _recorder_lines,
    MSG_TRACE_SOCK: _trace_sock_lines,
}


def _cpu_prefix(cpu: int) -> str:
    return f"CPU {cpu:02d}:"


def _level(verbosity: int) -> int:
    return max(INFO, min(int(verbosity), VERBOSE))


def format_sample(sample: Sample, verbosity: int = INFO,
                  ifnames: Mapping[int, str] | None = None, numeric: bool = False) -> str:
    """What ``cilium monitor`` (0), ``-v`` (1) or ``-vv`` (2) prints for a sample.

    ``ifnames`` maps ifindex to interface name (Cilium's link cache); unknown
    indexes print as numbers.  ``numeric`` is ``cilium monitor -n``.
    """
    data = bytes(sample.data)
    if not data:
        return ""  # Go would index data[0] and panic
    prefix = _cpu_prefix(sample.cpu)
    handler = _TEXT_HANDLERS.get(data[0])
    if handler is None:
        return f"{prefix} Unknown event: {go_byte_list(data)}"
    return "\n".join(handler(data, prefix, _level(verbosity), ifnames or {}, numeric))


def format_lost(lost: Lost) -> str:
    """format.go LostEvent."""
    return f"{_cpu_prefix(lost.cpu)} Lost {lost.count} events"


def header(ncpus: int, npages: int = 64, pagesize: int = 4096) -> str:
    """The two lines cilium/cmd/monitor.go writes (to stderr) before any event."""
    return (f"Listening for events on {ncpus} CPUs with {npages}x{pagesize} of shared memory\n"
            "Press Ctrl-C to quit")


# --- JSON (cilium monitor -j) ------------------------------------------------------


def to_json(sample: Sample, ifnames: Mapping[int, str] | None = None) -> dict | None:
    """The object ``cilium monitor -j`` prints for a sample, keys in Go's order.

    None for events that -j prints as text (policy verdicts, recorder
    captures, unknown types) or not at all (socket traces); ``format_json``
    gives the exact output for every event.
    """
    data = bytes(sample.data)
    if not data:
        return None
    builder = _JSON_BUILDERS.get(data[0])
    return builder(data, _cpu_prefix(sample.cpu), ifnames or {}) if builder else None


def _trace_json(data: bytes, prefix: str, ifnames) -> dict:
    """TraceNotifyVerbose (datapath_trace.go)."""
    tn, _ = decode_trace_notify(data)
    obj = _omit_empty({
        "cpu": prefix, "type": "trace", "mark": f"{tn.hash:#x}",
        "ifindex": _ifname(ifnames, tn.ifindex), "state": _trace_reason(tn),
        "observationPoint": _observation_point(tn.obs_point),
        "traceSummary": _trace_summary(tn), "source": tn.source, "bytes": tn.orig_len,
        "srcLabel": tn.src_label, "dstLabel": tn.dst_label, "dstID": tn.dst_id,
    }, ("cpu", "type", "mark", "ifindex", "state"))
    if tn.cap_len > 0 and len(data) > tn.data_offset:
        obj["summary"] = dissect_summary(data[tn.data_offset:])
    return obj


def _drop_json(data: bytes, prefix: str, ifnames) -> dict:
    """DropNotifyVerbose (datapath_drop.go)."""
    dn, _ = decode_drop_notify(data)
    obj = _omit_empty({
        "cpu": prefix, "type": "drop", "mark": f"{dn.hash:#x}",
        "reason": drop_reason(dn.reason, dn.ext_error), "source": dn.source,
        "bytes": dn.orig_len, "srcLabel": dn.src_label, "dstLabel": dn.dst_label,
        "dstID": dn.dst_id, "Line": dn.line, "File": dn.file, "ExtError": dn.ext_error,
        "Ifindex": dn.ifindex,
    }, ("cpu", "type", "mark", "reason"))
    if dn.cap_len > 0 and len(data) > DROP_NOTIFY_LEN:
        obj["summary"] = dissect_summary(data[DROP_NOTIFY_LEN:])
    return obj


def _debug_json(data: bytes, prefix: str, ifnames) -> dict:
    msg, _ = decode_debug_msg(data)
    return {"cpu": prefix, "type": "debug", "message": debug_message(msg, ifnames)}


def _capture_json(data: bytes, prefix: str, ifnames) -> dict:
    """DebugCaptureVerbose (datapath_debug.go); its summary is the one-line form."""
    dc, _ = decode_debug_capture(data)
    return _omit_empty({
        "cpu": prefix, "type": "capture", "mark": f"{dc.hash:#x}",
        "message": _capture_message(dc), "prefix": _capture_info_prefix(dc, ifnames),
        "source": dc.source, "bytes": dc.len,
        "summary": connection_summary(data[DEBUG_CAPTURE_LEN:]),
    }, ("cpu", "type", "mark", "message", "prefix", "summary"))


_JSON_BUILDERS = {
    MSG_TRACE: _trace_json,
    MSG_DROP: _drop_json,
    MSG_DEBUG: _debug_json,
    MSG_CAPTURE: _capture_json,
}

_JSON_PARSE_ERRORS = {
    MSG_TRACE: ("trace notification message", decode_trace_notify),
    MSG_DROP: ("drop notification message", decode_drop_notify),
    MSG_DEBUG: ("debug message", decode_debug_msg),
    MSG_CAPTURE: ("debug capture message", decode_debug_capture),
}


def format_json(sample: Sample, ifnames: Mapping[int, str] | None = None,
                numeric: bool = False) -> str:
    """Exactly what ``cilium monitor -j`` prints for a sample ("" for nothing)."""
    data = bytes(sample.data)
    if not data:
        return ""
    kind = data[0]
    if kind not in _JSON_BUILDERS:
        # Policy verdicts, recorder captures and unknown types ignore -j;
        # socket traces print nothing (only a parse error, if any).
        return format_sample(sample, INFO, ifnames, numeric)
    what, decode = _JSON_PARSE_ERRORS[kind]
    _, err = decode(data)
    lines = [f"Error while parsing {what}: {err}"] if err else []
    obj = to_json(sample, ifnames)
    if kind == MSG_DEBUG:  # DebugMsg.getJSON formats with %q, not encoding/json
        line = (f'{{"cpu":{_go_quote(obj["cpu"])},"type":"debug",'
                f'"message":{_go_quote(obj["message"])}}}')
    else:
        line = _go_json(obj)
    return "\n".join(lines + [line])

