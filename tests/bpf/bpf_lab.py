"""The little lab every BPF test runs against: node kind-worker (10.0.2.0/24),
two local pods, the router IP, and two remote nodes in the tunnel map."""
from __future__ import annotations

from cnilab.cni.cilium.bpfconfig import EndpointBpfConfig, NodeBpfConfig
from cnilab.cni.cilium.maps import ENDPOINT_F_HOST, HOST_ID, WORLD_ID, EndpointEntry, IpcacheEntry, TunnelEntry

NODE = NodeBpfConfig(
    node_name="kind-worker",
    node_ip="172.18.0.3",
    node_mac="02:42:ac:12:00:03",
    router_ip="10.0.2.194",
    pod_cidr="10.0.2.0/24",
    host_ifindex=3,
    host_mac="6e:2a:1d:3c:4b:5a",
    net_ifindex=2,
    encap_ifindex=4,
    native_ifindex=5,
)

# The pod whose bpf_lxc.o is under test ("net" in the seed).
POD_A = EndpointBpfConfig(
    lxc_id=1234,
    pod_name="net",
    ip="10.0.2.10",
    mac="0a:58:0a:00:02:0a",
    node_mac="0e:4f:10:00:02:0a",
    ifindex=9,
    identity=32359,
    ifname="lxc1a2b3c4d5e6f",
)
# Another pod on the same node.
POD_B = EndpointBpfConfig(
    lxc_id=2345,
    pod_name="evescn-2454l",
    ip="10.0.2.20",
    mac="0a:58:0a:00:02:14",
    node_mac="0e:4f:10:00:02:14",
    ifindex=11,
    identity=46188,
    ifname="lxc2b3c4d5e6f7a",
)

REMOTE_POD_IP = "10.0.1.23"  # on kind-worker2
REMOTE_NODE_IP = "172.18.0.4"
WORLD_IP = "198.51.100.7"  # TEST-NET-2: never routed by the datapath


def endpoint_entry(ep: EndpointBpfConfig) -> EndpointEntry:
    return EndpointEntry(
        ip=ep.ip, ifindex=ep.ifindex, lxc_id=ep.lxc_id, flags=0, mac=ep.mac, node_mac=ep.node_mac, sec_id=ep.identity
    )


ROUTER_ENTRY = EndpointEntry(
    ip=NODE.router_ip, ifindex=NODE.host_ifindex, lxc_id=0, flags=ENDPOINT_F_HOST,
    mac="00:00:00:00:00:00", node_mac="00:00:00:00:00:00", sec_id=HOST_ID,
)

ENDPOINTS = [endpoint_entry(POD_A), endpoint_entry(POD_B), ROUTER_ENTRY]
TUNNELS = [TunnelEntry("10.0.1.0", REMOTE_NODE_IP), TunnelEntry("10.0.0.0", "172.18.0.2")]
IPCACHE = [
    IpcacheEntry(f"{POD_A.ip}/32", POD_A.identity),
    IpcacheEntry(f"{REMOTE_POD_IP}/32", 46188, REMOTE_NODE_IP),
    IpcacheEntry("10.0.1.0/24", 2, REMOTE_NODE_IP),
]


# --- packets and checks -----------------------------------------------------

import struct  # noqa: E402

from scapy.layers.inet import ICMP, IP  # noqa: E402
from scapy.layers.l2 import ARP, Ether  # noqa: E402

from cnilab.cni.cilium.maps import MetricsEntry, metrics_entries  # noqa: E402


def icmp_frame(src_ip: str, dst_ip: str, src_mac: str = POD_A.mac, dst_mac: str = POD_A.node_mac,
               ttl: int = 64, options: bytes = b"") -> bytes:
    ip = IP(src=src_ip, dst=dst_ip, ttl=ttl, id=0x1c46)
    if options:
        ip.options = options
    return bytes(Ether(src=src_mac, dst=dst_mac) / ip / ICMP(id=7, seq=1) / (b"cnilab" * 8))


def routed(frame: bytes, src_mac: str, dst_mac: str) -> bytes:
    """What a router makes of ``frame``: new MACs, TTL-1, checksum recomputed by scapy."""
    pkt = Ether(frame)
    pkt[Ether].src, pkt[Ether].dst = src_mac, dst_mac
    pkt[IP].ttl -= 1
    del pkt[IP].chksum
    return bytes(pkt)


