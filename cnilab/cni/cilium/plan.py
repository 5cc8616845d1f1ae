"""Cilium's view of a lab: its mode (from the Helm values), the per-node devices and
router IP, the per-pod endpoint (ID, security identity), and the expected state Cilium
1.13's agent would install: routes, tunnel map, endpoint map, ipcache, tc attachments,
the load balancer's maps. Pure Python, no I/O.

``CiliumLab`` answers the core lab's questions too (nodes, pods, Services, world), with
its nodes as :class:`CiliumNode` and its pods as :class:`Endpoint`, so Cilium's code
reads one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from ...model import ids
from ...model.lab import DEVICE_MTU, Lab, Node, PodInstance, Route
from ..base import LabView
from . import identity, lb, maps
from .values import datapath_debug

# Helm's bpf.monitorAggregation as the agent's option level (pkg/option/monitor.go):
# MONITOR_AGGREGATION in the datapath ("lowest", 1, has no Helm name).
MONITOR_AGGREGATION_LEVEL = {"none": 0, "low": 2, "medium": 3, "maximum": 4}

if TYPE_CHECKING:
    from ...model.declaration import Declaration

IP4 = IPv4Address
VXLAN_PORT = 8472
VXLAN_OVERHEAD = 50

# The health endpoint (Cilium 1.13's cilium-health, Helm endpointHealthChecking): on each
# node a veth lxc_health whose peer, named "cilium", sits in a network namespace of its
# own holding an address of the node's pod CIDR. The agent keeps that namespace in its
# own mount namespace, so the node's `ip a` shows `lxc_health@ifN ... link-netnsid 1`
# (seed 000), not a named netns: the lab keeps it outside /run/netns too, bind-mounted
# in the node's private /run (enter it with `nsenter --net=HEALTH_NETNS_PATH`).
HEALTH_ENDPOINT = "cilium-health"
HEALTH_DEV = "lxc_health"
HEALTH_PEER = "cilium"
HEALTH_NETNS_PATH = "/run/cilium/netns/cilium-health"


@dataclass(frozen=True)
class CiliumNode(Node):
    router_ip: IP4 | None = None  # on cilium_host, the pods' gateway
    host_mac: str = ""  # cilium_host
    net_mac: str = ""  # cilium_net
    vxlan_mac: str = ""  # cilium_vxlan
    health_ip: IP4 | None = None  # the health endpoint's, from the node's pod CIDR
    health_mac: str = ""  # lxc_health
    health_peer_mac: str = ""  # "cilium", lxc_health's peer in the health namespace
    health_lxc_id: int = 0  # the health endpoint's endpoint ID
    host_ep_id: int = 0  # the host endpoint's ID: the source of bpf_host's notifications ("FROM 3386")


@dataclass(frozen=True)
class Endpoint(PodInstance):
    """A pod as Cilium's endpoint: its lxc device, endpoint ID and security identity."""

    lxc_id: int = 0
    identity: int = 0

    @property
    def lxc(self) -> str:
        return self.veth

    @property
    def lxc_mac(self) -> str:
        return self.veth_mac


@dataclass(frozen=True)
class HealthEndpoint:
    """A node's health endpoint, with the attributes a pod's endpoint has for the datapath
    (bpf_lxc's from-container on lxc_health, the cilium_lxc entry)."""

    node: str
    ip: IP4
    mac: str  # "cilium", in the health namespace
    lxc_mac: str  # lxc_health
    lxc_id: int
    identity: int = identity.ID_HEALTH
    name: str = HEALTH_ENDPOINT
    lxc: str = HEALTH_DEV


def program_name(section: str) -> str:
    """The kernel's name of the program of a section: Cilium's function (from-netdev:
    cil_from_netdev), cut to 15 characters (BPF_OBJ_NAME_LEN). `cilium-eth0` does not
    say which program a filter runs; this does."""
    return ("cil_" + section.replace("-", "_"))[:15]


