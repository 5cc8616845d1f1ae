"""Calico's view of a lab: the pool and its mode, each node's block, tunnel address and BGP
peers, each pod's workload endpoint, and the state a Calico v3.16 node holds (seed 003):
routes (the ones Felix and the CNI plugin program, and the ones BIRD learns), the
tunnel device, VXLAN neighbours and FDB entries, BIRD's configuration. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ...model import ids
from ...model.lab import DEVICE_MTU, Lab, Node, PodInstance, Route
from ..base import LabView
from . import bird, mtu, names
from .ipam import NodeBlock
from .values import BGPConfiguration, BGPPeer, CalicoNodeResource, selects

IP4 = IPv4Address
TUNL0 = "tunl0"
VXLAN_DEV = "vxlan.calico"
VXLAN_VNI = 4096
VXLAN_PORT = 4789
BIRD_DIR = "/run/cnilab/bird"
BIRD_CONFIG = f"{BIRD_DIR}/bird.conf"
BIRD_SOCKET = f"{BIRD_DIR}/bird.ctl"
BIRD_PIDFILE = f"{BIRD_DIR}/bird.pid"
HOST_VETH_MAC = names.HOST_VETH_MAC
POD_GATEWAY = names.POD_GATEWAY


@dataclass(frozen=True)
class CalicoNode(Node):
    block: IPv4Network | None = None
    tunnel_ip: IP4 | None = None  # ordinal 0 of the block, on tunl0 or vxlan.calico
    vxlan_mac: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    rr_cluster_id: str | None = None
    as_number: int = bird.DEFAULT_AS


@dataclass(frozen=True)
class Workload(PodInstance):
    """A pod as Calico's workload endpoint."""

    wep: str = ""  # node01-k8s-busybox--deployment--8c7dc8548--btnkv-eth0


@dataclass(frozen=True)
class CalicoMode:
    backend: str  # calico_backend: "bird" | "vxlan" | "none"
    pool: IPv4Network
    block_size: int
    ipip: str  # "Always" | "CrossSubnet" | "Never"
    vxlan: str
    nat_outgoing: bool
    mesh: bool
    as_number: int
    mtu: int

    @property
    def bird(self) -> bool:
        return self.backend == "bird"

    @property
    def tunnel(self) -> str | None:
        """The tunnel device the pool's mode needs: tunl0, vxlan.calico, or none."""
        if self.ipip != "Never":
            return TUNL0
        if self.vxlan != "Never":
            return VXLAN_DEV
        return None

    @property
    def encapsulation(self) -> str:
        return {TUNL0: "IPIP", VXLAN_DEV: "VXLAN", None: "none"}[self.tunnel]