def arp_request(target_ip: str, sender_ip: str = POD_A.ip, sender_mac: str = POD_A.mac) -> bytes:
    return bytes(
        Ether(src=sender_mac, dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc=sender_mac, psrc=sender_ip, hwdst="00:00:00:00:00:00", pdst=target_ip)
    )


def metrics(sb) -> list[MetricsEntry]:
    return metrics_entries(sb.dump_map_json("cilium_metrics"))


def counted(sb, **match) -> int:
    """Packets counted by entries whose fields equal ``match``."""
    return sum(m.count for m in metrics(sb) if all(getattr(m, k) == v for k, v in match.items()))


def tunnel_key_set(sb) -> dict[str, int]:
    """What the program passed to bpf_skb_set_tunnel_key (mock builds record
    it in slot 1 of test_tunnel_key).  struct bpf_tunnel_key: tunnel_id @0,
    remote_ipv4 @4, tunnel_tos @20, tunnel_ttl @21, tunnel_flags @22."""
    raw = {int.from_bytes(e.key, "little"): e.value for e in sb.dump_map("test_tunnel_key")}[1]
    tunnel_id, remote_ipv4 = struct.unpack_from("<II", raw, 0)
    return {"tunnel_id": tunnel_id, "remote_ipv4": remote_ipv4, "tunnel_tos": raw[20], "tunnel_ttl": raw[21]}


def set_tunnel_key_received(sb, tunnel_id: int, remote_ipv4: str) -> None:
    """Mock builds: the tunnel key bpf_skb_get_tunnel_key 'returns' (slot 0)."""
    import ipaddress

    raw = bytearray(44)
    struct.pack_into("<II", raw, 0, tunnel_id, int(ipaddress.IPv4Address(remote_ipv4)))
    sb.update_map("test_tunnel_key", (0).to_bytes(4, "little"), bytes(raw))


# --- kube-proxy replacement, masquerade, host routing (issue 4) ---------------

import dataclasses  # noqa: E402

from scapy.layers.inet import TCP, UDP  # noqa: E402

from cnilab.cni.cilium.lb import Backend, Service  # noqa: E402
from cnilab.cni.cilium.maps import REMOTE_NODE_ID, lb_entries  # noqa: E402

CONTROL_PLANE_IP = "172.18.0.2"
WORLD_HOST = "198.51.100.1"  # the lab's "world" host (TEST-NET-2)
EXTERNAL_CLIENT = REMOTE_NODE_IP  # a NodePort client outside this node (kind-worker2)
REMOTE_ROUTER_IP = "10.0.1.1"

# The three modes of seed 004 / seed 000, on the same node.
MODES = {
    # seed 000: VXLAN, kubeProxyReplacement=strict, bpf.masquerade=true
    "vxlan": dict(tunnel=True, kube_proxy_replacement=True, bpf_masquerade=True, host_routing_bpf=False,
                  snat_exclusion_cidr="10.0.0.0/8"),
    # seed 004 (c): native routing, KPR, BPF masquerade, BPF host routing
    "native": dict(tunnel=False, kube_proxy_replacement=True, bpf_masquerade=True, host_routing_bpf=True,
                   snat_exclusion_cidr="10.0.0.0/8"),
    # seed 004 (b): native routing, KPR, legacy host routing, iptables masquerade (none in BPF)
    "legacy": dict(tunnel=False, kube_proxy_replacement=True, bpf_masquerade=False, host_routing_bpf=False,
                   snat_exclusion_cidr="10.0.0.0/8"),
}


def mode_node(mode: str) -> NodeBpfConfig:
    return dataclasses.replace(NODE, **MODES[mode])