@dataclass(frozen=True)
class TcAttachment:
    dev: str
    direction: str  # "ingress" | "egress"
    program: str  # "bpf_overlay"
    section: str  # "to-overlay"
    endpoint: str | None = None  # pod name for per-endpoint objects

    @property
    def name(self) -> str:
        """What `tc filter show` prints for it. Cilium 1.13 attaches bpf_overlay with tc from
        init.sh, which names it after object and section; its own loader attaches the others
        as ``cilium-<ifname>`` (1.13 pkg/datapath/loader/netlink.go; seed 000: cilium-eth0)."""
        if self.program == "bpf_overlay":
            return f"{self.program}.o:[{self.section}]"
        return f"cilium-{self.dev}"

    @property
    def prog(self) -> str:
        return program_name(self.section)


@dataclass(frozen=True)
class LocalEndpoint:
    """A `cilium_lxc` entry as the model knows it: the lxc's ifindex is only known on the node."""

    ip: IP4
    lxc_id: int
    identity: int
    mac: str = "00:00:00:00:00:00"
    node_mac: str = "00:00:00:00:00:00"
    host: bool = False  # ENDPOINT_F_HOST: the node's own addresses
    lxc: str | None = None  # the device whose ifindex goes in the entry

    def entry(self, ifindex: int) -> maps.EndpointEntry:
        return maps.EndpointEntry(
            ip=str(self.ip),
            ifindex=ifindex,
            lxc_id=self.lxc_id,
            flags=maps.ENDPOINT_F_HOST if self.host else 0,
            mac=self.mac,
            node_mac=self.node_mac,
            sec_id=self.identity,
        )


@dataclass(frozen=True)
class CiliumMode:
    tunnel: str  # "vxlan" | "disabled"
    kube_proxy_replacement: str
    bpf_masquerade: bool
    cluster_name: str
    kube_proxy: bool  # kind runs kube-proxy (kubeProxyMode is not "none")
    masquerade: str | None  # "bpf" | "iptables" | None
    # IPV4_SNAT_EXCLUSION_DST_CIDR of the lab's datapath: ipv4NativeRoutingCIDR, or the pod
    # pool (one value for every node, so each program compiles once per lab; Cilium uses
    # the node's own pod CIDR in tunnel mode, which `cilium status` shows: masquerade_exclusion())
    masquerade_exclusion: str
    node_port_enabled: bool = False  # Helm's nodePort.enabled
    native_routing_cidr: str | None = None  # Helm's ipv4NativeRoutingCIDR
    datapath_debug: bool = False  # Helm's debug.verbose with "datapath": DEBUG in the programs
    # Helm's bpf.monitorAggregation as MONITOR_AGGREGATION (none 0, low 2, medium 3, maximum 4).
    # The seeds' top-level monitorAggregation is not the chart's key: the chart ignores it, so
    # does this (seed 000's monitor output is medium's: no from-* traces).
    monitor_aggregation: int = 3

    @property
    def kpr(self) -> bool:
        """Cilium's BPF load balancer replaces kube-proxy's (strict or partial)."""
        return self.kube_proxy_replacement in ("strict", "partial")

    @property
    def node_port(self) -> bool:
        """NodePort in BPF at from-netdev: strict, or partial with nodePort.enabled. Partial
        without it (seed 001) balances ClusterIPs in BPF and leaves NodePort to kube-proxy."""
        return self.kube_proxy_replacement == "strict" or (self.kpr and self.node_port_enabled)

    @property
    def netdev_programs(self) -> bool:
        """bpf_host's from-netdev / to-netdev sit on eth0 (NodePort, BPF masquerade, BPF host routing)."""
        return self.node_port or self.masquerade == "bpf" or self.host_routing == "bpf"

    @property
    def host_routing(self) -> str:
        """Cilium 1.13 routes in BPF only with kube-proxy replacement and BPF masquerade."""
        return "bpf" if self.kube_proxy_replacement == "strict" and self.masquerade == "bpf" else "legacy"

    @property
    def tunnelled(self) -> bool:
        return self.tunnel == "vxlan"