@dataclass
class CalicoLab(LabView):
    lab: Lab
    mode: CalicoMode
    nodes: list[CalicoNode]
    pods: list[Workload]

    # --- BGP -------------------------------------------------------------------------------

    def cluster_nodes(self) -> list[bird.ClusterNode]:
        return [bird.ClusterNode(n.k8s_name, n.ip, n.as_number, n.rr_cluster_id) for n in self.nodes]

    def peers(self, node: str) -> tuple[bird.Peer, ...]:
        """The BGP sessions of a node: the node-to-node mesh, or what the BGPPeers select
        (symmetric: a node selected as a peer sets up the session back), with ``rr client``
        on a reflector's side towards a node outside its cluster id."""
        if not self.mode.bird:
            return ()
        me = self.node(node)
        if self.mode.mesh:
            return bird.mesh_peers(me.k8s_name, self.cluster_nodes())
        others: dict[str, CalicoNode] = {}
        for r in self.decl.cni.resources:
            if not isinstance(r, BGPPeer):
                continue
            pick = lambda sel: {n.name: n for n in self.nodes if selects(sel, dict(n.labels))}  # noqa: E731
            local, remote = pick(r.spec.nodeSelector), pick(r.spec.peerSelector)
            if node in local:
                others |= remote
            if node in remote:
                others |= local
        others.pop(node, None)
        peers = [
            bird.Peer(
                name=names.bgp_peer_name("Node", str(o.ip)),
                ip=o.ip,
                as_number=o.as_number,
                rr_client=bool(me.rr_cluster_id) and o.as_number == me.as_number and o.rr_cluster_id != me.rr_cluster_id,
                node=o.k8s_name,
            )
            for o in others.values()
        ]
        return tuple(sorted(peers, key=lambda p: str(p.ip)))

    def bird_input(self, node: str) -> bird.BirdInput:
        n = self.node(node)
        return bird.BirdInput(
            node=n.k8s_name,
            ip=n.ip,
            pools=(bird.Pool(self.mode.pool, self.mode.ipip, self.mode.vxlan),),
            blocks=(bird.Block(n.block),),
            peers=self.peers(node),
            as_number=n.as_number,
            subnet=self.underlay,
            rr_cluster_id=n.rr_cluster_id,
            mesh=self.mode.mesh,
            control_socket=BIRD_SOCKET,
        )

    def bird_config(self, node: str) -> str:
        """The BIRD 2 configuration the node runs."""
        return bird.render_bird2(self.bird_input(node))

    # --- routes ----------------------------------------------------------------------------

    def _remote_block_route(self, me: CalicoNode, other: CalicoNode) -> Route:
        m = self.mode
        if m.vxlan != "Never" and not (m.vxlan == "CrossSubnet" and other.ip in self.underlay):
            return Route(str(other.block), VXLAN_DEV, via=str(other.tunnel_ip), onlink=True)
        if m.vxlan == "CrossSubnet":
            return Route(str(other.block), "eth0", via=str(other.ip), onlink=True)
        tunnelled = m.ipip == "Always" or (m.ipip == "CrossSubnet" and other.ip not in self.underlay)
        if tunnelled:
            return Route(str(other.block), TUNL0, via=str(other.ip), proto="bird", onlink=True)
        return Route(str(other.block), "eth0", via=str(other.ip), proto="bird")

    def programmed_routes(self, node: str) -> list[Route]:
        """What the lab programs itself (as Felix and the CNI plugin do): the default route,
        a /32 per local pod on its cali veth, and (VXLAN) the remote blocks via their VTEPs."""
        me = self.node(node)
        routes = [Route("default", "eth0", via=str(self.world.underlay_ip))]
        routes += [Route(str(p.ip), p.veth, scope="link") for p in self.pods_on(node)]
        if not self.mode.bird:
            routes += [self._remote_block_route(me, o) for o in self.nodes if o.name != node]
        return routes

    def bird_routes(self, node: str) -> list[Route]:
        """What BIRD puts in the kernel: the local block's blackhole, the remote blocks."""
        if not self.mode.bird:
            return []
        me = self.node(node)
        routes = [Route(str(me.block), None, proto="bird", type="blackhole")]
        return routes + [self._remote_block_route(me, o) for o in self.nodes if o.name != node]

    def node_routes(self, node: str) -> list[Route]:
        """Every route a Calico node holds but the kernel's own (seed 003's `ip route`)."""
        return self.programmed_routes(node) + self.bird_routes(node)

    def pod_routes(self, pod: str) -> list[Route]:
        return [Route(POD_GATEWAY, "eth0", scope="link"), Route("default", "eth0", via=POD_GATEWAY)]

    # --- VXLAN: what Felix adds per remote VTEP ---------------------------------------------

    def vxlan_neighbours(self, node: str) -> list[tuple[str, str]]:
        """(VTEP address, VTEP MAC) of every other node: `ip neigh ... nud permanent`."""
        if self.mode.tunnel != VXLAN_DEV:
            return []
        return [(str(o.tunnel_ip), o.vxlan_mac) for o in self.nodes if o.name != node]

    def vxlan_fdb(self, node: str) -> list[tuple[str, str]]:
        """(VTEP MAC, node IP) of every other node: `bridge fdb ... dst <node> self permanent`."""
        if self.mode.tunnel != VXLAN_DEV:
            return []
        return [(o.vxlan_mac, str(o.ip)) for o in self.nodes if o.name != node]

    def sysctls(self, veths: list[str]) -> dict[str, str]:
        """Felix's: forwarding on the node; on every cali veth proxy ARP answering at once."""
        values = {"net.ipv4.ip_forward": "1"}
        for dev in veths:
            values |= {
                f"net.ipv4.conf.{dev}.proxy_arp": "1",
                f"net.ipv4.neigh.{dev}.proxy_delay": "0",
                f"net.ipv4.conf.{dev}.forwarding": "1",
                f"net.ipv4.conf.{dev}.route_localnet": "1",
            }
        return values


