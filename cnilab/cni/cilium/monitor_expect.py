"""What `cilium monitor -vv` prints on both nodes for one cross-node ping, as seed 000 shows
it, predicted from the lab's model: the pods' addresses, MACs, endpoint ids and identities,
the nodes' addresses and host endpoint ids.

Only what the lab cannot know is left open (a pattern's `{N}`): the CPU, the ICMP echo id
(unless given) and sequence, the IP id and checksums, conntrack lifetimes, VXLAN's source
port, and the skb's hash (MARK: 0x0 on one machine as in seed 000; a machine's NIC may have
set one on a packet that came from another). The
sequence is a tunnel lab's with datapath debug messages and aggregation medium or more (no
from-* traces), the host's VXLAN flow already known (a ping before).
"""

from __future__ import annotations

import ipaddress
import re

from .plan import CiliumLab, Endpoint

SEPARATOR = "-" * 78
_N = "{N}"


_H = "{H}"  # a hash, in hex
_OPEN = {_N: r"\d+", _H: r"0x[0-9a-f]+"}


def _pattern(line: str) -> re.Pattern:
    return re.compile("".join(_OPEN.get(part) or re.escape(part) for part in re.split(r"(\{[NH]\})", line)) + "$")


def _ipcache_identity(lab: CiliumLab, seen_from: str, addr) -> int:
    """The identity ``addr`` has in the ipcache of node ``seen_from``, as `up` fills it."""
    return next(e.identity for e in lab.ipcache_entries(seen_from) if e.prefix == f"{addr}/32")


def _dbg(source: int, text: str) -> str:
    return f"CPU {_N}: MARK {_H} FROM {source} DEBUG: {text}"


def _packet(src_mac: str, dst_mac: str, src_ip, dst_ip, ttl: int, request: bool, eid: str) -> list[str]:
    return [
        SEPARATOR,
        f"Ethernet\t{{Contents=[..14..] Payload=[..86..] SrcMAC={src_mac} DstMAC={dst_mac} EthernetType=IPv4 Length=0}}",
        f"IPv4\t{{Contents=[..20..] Payload=[..64..] Version=4 IHL=5 TOS=0 Length=84 Id={_N} "
        f"Flags={'DF' if request else ''} FragOffset=0 TTL={ttl} Protocol=ICMPv4 Checksum={_N} "
        f"SrcIP={src_ip} DstIP={dst_ip} Options=[] Padding=[]}}",
        f"ICMPv4\t{{Contents=[..8..] Payload=[..56..] TypeCode={'EchoRequest' if request else 'EchoReply'} "
        f"Checksum={_N} Id={eid} Seq={_N}}}",
        "  Failed to decode layer: No decoder for layer type Payload",
    ]


def _lookup(source: int, src_ip, src_port: str, dst_ip, dst_port: str, nexthdr: int, flags: int) -> list[str]:
    return [
        _dbg(source, f"Conntrack lookup 1/2: src={src_ip}:{src_port} dst={dst_ip}:{dst_port}"),
        _dbg(source, f"Conntrack lookup 2/2: nexthdr={nexthdr} flags={flags}"),
    ]


def _verdict(source: int, verdict: str, found: bool) -> list[str]:
    return ([_dbg(source, f"CT entry found lifetime={_N}, revnat=0")] if found else []) + [
        _dbg(source, f"CT verdict: {verdict}, revnat=0")
    ]


def _sends(lab: CiliumLab, pod: Endpoint, peer: Endpoint, request: bool, eid: str) -> list[str]:
    """from-container of ``pod`` sending to ``peer`` through the tunnel, then the VXLAN
    packet leaving its node (to-netdev's tracking of the host's flow, where it runs)."""
    node, peer_node = lab.node(pod.node), lab.node(peer.node)
    tep = int(ipaddress.IPv4Address(str(peer_node.ip)))
    ep = pod.lxc_id
    lines = _lookup(ep, pod.ip, eid if request else "0", peer.ip, "0" if request else eid, 1, 1)
    lines += _verdict(ep, "New" if request else "Reply", found=not request)
    lines.append(_dbg(ep, f"Successfully mapped addr={peer.ip} to identity={peer.identity}"))
    if request:
        lines.append(_dbg(ep, f"Conntrack create: proxy-port=0 revnat=0 src-identity={pod.identity} lb=0.0.0.0"))
    lines.append(_dbg(ep, f"Encapsulating to node {tep} ({tep:#x}) from seclabel {pod.identity}"))
    lines += _packet(pod.mac, pod.lxc_mac, pod.ip, peer.ip, 64, request, eid)
    lines.append(
        f"CPU {_N}: MARK {_H} FROM {ep} to-overlay: 98 bytes (98 captured), state {'new' if request else 'reply'}, "
        f"interface cilium_vxlan, , identity {pod.identity}->{peer.identity}, orig-ip 0.0.0.0"
    )
    if lab.mode.node_port or lab.mode.masquerade == "bpf":  # to-netdev with SNAT on eth0
        host = node.host_ep_id
        lines += _lookup(host, node.ip, _N, peer_node.ip, "8472", 17, 1) + _verdict(host, "Established", found=True)
    return lines