SVC_LOCAL = Service("10.96.0.50", 8080, "TCP", 32000, (Backend(POD_B.ip, 80),), rev_nat_index=1)
SVC_REMOTE = Service("10.96.0.60", 8080, "TCP", 32001, (Backend(REMOTE_POD_IP, 80),), rev_nat_index=2)
SVC_EMPTY = Service("10.96.0.70", 80, "TCP", None, (), rev_nat_index=3)
SVC_DNS = Service("10.96.0.10", 53, "UDP", None, (Backend(POD_B.ip, 5353),), rev_nat_index=4)
SVC_TWO = Service("10.96.0.80", 80, "TCP", None, (Backend(POD_B.ip, 80), Backend(REMOTE_POD_IP, 80)),
                  rev_nat_index=5)
# Hairpin (service loopback): POD_A, the client under test, is the backend.
SVC_SELF = Service("10.96.0.90", 8080, "TCP", 32003, (Backend(POD_A.ip, 80),), rev_nat_index=6)
SVC_SELF_DNS = Service("10.96.0.91", 53, "UDP", None, (Backend(POD_A.ip, 5353),), rev_nat_index=7)
SVC_PAIR = Service("10.96.0.92", 80, "TCP", None, (Backend(POD_A.ip, 80), Backend(POD_B.ip, 80)), rev_nat_index=8)
SERVICES = [SVC_LOCAL, SVC_REMOTE, SVC_EMPTY, SVC_DNS, SVC_TWO, SVC_SELF, SVC_SELF_DNS, SVC_PAIR]
SERVICE_LOOPBACK_IP = "169.254.42.1"  # IPV4_LOOPBACK (Cilium's --ipv4-service-loopback-address default)

KPR_IPCACHE = IPCACHE + [
    IpcacheEntry(f"{NODE.node_ip}/32", HOST_ID),
    IpcacheEntry(f"{REMOTE_NODE_IP}/32", REMOTE_NODE_ID),
    IpcacheEntry(f"{CONTROL_PLANE_IP}/32", REMOTE_NODE_ID),
    IpcacheEntry("0.0.0.0/0", WORLD_ID),
]


def kpr_maps(mode: str) -> dict[str, list]:
    """Every map entry of a node in ``mode``, by map name."""
    maps = {"cilium_lxc": ENDPOINTS, "cilium_ipcache": KPR_IPCACHE, **lb_entries(SERVICES)}
    if MODES[mode]["tunnel"]:
        maps["cilium_tunnel_map"] = TUNNELS
    return maps


def tcp_frame(src: str, sport: int, dst: str, dport: int, src_mac: str = POD_A.mac, dst_mac: str = POD_A.node_mac,
              ttl: int = 64, flags: str = "S", payload: bytes = b"GET / HTTP/1.1\r\n\r\n") -> bytes:
    return bytes(Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=ttl, id=0x2a2a)
                 / TCP(sport=sport, dport=dport, flags=flags, seq=1000, window=64240) / payload)


def udp_frame(src: str, sport: int, dst: str, dport: int, src_mac: str = POD_A.mac, dst_mac: str = POD_A.node_mac,
              payload: bytes = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", zero_csum: bool = False) -> bytes:
    pkt = Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=64, id=0x2b2b) / UDP(sport=sport, dport=dport)
    pkt = Ether(bytes(pkt / payload))
    if zero_csum:
        pkt[UDP].chksum = 0
    return bytes(pkt)


def translated(frame: bytes, *, src: str | None = None, sport: int | None = None, dst: str | None = None,
               dport: int | None = None, macs: tuple[str, str] | None = None, ttl_dec: int = 1) -> bytes:
    """``frame`` with the given fields changed and every checksum recomputed by scapy."""
    pkt = Ether(frame)
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else pkt[ICMP]
    if src is not None:
        pkt[IP].src = src
    if dst is not None:
        pkt[IP].dst = dst
    if sport is not None:
        if ICMP in pkt:
            l4.id = sport
        else:
            l4.sport = sport
    if dport is not None:
        if ICMP in pkt:
            l4.id = dport
        else:
            l4.dport = dport
    if macs is not None:
        pkt[Ether].src, pkt[Ether].dst = macs
    pkt[IP].ttl -= ttl_dec
    del pkt[IP].chksum
    if not (UDP in pkt and pkt[UDP].chksum == 0):
        del l4.chksum
    return bytes(pkt)

BACKEND_IDS = {(b.address, b.port): b.backend_id for b in lb_entries(SERVICES)["cilium_lb4_backends_v2"]}