def build(lab: Lab, blocks: dict[str, NodeBlock]) -> CalicoLab:
    decl = lab.decl
    values = decl.cni
    (pool,) = values.pools()
    bgp_conf = next((r.spec for r in values.resources if isinstance(r, BGPConfiguration)), None)
    node_res = {r.metadata.name: r for r in values.resources if isinstance(r, CalicoNodeResource)}
    as_number = (bgp_conf.asNumber if bgp_conf and bgp_conf.asNumber else None) or bird.DEFAULT_AS
    mode = CalicoMode(
        backend=values.config.calico_backend,
        pool=IPv4Network(pool["cidr"]),
        block_size=pool["blockSize"],
        ipip=pool["ipipMode"],
        vxlan=pool["vxlanMode"],
        nat_outgoing=pool["natOutgoing"],
        mesh=bgp_conf.nodeToNodeMeshEnabled if bgp_conf else True,
        as_number=as_number,
        mtu=mtu.pod_mtu(DEVICE_MTU, values.config.veth_mtu, ipip=pool["ipipMode"] != "Never", vxlan=pool["vxlanMode"] != "Never"),
    )
    for name in node_res:
        if name not in {n.k8s_name for n in lab.nodes}:
            raise ValueError(f"cni.resources: Node {name!r} is not a node of the lab ({', '.join(n.k8s_name for n in lab.nodes)})")
    if not mode.mesh and mode.bird:
        if not any(isinstance(r, BGPPeer) for r in values.resources):
            raise ValueError("cni.resources: the node-to-node mesh is off and no BGPPeer sets up sessions")
    nodes = []
    for n in lab.nodes:
        res = node_res.get(n.k8s_name)
        nb = blocks[n.k8s_name]
        nodes.append(
            CalicoNode(
                **{f: getattr(n, f) for f in Node.__dataclass_fields__},
                block=nb.block,
                tunnel_ip=nb.tunnel_ip if mode.tunnel else None,
                vxlan_mac=names.vxlan_mac(n.k8s_name),
                labels=tuple(sorted(res.metadata.labels.items())) if res else (),
                rr_cluster_id=res.spec.bgp.routeReflectorClusterID if res else None,
                as_number=(res.spec.bgp.asNumber if res and res.spec.bgp.asNumber else as_number),
            )
        )
    if not mode.mesh and mode.bird:
        if not any(n.rr_cluster_id for n in nodes):
            raise ValueError("cni.resources: with the mesh off, some Node needs spec.bgp.routeReflectorClusterID")
    by_name = {n.name: n for n in nodes}
    pods = [
        Workload(
            **{f: getattr(p, f) for f in PodInstance.__dataclass_fields__},
            wep=names.workload_endpoint_name(by_name[p.node].k8s_name, p.name),
        )
        for p in lab.pods
    ]
    calico = CalicoLab(lab, mode, nodes, pods)
    for n in nodes:
        if mode.bird and not calico.peers(n.name) and len(nodes) > 1:
            raise ValueError(f"cni.resources: node {n.k8s_name} has no BGP peer: its pods would be unreachable")
    return calico


def tunl0_mac(cluster: str, node: str) -> str:
    # ifb gets a random MAC; the lab's is derived, so a rebuilt node's objects stay the same.
    return ids.local_mac(cluster, node, TUNL0)
