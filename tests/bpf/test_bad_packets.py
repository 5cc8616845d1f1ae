"""Bad packets: a corpus of malformed frames run through every program of the
datapath, in every configuration that compiles it differently, with
BPF_PROG_TEST_RUN.

Each case of CASES is one frame and the verdict the C says each program must
give it; each (case, program, configuration) is one test, with an id such as
``ipv4-ihl-4@from-netdev-native``.  A test checks:

- the verdict (TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT), or that the kernel
  refused the frame before the program ran (BPF_PROG_TEST_RUN wants 14 bytes
  of Ethernet and a whole 20-byte IPv4 / 40-byte IPv6 header);
- the frame that comes out: unchanged for a pass, byte for byte the routed or
  translated frame for a redirect or a rewrite (computed here, not by BPF);
- cilium_metrics: exactly one packet more, under the program's point and
  direction, with reason 0 and the verdict for what was forwarded, with the
  DROP_* reason and TC_ACT_SHOT for what was dropped; nothing for a refusal;
- conntrack and NAT: what is dropped or passed leaves no entry behind, a
  translation leaves one;
- for a tunnel redirect, the tunnel key set (remote node, VNI).

Configurations (the objects differ by node_config.h):

- ``plain``: VXLAN, no kube-proxy replacement (no from-netdev / to-netdev);
- ``vxlan``, ``native``, ``legacy``: bpf_lab.MODES (kube-proxy replacement;
  BPF masquerade in the first two; BPF host routing in ``native``);
- ``masq``: native routing with BPF masquerade only (conntrack and NAT maps,
  no services).

Every build is the TEST_MOCK_TUNNEL_KEY one, so from-overlay can be handed a
tunnel key (VNI 46188 from kind-worker2 unless a case says otherwise).

What the datapath leaves alone by design, and the corpus pins: IPv4 total
length and header checksum are the receiver's to judge (forwarded as they
are); with no fragment tracking, only a first fragment carries ports, so a
later fragment to a service or a NodePort goes on untranslated (a pod's to
the world would leave to-netdev unmasqueraded, like any protocol NAT does not
know); the VNI (the sender's identity) would feed policy, which cnilab does
not enforce.
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Callable

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN

import bpf_lab as lab
from conftest import MOCK_DEFINE, needs_root, open_datapath, open_mode
from cnilab.cni.cilium.sources import compile_object
from cnilab.cni.cilium.headers import render_ep_config, render_node_config
from cnilab.cni.cilium.maps import (
    DROP_CT_INVALID_HDR, DROP_INVALID, HOST_ID, REMOTE_NODE_ID, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, Direction, ObsPoint,
    metrics_entries,
)
from cnilab.bpf.bpftool import bpftool_hex
from cnilab.bpf.testrun import Sandbox, SandboxError

pytestmark = needs_root

A, B, NODE = lab.POD_A, lab.POD_B, lab.NODE
REMOTE_MAC = "02:42:ac:12:00:04"  # kind-worker2's eth0, the underlay neighbour
REMOTE_POD_MAC, REMOTE_LXC_MAC = "0a:58:0a:00:01:17", "0e:4f:10:00:01:17"
WORLD_MAC = "02:42:c6:33:64:01"
VNI = 46188  # the identity of the remote pod, as cilium_vxlan reports it
CPORT = 40000  # a client port inside the SNAT range: masquerade and NodePort SNAT keep it

# --- programs and configurations -------------------------------------------

PROGRAMS = {
    "from-container": ("cil_from_container", ObsPoint.FROM_CONTAINER, Direction.EGRESS),
    "to-overlay": ("cil_to_overlay", ObsPoint.TO_OVERLAY, Direction.EGRESS),
    "from-overlay": ("cil_from_overlay", ObsPoint.FROM_OVERLAY, Direction.INGRESS),
    "to-host": ("cil_to_host", ObsPoint.TO_HOST, Direction.INGRESS),
    "from-host": ("cil_from_host", ObsPoint.FROM_HOST, Direction.EGRESS),
    "from-netdev": ("cil_from_netdev", ObsPoint.FROM_NETDEV, Direction.INGRESS),
    "to-netdev": ("cil_to_netdev", ObsPoint.TO_NETDEV, Direction.EGRESS),
}
KPR = ("vxlan", "native", "legacy")
MASQ = ("vxlan", "native", "masq")  # to-netdev masquerades
NETDEV = ("vxlan", "native", "legacy", "masq")  # bpf_host.o has from-netdev / to-netdev
CONFIGS = ("plain", *NETDEV)
MASQ_ONLY = dict(tunnel=False, kube_proxy_replacement=False, bpf_masquerade=True, host_routing_bpf=False,
                 snat_exclusion_cidr="10.0.0.0/8")


def programs_of(config: str) -> list[str]:
    return [p for p in PROGRAMS if config in NETDEV or p not in ("from-netdev", "to-netdev")]


# --- expected outcomes ----------------------------------------------------------

Rewrite = Callable[[bytes], bytes]


@dataclasses.dataclass(frozen=True)
class Outcome:
    verdict: int | None  # None: BPF_PROG_TEST_RUN refuses the frame, the program never runs
    reason: int = 0  # -DROP_* when dropped
    out: Rewrite | None = None  # the frame that comes out; None: the frame unchanged (drops: not checked)
    state: bool = False  # a translation: conntrack / NAT entries appear
    encap: tuple[str, int] | None = None  # tunnel redirect: (remote node, VNI)

    def __str__(self) -> str:
        if self.verdict is None:
            return "refused"
        if self.verdict == TC_ACT_SHOT:
            return f"drop({self.reason})"
        return {TC_ACT_OK: "pass", TC_ACT_REDIRECT: "redirect"}[self.verdict]


PASS = Outcome(TC_ACT_OK)
REFUSED = Outcome(None)


def DROP(reason: int) -> Outcome:  # noqa: N802
    return Outcome(TC_ACT_SHOT, reason)


def REDIRECT(out: Rewrite | None = None, state: bool = False) -> Outcome:  # noqa: N802
    return Outcome(TC_ACT_REDIRECT, out=out, state=state)


def REWRITE(out: Rewrite, state: bool = True) -> Outcome:  # noqa: N802
    """Passed to the stack, translated."""
    return Outcome(TC_ACT_OK, out=out, state=state)


def ENCAP(remote: str, vni: int) -> Outcome:  # noqa: N802
    """Redirected to cilium_vxlan unchanged, with a tunnel key."""
    return Outcome(TC_ACT_REDIRECT, encap=(remote, vni))


def at(program: str, configs: tuple[str, ...], outcome: Outcome) -> dict[str, Outcome]:
    return {f"{program}@{c}": outcome for c in configs}


# --- bytes ----------------------------------------------------------------------

def csum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ones_add(a: int, b: int) -> int:
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def forwarded(frame: bytes, macs: tuple[str, str] | None = None, ttl_dec: int = 1) -> bytes:
    """``frame`` as a router forwards it: MACs (src, dst) replaced, TTL-1, and the
    header checksum recomputed from scratch -- keeping whatever error it had."""
    out = bytearray(frame)
    if macs:
        out[6:12] = bytes.fromhex(macs[0].replace(":", ""))
        out[0:6] = bytes.fromhex(macs[1].replace(":", ""))
    ihl = (out[14] & 0x0F) * 4
    old = bytes(out[14:14 + ihl])
    error = (struct.unpack_from("!H", old, 10)[0] - csum16(old[:10] + b"\0\0" + old[12:])) % 0xFFFF
    out[22] -= ttl_dec
    hdr = bytes(out[14:14 + ihl])
    struct.pack_into("!H", out, 24, ones_add(csum16(hdr[:10] + b"\0\0" + hdr[12:]), error))
    return bytes(out)


def to_pod(pod) -> Rewrite:
    return lambda f: forwarded(f, (pod.node_mac, pod.mac))


def native(f: bytes) -> bytes:
    """bpf_redirect_neigh to eth0: TTL-1 here, MACs from the neighbour table later."""
    return forwarded(f, None)


def eth(dst: str = A.node_mac, src: str = A.mac, type_: int = 0x0800) -> bytes:
    return bytes(Ether(dst=dst, src=src, type=type_))


def from_pod(ip_and_more: bytes, dst_mac: str = A.node_mac) -> bytes:
    return eth(dst_mac) + ip_and_more


def from_world(ip_and_more: bytes, src_mac: str = REMOTE_MAC) -> bytes:
    return eth(NODE.node_mac, src_mac) + ip_and_more


def ip4(src: str, dst: str, payload, proto: int, ttl: int = 64, options: bytes = b"", flags: int = 0,
        frag: int = 0, tot_len: int | None = None, ip_id: int = 0x4242) -> bytes:
    """An IPv4 header (checksum right for what it says) and ``payload``: raw bytes, or
    a scapy layer whose checksum scapy computes over this header's addresses."""
    pkt = IP(src=src, dst=dst, ttl=ttl, proto=proto, flags=flags, frag=frag, id=ip_id, len=tot_len)
    if options:
        pkt.options = options
    return bytes(pkt / payload)