def _receives(lab: CiliumLab, pod: Endpoint, peer: Endpoint, request: bool, eid: str) -> list[str]:
    """The VXLAN packet from ``peer``'s node arriving at ``pod``'s (from-netdev, where it
    runs), decapsulated (from-overlay) and delivered to ``pod`` (its conntrack, to-endpoint)."""
    node, peer_node = lab.node(pod.node), lab.node(peer.node)
    ep = pod.lxc_id
    lines = []
    if lab.mode.netdev_programs:
        seen = _ipcache_identity(lab, pod.node, peer_node.ip)
        lines.append(_dbg(node.host_ep_id, f"Successfully mapped addr={peer_node.ip} to identity={seen}"))
    lines += [
        _dbg(0, f"Tunnel decap: id={peer.identity} flowlabel=0"),
        _dbg(0, f"Attempting local delivery for container id {ep} from seclabel {peer.identity}"),
    ]
    lines += _lookup(ep, peer.ip, eid if request else "0", pod.ip, "0" if request else eid, 1, 0)
    lines += _verdict(ep, "New" if request else "Reply", found=not request)
    if request:
        lines.append(_dbg(ep, f"Conntrack create: proxy-port=0 revnat=0 src-identity={peer.identity} lb=0.0.0.0"))
    lines += _packet(pod.lxc_mac, pod.mac, peer.ip, pod.ip, 63, request, eid)
    lines.append(
        f"CPU {_N}: MARK {_H} FROM {ep} to-endpoint: 98 bytes (98 captured), state {'new' if request else 'reply'}, "
        f"interface {pod.lxc}, , identity {peer.identity}->{pod.identity}, orig-ip {peer.ip}, to endpoint {ep}"
    )
    return lines


def applies(lab: CiliumLab) -> str | None:
    """Why the prediction does not apply to ``lab`` (None: it does)."""
    if not lab.mode.tunnelled:
        return "not a tunnel lab: seed 000's sequence is VXLAN's"
    if not lab.mode.datapath_debug:
        return "no datapath debug messages declared (debug.verbose: datapath)"
    if lab.mode.monitor_aggregation < 3:
        return "monitor aggregation below medium: more traces than seed 000 shows"
    return None


def cross_node_ping(
    lab: CiliumLab, src: Endpoint, dst: Endpoint, echo_id: int | None = None
) -> tuple[list[re.Pattern], list[re.Pattern]]:
    """The lines (patterns) of the source's node and of the destination's node, in order
    (``echo_id``: the ping's ICMP id, when it is known)."""
    eid = _N if echo_id is None else str(echo_id)
    on_src = _sends(lab, src, dst, True, eid) + _receives(lab, src, dst, False, eid)
    on_dst = _receives(lab, dst, src, True, eid) + _sends(lab, dst, src, False, eid)
    return [_pattern(line) for line in on_src], [_pattern(line) for line in on_dst]


def mismatch(want: list[re.Pattern], got: list[str]) -> str | None:
    """None when ``got`` matches ``want`` line for line, else where it first differs."""
    for i, (w, g) in enumerate(zip(want, got)):
        if not w.match(g):
            return f"line {i + 1}:\n expected /{w.pattern}/\n got      {g!r}"
    if len(want) != len(got):
        more = got[len(want):] if len(got) > len(want) else [w.pattern for w in want[len(got):]]
        return f"{len(got)} lines, expected {len(want)}; {'extra' if len(got) > len(want) else 'missing'}: {more[:3]}"
    return None