@dataclass
class CiliumLab(LabView):
    lab: Lab
    mode: CiliumMode
    identities: dict[tuple[tuple[str, str], ...], int]
    nodes: list[CiliumNode]
    pods: list[Endpoint]

    # --- expected state -------------------------------------------------------------------

    def health_endpoint(self, node: str) -> HealthEndpoint:
        n = self.node(node)
        return HealthEndpoint(node, n.health_ip, n.health_peer_mac, n.health_mac, n.health_lxc_id)

    def endpoints_on(self, node: str) -> list:
        """The node's endpoints with an lxc device: its pods, then the health endpoint."""
        return [*self.pods_on(node), self.health_endpoint(node)]

    def ipam_used(self, node: str) -> int:
        """The addresses Cilium's IPAM has handed out on the node: router, health, pods."""
        return 2 + len(self.pods_on(node))

    def masquerade_exclusion(self, node: str) -> str:
        """What the node never masquerades to, as `cilium status` shows it: Cilium 1.13's
        RemoteSNATDstAddrExclusionCIDRv4, ipv4NativeRoutingCIDR, else the node's own pod
        CIDR (seed 000: `BPF   [eth0]   10.0.0.0/24`)."""
        return self.mode.native_routing_cidr or str(self.node(node).pod_cidr)

    @property
    def tunnel_mtu(self) -> int:
        return DEVICE_MTU - VXLAN_OVERHEAD if self.mode.tunnelled else DEVICE_MTU

    def node_routes(self, node: str) -> list[Route]:
        """The routes Cilium installs on a node (seed 000: `ip r s` on a worker)."""
        me = self.node(node)
        r = str(me.router_ip)
        routes = []
        for n in self.nodes:
            if n.name == me.name:
                routes.append(Route(str(n.pod_cidr), "cilium_host", via=r, src=r))
            elif self.mode.tunnelled:
                routes.append(Route(str(n.pod_cidr), "cilium_host", via=r, src=r, mtu=self.tunnel_mtu))
            else:
                routes.append(Route(str(n.pod_cidr), self.routing_dev, via=str(n.internal_ip)))
        routes.append(Route(r, "cilium_host", scope="link"))
        return routes

    def pod_routes(self, pod: str) -> list[Route]:
        r = str(self.node(self.pod(pod).node).router_ip)
        return [Route("default", "eth0", via=r, mtu=self.tunnel_mtu), Route(r, "eth0", scope="link")]

    def identity_labels(self) -> dict[int, tuple[str, ...]]:
        """Every identity with its labels, as `cilium identity list` lists them: the reserved
        ones, then one per label set of the declared pods. The numbers are the lab's own
        (hashed), not an agent's allocation; a real cluster also has its system pods'."""
        out = dict(identity.RESERVED_LABELS)
        for key, num in self.identities.items():
            out[num] = tuple(sorted(f"{k}={v}" for k, v in key))
        return out

    def health_routes(self, node: str) -> list[Route]:
        """Inside the health namespace: a pod's routes, on its device "cilium"."""
        r = str(self.node(node).router_ip)
        return [Route("default", HEALTH_PEER, via=r, mtu=self.tunnel_mtu), Route(r, HEALTH_PEER, scope="link")]

    def tunnel_entries(self, node: str) -> list[maps.TunnelEntry]:
        """cilium_tunnel_map: every other node's pod CIDR -> that node's IP; never its own."""
        if not self.mode.tunnelled:
            return []
        return [maps.TunnelEntry(str(n.pod_cidr.network_address), str(n.ip)) for n in self.nodes if n.name != node]

    def endpoint_entries(self, node: str) -> list[LocalEndpoint]:
        """cilium_lxc: the node's pods and health endpoint, and its own addresses as the host
        endpoint ("(localhost)")."""
        me = self.node(node)
        entries = [LocalEndpoint(p.ip, p.lxc_id, p.identity, p.mac, p.lxc_mac, lxc=p.lxc) for p in self.endpoints_on(node)]
        entries += [
            LocalEndpoint(me.router_ip, 0, identity.ID_HOST, host=True),
            LocalEndpoint(me.ip, 0, identity.ID_HOST, host=True),
        ]
        if me.private_ip:
            entries.append(LocalEndpoint(me.private_ip, 0, identity.ID_HOST, host=True))
        return entries

    def ipcache_entries(self, node: str) -> list[maps.IpcacheEntry]:
        """cilium_ipcache: every address the cluster knows -> identity (+ tunnel endpoint if remote)."""
        entries = [maps.IpcacheEntry("0.0.0.0/0", identity.ID_WORLD)]
        for n in self.nodes:
            local = n.name == node
            # What sits behind a remote node carries its IP as tunnel endpoint, tunnel or
            # native routing alike: Cilium 1.13's agent writes the host IP of every remote
            # address it learns (our datapath takes its tunnels from cilium_tunnel_map).
            tep = None if local else str(n.ip)
            node_id = identity.ID_HOST if local else identity.ID_REMOTE_NODE
            # The kube-apiserver's address, seen from the other nodes: reserved identity 7
            # (kind's control-plane; 1.13 pkg/identity, seed 000's `cilium identity list`).
            ip_id = identity.ID_KUBE_APISERVER if not local and n.role == "control-plane" else node_id
            entries.append(maps.IpcacheEntry(f"{n.ip}/32", ip_id))
            if n.private_ip:
                entries.append(maps.IpcacheEntry(f"{n.private_ip}/32", node_id))
            entries.append(maps.IpcacheEntry(f"{n.router_ip}/32", node_id, tep))
            # Every node's health endpoint: reserved:health, behind its node like a pod.
            entries.append(maps.IpcacheEntry(f"{n.health_ip}/32", identity.ID_HEALTH, tep))
        for p in self.pods:
            remote = p.node != node
            entries.append(maps.IpcacheEntry(f"{p.ip}/32", p.identity, str(self.node(p.node).ip) if remote else None))
        return entries

    def tc_attachments(self, node: str) -> list[TcAttachment]:
        out = [
            TcAttachment("cilium_host", "ingress", "bpf_host", "to-host"),
            TcAttachment("cilium_host", "egress", "bpf_host", "from-host"),
            TcAttachment("cilium_net", "ingress", "bpf_host", "to-host"),
        ]
        if self.mode.tunnelled:
            out += [
                TcAttachment("cilium_vxlan", "ingress", "bpf_overlay", "from-overlay"),
                TcAttachment("cilium_vxlan", "egress", "bpf_overlay", "to-overlay"),
            ]
        if self.mode.netdev_programs:
            out += [
                TcAttachment("eth0", "ingress", "bpf_host", "from-netdev"),
                TcAttachment("eth0", "egress", "bpf_host", "to-netdev"),
            ]
        out += [TcAttachment(p.lxc, "ingress", "bpf_lxc", "from-container", endpoint=p.name) for p in self.endpoints_on(node)]
        return out

    @cached_property
    def _lb_maps(self) -> dict[str, list]:
        entries = maps.lb_entries(self.lb_services())
        return {m: entries[m] for m in (maps.LB_BACKENDS_MAP, maps.LB_REVNAT_MAP, maps.LB_SERVICES_MAP)}

    def lb_map_entries(self) -> dict[str, list]:
        """The BPF load balancer's maps and their entries, the same on every node: backends
        first, then reverse NAT, then the services pointing at them."""
        return dict(self._lb_maps)

    def lb_services(self) -> list[lb.Service]:
        """The BPF load balancer's view of the Services, one per port (kube-proxy replacement only)."""
        if not self.mode.kpr:
            return []
        out = []
        for svc in self.services:
            for port in svc.ports:
                backends = tuple(lb.Backend(str(self.pod(b).ip), port.target_port) for b in svc.backends)
                node_port = port.node_port if self.mode.node_port else None
                out.append(lb.Service(str(svc.cluster_ip), port.port, port.protocol, node_port, backends, len(out) + 1))
        return out