def patched(frame: bytes, offset: int, value: int, fix_csum: bool = True) -> bytes:
    """``frame`` with one byte of its IPv4 header replaced (offset from the IP header)."""
    out = bytearray(frame)
    out[14 + offset] = value
    if fix_csum:  # over the 20 bytes every case here has
        out[24:26] = b"\0\0"
        struct.pack_into("!H", out, 24, csum16(bytes(out[14:34])))
    return bytes(out)


def tcp(sport: int, dport: int, payload: bytes = b"GET / HTTP/1.1\r\n\r\n") -> TCP:
    return TCP(sport=sport, dport=dport, flags="S", seq=1000, window=64240) / payload


def l4_bytes(src: str, dst: str, layer) -> bytes:
    """The L4 header and payload with the checksum of the whole (unfragmented) datagram."""
    return bytes(IP(src=src, dst=dst, proto=6 if TCP in layer else 17) / layer)[20:]


FRAG = 24  # bytes of L4 in a first fragment (multiple of 8, more than a TCP header)


def fragment(frame: bytes, first: bool) -> bytes:
    """The first (MF, offset 0) or the second and last fragment of the datagram ``frame``."""
    pkt = Ether(frame)
    l4 = bytes(pkt[IP].payload)
    ip = pkt[IP].copy()
    ip.remove_payload()
    ip.flags, ip.frag = (1, 0) if first else (0, FRAG // 8)
    del ip.len, ip.chksum
    return bytes(Ether(dst=pkt.dst, src=pkt.src, type=0x0800) / ip / (l4[:FRAG] if first else l4[FRAG:]))


def frag_translated(whole: bytes, first: bool, **kw) -> Rewrite:
    """Expected output: the whole datagram translated (lab.translated), then fragmented."""
    return lambda _f: fragment(lab.translated(whole, **kw), first)


def vxlan(inner: bytes, vni: int = VNI, cut: int | None = None) -> bytes:
    """``inner`` as kind-worker2 sends it to us on 8472 (the device's outer headers)."""
    outer = bytes(IP(src=lab.REMOTE_NODE_IP, dst=NODE.node_ip, ttl=64, id=0x5a5a)
                  / UDP(sport=51234, dport=8472, chksum=0) / VXLAN(vni=vni, flags=0x08) / inner)
    if cut is not None:  # keep the outer IPv4 + UDP headers and ``cut`` bytes after them
        outer = outer[:28 + cut]
    return from_world(outer)


def remote_pod_frame(ip_and_more: bytes) -> bytes:
    """What cilium_vxlan hands up after decapsulation: the remote pod's own MACs."""
    return eth(REMOTE_LXC_MAC, REMOTE_POD_MAC) + ip_and_more


PING = ICMP(type=8, id=7, seq=1) / (b"cnilab" * 8)


def ping(src: str, dst: str, **kw) -> bytes:
    return ip4(src, dst, bytes(PING), 1, **kw)


def arp_raw(hln: int, pln: int) -> bytes:
    """An ARP request from POD_A for the router IP, with address lengths as given."""
    head = struct.pack("!HHBBH", 1, 0x0800, hln, pln, 1)
    sha = bytes.fromhex(A.mac.replace(":", "")).ljust(hln, b"\0")
    spa = bytes(map(int, A.ip.split("."))).ljust(pln, b"\0")
    tpa = bytes(map(int, NODE.router_ip.split("."))).ljust(pln, b"\0")
    return eth("ff:ff:ff:ff:ff:ff", type_=0x0806) + head + sha + spa + bytes(hln) + tpa


# --- the corpus -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    frame: bytes
    expect: dict[str, Outcome]  # "program@config", "program", "*": first match wins
    overlay: tuple[bytes, int] | None = None  # what from-overlay gets instead: decapsulated frame, VNI
    why: str = ""

    def outcome(self, program: str, config: str) -> Outcome:
        if program in ("to-overlay", "to-host") or (program == "to-netdev" and config not in MASQ):
            # Count and pass, whatever it is (to-netdev without BPF masquerade does nothing else).
            return REFUSED if self.expect.get("*") is REFUSED else PASS
        for key in (f"{program}@{config}", program, "*"):
            if key in self.expect:
                return self.expect[key]
        raise KeyError(f"{self.name}: no expectation for {program}@{config}")


def every(outcome: Outcome) -> dict[str, Outcome]:
    return {"*": outcome}


# A malformed IPv4 header: every program that reads one drops it.
INVALID = every(DROP(DROP_INVALID))


def delivered_to(pod, frame_out: Rewrite | None = None) -> dict[str, Outcome]:
    """A packet for a pod of this node: routed into it by whoever reads IPv4, except
    from-netdev, which delivers only with BPF host routing, and to-netdev, where the
    destination is inside the native-routing CIDR (never masqueraded)."""
    out = frame_out or to_pod(pod)
    return {"*": REDIRECT(out), "from-netdev": PASS, "from-netdev@native": REDIRECT(out), "to-netdev": PASS}


def not_ours(native_redirect: bool = True) -> dict[str, Outcome]:
    """A destination the datapath does not route: the stack's, or, with BPF host
    routing, from-container's redirect to eth0 (TTL-1)."""
    d = every(PASS)
    if native_redirect:
        d["from-container@native"] = REDIRECT(native)
    return d


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(name: str, frame: bytes, expect: dict[str, Outcome], **kw) -> None:
        cases.append(Case(name, frame, expect, **kw))

    good = lab.icmp_frame(A.ip, B.ip)

    # -- too short for BPF_PROG_TEST_RUN: the kernel refuses them before any program.
    add("empty-frame", b"", every(REFUSED))
    add("one-byte", good[:1], every(REFUSED))
    add("ethernet-cut-at-6", good[:6], every(REFUSED), why="destination MAC only")
    add("ethernet-cut-at-13", good[:13], every(REFUSED))
    add("ipv4-header-10-of-20", good[:14 + 10], every(REFUSED))
    add("ipv6-header-20-of-40", eth(type_=0x86DD) + bytes(IPv6(src="fd00::a", dst="fd00::b"))[:20],
        every(REFUSED))

    # -- not IPv4: nobody routes it; ARP from a pod is answered only when well formed.
    add("ipv6", eth("33:33:00:00:00:01", type_=0x86DD)
        + bytes(IPv6(src="fd00::a", dst="ff02::1") / ICMPv6EchoRequest()), every(PASS))
    add("vlan-8021q-tagged-ipv4", eth(type_=0x8100) + b"\x00\x05\x08\x00" + good[14:], every(PASS),
        why="tc sees the tag; the VLAN device, not this datapath, owns such frames")
    add("arp-hardware-length-8", arp_raw(8, 4), every(PASS))
    add("arp-protocol-length-16", arp_raw(6, 16), every(PASS))
    add("arp-cut-short", lab.arp_request(NODE.router_ip)[:14 + 20], every(PASS))
    add("lldp", eth("01:80:c2:00:00:0e", type_=0x88CC) + b"\x02\x07\x04" + bytes(43), every(PASS))
    add("ethertype-0000", eth(type_=0x0000) + bytes(46), every(PASS))

    # -- IPv4 headers that cannot be one: DROP_INVALID wherever IPv4 is parsed.
    add("ipv4-version-6", patched(good, 0, 0x65), INVALID)
    add("ipv4-version-0", patched(good, 0, 0x05), INVALID)
    add("ipv4-ihl-4", patched(good, 0, 0x44), INVALID)
    add("ipv4-ihl-0", patched(good, 0, 0x40), INVALID)
    add("ipv4-ihl-15-past-end", patched(from_pod(ip4(A.ip, B.ip, bytes(8), 17)), 0, 0x4F, fix_csum=False),
        INVALID, why="60 header bytes claimed, 28 present")
    add("ipv4-ihl-6-of-20", patched(good[:14 + 20], 0, 0x46, fix_csum=False), INVALID,
        why="an options word claimed, none present")

    # -- IPv4 that is odd but parseable: routed as it is, the receiver judges it.
    vip_opts = from_pod(ip4(A.ip, lab.SVC_LOCAL.vip, tcp(CPORT, 8080), 6, options=b"\x01\x01\x01\x00"))
    add("ipv4-options-ihl-6-to-service", vip_opts,
        {"*": PASS, **at("from-container", KPR, REDIRECT(
            lambda f: lab.translated(f, dst=B.ip, dport=80, macs=(B.node_mac, B.mac)), state=True))},
        why="the L4 header is found after the options")
    opts40 = from_pod(ip4(A.ip, B.ip, UDP(sport=CPORT, dport=5353) / (b"q" * 8), 17,
                          options=b"\x01" * 39 + b"\x00"))
    add("ipv4-options-ihl-15-to-pod", opts40, delivered_to(B))
    add("ipv4-total-length-beyond-frame", from_pod(ping(A.ip, B.ip, tot_len=1500)), delivered_to(B))
    add("ipv4-total-length-below-header", from_pod(ping(A.ip, B.ip, tot_len=8)), delivered_to(B))
    bad_csum = bytearray(good)
    bad_csum[24:26] = struct.pack("!H", ones_add(struct.unpack_from("!H", good, 24)[0], 1))
    add("ipv4-bad-header-checksum", bytes(bad_csum), delivered_to(B),
        why="forwarded with the error kept: the incremental TTL update neither fixes nor worsens it")

    # -- fragments: ports only in the first one; the others are left alone.
    whole_vip = from_pod(ip4(A.ip, lab.SVC_LOCAL.vip, l4_bytes(A.ip, lab.SVC_LOCAL.vip, tcp(CPORT, 8080, bytes(40))),
                             6))
    to_b = dict(dst=B.ip, dport=80, macs=(B.node_mac, B.mac))
    add("tcp-first-fragment-to-service", fragment(whole_vip, True),
        {"*": PASS, **at("from-container", KPR, REDIRECT(frag_translated(whole_vip, True, **to_b), state=True))})
    add("tcp-later-fragment-to-service", fragment(whole_vip, False), not_ours(),
        why="no fragment tracking: it is not translated, and goes where the VIP routes")
    whole_pod = from_pod(ip4(A.ip, B.ip, l4_bytes(A.ip, B.ip, UDP(sport=CPORT, dport=5353) / bytes(40)), 17))
    add("udp-first-fragment-to-pod", fragment(whole_pod, True), delivered_to(B))
    add("udp-later-fragment-to-pod", fragment(whole_pod, False), delivered_to(B))
    whole_np = from_world(ip4(lab.EXTERNAL_CLIENT, NODE.node_ip,
                              l4_bytes(lab.EXTERNAL_CLIENT, NODE.node_ip, tcp(45000, 32000, bytes(40))), 6))
    np_redirect = REDIRECT(frag_translated(whole_np, True, **to_b), state=True)
    add("tcp-first-fragment-to-nodeport", fragment(whole_np, True),
        {"*": PASS, **at("from-container", KPR, np_redirect), "from-netdev@native": np_redirect,
         **at("from-netdev", ("vxlan", "legacy"),
              REWRITE(frag_translated(whole_np, True, dst=B.ip, dport=80, ttl_dec=0)))})
    add("tcp-later-fragment-to-nodeport", fragment(whole_np, False), every(PASS))

    # -- L4 headers cut short.
    add("tcp-header-cut-to-service", from_pod(ip4(A.ip, lab.SVC_LOCAL.vip, bytes(tcp(CPORT, 8080))[:10], 6)),
        {"*": PASS, "from-container": DROP(DROP_CT_INVALID_HDR)},
        why="ports readable, flags and checksum not: conntrack (Cilium's ct_lookup4) reads TCP's flags")
    add("udp-header-cut-to-service", from_pod(ip4(A.ip, lab.SVC_DNS.vip, bytes(UDP(sport=CPORT, dport=53))[:4], 17)),
        {"*": PASS, **at("from-container", KPR, DROP(DROP_CT_INVALID_HDR))})
    cut_hdr = DROP(DROP_CT_INVALID_HDR)
    add("tcp-header-cut-to-pod", from_pod(ip4(A.ip, B.ip, bytes(tcp(CPORT, 80))[:10], 6)),
        {**delivered_to(B), **{p: cut_hdr for p in ("from-container", "from-overlay", "from-host")},
         "from-netdev@native": cut_hdr},
        why="the sender's and the receiver's conntrack read TCP's flags")
    add("nodeport-tcp-header-cut", from_world(ip4(lab.EXTERNAL_CLIENT, NODE.node_ip, bytes(tcp(45000, 32001))[:12], 6)),
        {"*": PASS, "from-container": cut_hdr, **at("from-netdev", NETDEV, cut_hdr)})
    add("vxlan-udp-header-cut", vxlan(b"", cut=-2),
        {"*": PASS, **at("from-container", KPR, cut_hdr), **at("from-netdev", NETDEV, cut_hdr)},
        why="a UDP header of 6 bytes to the node")

    # -- ICMP cut short: conntrack reads ICMP where a pod sends (from-container), NAT where it
    # translates (from-netdev toward the node, to-netdev masquerade).
    add("icmp-cut-to-node", from_world(ip4(lab.EXTERNAL_CLIENT, NODE.node_ip, bytes(PING)[:4], 1)),
        {"*": PASS, "from-container": cut_hdr, **at("from-netdev", NETDEV, cut_hdr)})
    add("icmp-cut-pod-to-world", from_pod(ip4(A.ip, lab.WORLD_HOST, bytes(PING)[:4], 1)),
        {**not_ours(native_redirect=False), "from-container": cut_hdr, **at("to-netdev", MASQ, cut_hdr)})

    # -- TTL: routing into a pod or out of eth0 needs a hop left; the tunnel keeps the TTL.
    add("ttl-0-to-pod", from_pod(ping(A.ip, B.ip, ttl=0)),
        {"*": DROP(DROP_INVALID), "from-netdev": PASS, "from-netdev@native": DROP(DROP_INVALID),
         "to-netdev": PASS})
    add("ttl-1-to-pod", from_pod(ping(A.ip, B.ip, ttl=1)),
        {"*": DROP(DROP_INVALID), "from-netdev": PASS, "from-netdev@native": DROP(DROP_INVALID),
         "to-netdev": PASS})
    to_world_ttl1 = from_pod(ip4(A.ip, lab.WORLD_HOST, tcp(CPORT, 80), 6, ttl=1))
    add("ttl-1-pod-to-world", to_world_ttl1,
        {"*": PASS, "from-container@native": DROP(DROP_INVALID),
         **at("to-netdev", MASQ, REWRITE(lambda f: lab.translated(f, src=NODE.node_ip, sport=CPORT, ttl_dec=0)))},
        why="to-netdev masquerades what the stack let out; TTL is not its business")
    add("ttl-0-to-remote-pod", from_pod(ping(A.ip, lab.REMOTE_POD_IP, ttl=0)),
        {"*": PASS, "from-container@plain": ENCAP(lab.REMOTE_NODE_IP, A.identity),
         "from-container@vxlan": ENCAP(lab.REMOTE_NODE_IP, A.identity),
         "from-container@native": DROP(DROP_INVALID),
         # through the stack to cilium_host: the sender's identity is the ipcache's, the pod's
         "from-host@plain": ENCAP(lab.REMOTE_NODE_IP, A.identity),
         "from-host@vxlan": ENCAP(lab.REMOTE_NODE_IP, A.identity)},
        why="encapsulated as it is: the remote node decrements and drops")

    # -- destinations nobody knows.
    add("unknown-pod-ip", from_pod(ping(A.ip, "10.0.2.99")), not_ours())
    add("unknown-remote-cidr", from_pod(ping(A.ip, "10.0.9.9")), not_ours())

    # -- broadcast and multicast.
    add("broadcast-mac-unicast-ip", lab.icmp_frame(A.ip, B.ip, dst_mac="ff:ff:ff:ff:ff:ff"), delivered_to(B),
        why="routed on the IP destination, as Cilium does")
    add("limited-broadcast", from_pod(ip4("0.0.0.0", "255.255.255.255", UDP(sport=68, dport=67) / bytes(240),
                                          17), "ff:ff:ff:ff:ff:ff"), not_ours(native_redirect=False),
        why="a router never forwards 255.255.255.255 (RFC 1812 5.3.5.1): the stack's")
    add("multicast-udp", from_pod(ip4(A.ip, "224.0.0.251", UDP(sport=CPORT, dport=5353) / bytes(32), 17,
                                      ttl=255), "01:00:5e:00:00:fb"),
        {**not_ours(native_redirect=False),
         **at("to-netdev", MASQ, REWRITE(lambda f: lab.translated(f, src=NODE.node_ip, sport=CPORT, ttl_dec=0)))},
        why="not forwarded in BPF; what the stack does let out of eth0 is masqueraded")

    # -- VXLAN on 8472 (the device decapsulates; only from-overlay sees the inner frame).
    inner = remote_pod_frame(ping(lab.REMOTE_POD_IP, A.ip))
    add("vxlan-header-cut", vxlan(inner, cut=4), every(PASS), why="the device drops it, not BPF")
    add("vxlan-unknown-vni", vxlan(inner, vni=0xABCDE), {"*": PASS, "from-overlay": REDIRECT(to_pod(A))},
        overlay=(inner, 0xABCDE), why="the VNI is the sender's identity, for policy cnilab does not enforce")
    cut_inner = remote_pod_frame(ip4(lab.REMOTE_POD_IP, A.ip, bytes(tcp(80, CPORT))[:6], 6, tot_len=60))
    add("vxlan-inner-frame-cut", vxlan(cut_inner),
        {"*": PASS, "from-overlay": cut_hdr},
        overlay=(cut_inner, VNI))
    return cases


CASES = _cases()


def _params() -> list:
    params = []
    for case in CASES:
        for config in CONFIGS:
            for program in programs_of(config):
                params.append(pytest.param(case, program, config, id=f"{case.name}@{program}-{config}"))
    return params


# --- sandboxes: one per configuration for the whole module ----------------------

def _build_masq() -> dict:
    node = dataclasses.replace(NODE, **MASQ_ONLY)
    node_h = render_node_config(node) + MOCK_DEFINE
    return {
        "bpf_lxc": compile_object("bpf_lxc", {"node_config.h": node_h, "ep_config.h": render_ep_config(node, A)}),
        "bpf_overlay": compile_object("bpf_overlay", {"node_config.h": node_h}),
        "bpf_host": compile_object("bpf_host", {"node_config.h": node_h}),
    }


def _open_masq(objs: dict) -> Sandbox:
    return open_datapath(objs, tunnels=(), ipcache=lab.KPR_IPCACHE)


class Datapath:
    """A sandbox and what the tests need to know of its state between runs."""

    def __init__(self, sb: Sandbox, config: str) -> None:
        self.sb = sb
        self.config = config
        self.has_nat = config in NETDEV
        self.vni = None
        self._metrics: dict | None = None

    def tunnel_key_received(self, vni: int) -> None:
        if vni != self.vni:
            lab.set_tunnel_key_received(self.sb, vni, lab.REMOTE_NODE_IP)
            self.vni = vni

    def clear_tunnel_key_set(self) -> None:
        self.sb.update_map("test_tunnel_key", (1).to_bytes(4, "little"), bytes(44))

    def metrics(self) -> dict:
        """{(reason, direction, point, verdict): (count, bytes)}; cached between tests."""
        if self._metrics is None:
            self._metrics = self._dump_metrics()
        return self._metrics

    def _dump_metrics(self) -> dict:
        return {(m.reason, m.direction, m.point, m.verdict): (m.count, m.bytes)
                for m in metrics_entries(self.sb.dump_map_json("cilium_metrics"))}

    def metrics_after(self) -> dict:
        self._metrics = None
        after = self._dump_metrics()
        self._metrics = after
        return after

    def state(self) -> dict[str, list]:
        """What the load balancer and NAT recorded: service and translated-flow conntrack
        entries (TUPLE_F_SERVICE, or a rev_nat_index), and NAT entries. The plain conntrack
        entry every tracked packet makes is not state in this sense."""
        if not self.has_nat:
            return {}
        lb = [e for e in self.sb.dump_map("cilium_ct4_global") if e.key[13] & 4 or int.from_bytes(e.value[38:40], "little")]
        return {"cilium_ct4_global": lb, "cilium_snat_v4_external": self.sb.dump_map("cilium_snat_v4_external")}

    def clear_state(self, state: dict[str, list]) -> None:
        """Empty the conntrack and NAT maps, whatever ``state`` showed of them."""
        names = ("cilium_ct4_global", "cilium_ct_any4_global") + (("cilium_snat_v4_external",) if self.has_nat else ())
        for name in names:
            for e in self.sb.dump_map(name):
                self.sb.bpftool("map", "delete", "pinned", self.sb.map_path(name), "key", *bpftool_hex(e.key))


@pytest.fixture(scope="module")
def datapaths(objects, mode_objects):
    opened: dict[str, Datapath] = {}

    def get(config: str) -> Datapath:
        if config not in opened:
            if config == "plain":
                sb = open_datapath(objects["mock"])
            elif config == "masq":
                sb = _open_masq(_build_masq())
            else:
                sb = open_mode(mode_objects[config], config)
            opened[config] = Datapath(sb, config)
        return opened[config]

    yield get
    for dp in opened.values():
        dp.sb.close()


def delta(before: dict, after: dict) -> dict:
    out = {}
    for key, (count, nbytes) in after.items():
        c0, b0 = before.get(key, (0, 0))
        if (count, nbytes) != (c0, b0):
            out[key] = (count - c0, nbytes - b0)
    return out


@pytest.mark.parametrize("case, program, config", _params())
def test_bad_packet(datapaths, case: Case, program: str, config: str):
    dp = datapaths(config)
    prog, point, direction = PROGRAMS[program]
    expected = case.outcome(program, config)
    frame = case.frame
    if program == "from-overlay":
        inner, vni = case.overlay or (frame, VNI)
        frame = inner
        dp.tunnel_key_received(vni)
    if expected.encap:
        dp.clear_tunnel_key_set()
    before = dp.metrics()

    try:
        if expected.verdict is None:
            with pytest.raises(SandboxError, match="Invalid argument"):
                dp.sb.run(prog, frame)
            res = None
        else:
            res = dp.sb.run(prog, frame)
    finally:
        after = dp.metrics_after()
        state = dp.state()
        dp.clear_state(state)

    if res is None:
        assert delta(before, after) == {}, "the program ran"
        return
    assert (res.retval, str(expected)) == (expected.verdict, str(expected)), \
        f"verdict {res.retval}, expected {expected}"
    reason = expected.reason if expected.verdict == TC_ACT_SHOT else 0
    assert delta(before, after) == {(reason, direction, point, expected.verdict): (1, len(frame))}
    if expected.verdict != TC_ACT_SHOT:
        want = expected.out(frame) if expected.out else frame
        assert res.data.hex() == want.hex()
    created = any(state.values())
    assert created == expected.state, f"conntrack/NAT entries: {state}"
    if expected.encap:
        key = lab.tunnel_key_set(dp.sb)
        remote, vni = expected.encap
        assert (key["tunnel_id"], key["remote_ipv4"]) == (vni, int.from_bytes(bytes(map(int, remote.split("."))), "big"))


def test_the_corpus_is_large_and_every_case_is_distinct():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(CASES) >= 25
    frames = [c.frame for c in CASES]
    assert len(set(frames)) == len(frames)