def _identity_labels(decl: Declaration, namespace: str, labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels Cilium derives a pod's security identity from."""
    out = {f"k8s:{k}": v for k, v in labels.items()}
    out["k8s:io.kubernetes.pod.namespace"] = namespace
    out["k8s:io.cilium.k8s.policy.serviceaccount"] = "default"
    out["k8s:io.cilium.k8s.policy.cluster"] = decl.cni.values.cluster.name
    out["k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name"] = namespace
    return tuple(sorted(out.items()))




def build(lab: Lab, router_ips: dict[str, IP4], health_ips: dict[str, IP4]) -> CiliumLab:
    """Cilium's view of ``lab``: router and health IPs from the IPAM, the rest derived by hash."""
    decl = lab.decl
    values = decl.cni.values
    cluster = lab.name
    identities: dict[tuple[tuple[str, str], ...], int] = {}
    taken_ids: set[int] = set()
    for key in sorted({_identity_labels(decl, p.namespace, p.label_dict) for p in lab.pods}):
        identities[key] = ids.pick(
            ids.digest(*(f"{k}={v}" for k, v in key)),
            identity.IDENTITY_MAX - identity.IDENTITY_MIN + 1,
            taken_ids,
            offset=identity.IDENTITY_MIN,
        )
    endpoint_ids: dict[str, set[int]] = {n.name: set() for n in lab.nodes}
    pods = [
        Endpoint(
            **{f: getattr(p, f) for f in PodInstance.__dataclass_fields__},
            lxc_id=ids.pick(ids.digest(cluster, p.namespace, p.name, "endpoint"), 4095, endpoint_ids[p.node], offset=1),
            identity=identities[_identity_labels(decl, p.namespace, p.label_dict)],
        )
        for p in lab.pods
    ]
    # The health endpoint's ID is picked after the pods', so a pod keeps its ID.
    nodes = [
        CiliumNode(
            **{f: getattr(n, f) for f in Node.__dataclass_fields__},
            router_ip=router_ips[n.k8s_name],
            host_mac=ids.local_mac(cluster, n.name, "cilium_host"),
            net_mac=ids.local_mac(cluster, n.name, "cilium_net"),
            vxlan_mac=ids.local_mac(cluster, n.name, "cilium_vxlan"),
            health_ip=health_ips[n.k8s_name],
            health_mac=ids.local_mac(cluster, n.name, HEALTH_DEV),
            health_peer_mac=ids.local_mac(cluster, n.name, HEALTH_ENDPOINT, HEALTH_PEER),
            health_lxc_id=ids.pick(ids.digest(cluster, n.name, HEALTH_ENDPOINT), 4095, endpoint_ids[n.name], offset=1),
            host_ep_id=ids.pick(ids.digest(cluster, n.name, "host endpoint"), 4095, endpoint_ids[n.name], offset=1),
        )
        for n in lab.nodes
    ]
    pool = lab.pod_pool
    mode = CiliumMode(
        tunnel=values.tunnel,
        kube_proxy_replacement=values.kubeProxyReplacement,
        bpf_masquerade=values.bpf.masquerade,
        cluster_name=values.cluster.name,
        kube_proxy=lab.kube_proxy,
        masquerade=("bpf" if values.bpf.masquerade else "iptables") if values.enableIPv4Masquerade else None,
        masquerade_exclusion=values.ipv4NativeRoutingCIDR or str(pool),
        native_routing_cidr=values.ipv4NativeRoutingCIDR or None,
        node_port_enabled=values.nodePort.enabled,
        datapath_debug=datapath_debug(values),
        monitor_aggregation=MONITOR_AGGREGATION_LEVEL[values.bpf.monitorAggregation],
    )
    return CiliumLab(lab, mode, identities, nodes, pods)
