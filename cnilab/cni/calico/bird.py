"""BIRD configuration for a Calico node (reference/calico.md §3).

Two renderings of one input:
- ``render_v316``: the three files Calico v3.16's confd writes (bird.cfg, bird_aggr.cfg,
  bird_ipam.cfg; BIRD 1.x syntax with the Calico fork's ``krt_tunnel``). They are artifacts a
  user diffs against a real node; the lab does not run them.
- ``render_bird2``: the BIRD 2 translation the lab runs (same peers, filters and blackholes).
Peers are computed by ``mesh_peers`` (node-to-node mesh) or ``rr_peers`` (route reflectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from cnilab.cni.calico.names import bgp_peer_name
from cnilab.templating import environment

ENCAP_MODES = ("Always", "CrossSubnet", "Never")
BLOCK_STATES = ("confirmed", "pending", None)  # None: affinity without a state ("implicitly confirmed")
DEFAULT_AS = 64512
DEFAULT_CONTROL_SOCKET = "/var/run/calico/bird.ctl"
CALICO_BACKENDS = ("bird", "vxlan", "none")


def runs_bird(calico_backend: str) -> bool:
    """Whether calico-node runs BIRD: only with ``calico_backend: bird`` (vxlan/none run no BGP)."""
    if calico_backend not in CALICO_BACKENDS:
        raise ValueError(f"calico_backend must be one of {CALICO_BACKENDS}, not {calico_backend!r}")
    return calico_backend == "bird"


@dataclass(frozen=True)
class Pool:
    """An IPv4 pool and its encapsulation modes (IPPool spec.ipipMode / spec.vxlanMode)."""

    cidr: IPv4Network
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"

    def __post_init__(self) -> None:
        for mode in (self.ipip_mode, self.vxlan_mode):
            if mode not in ENCAP_MODES:
                raise ValueError(f"encapsulation mode must be one of {ENCAP_MODES}, not {mode!r}")
        if self.ipip_mode != "Never" and self.vxlan_mode != "Never":
            raise ValueError(f"pool {self.cidr}: IPIP and VXLAN cannot both be enabled")

    @property
    def vxlan(self) -> bool:
        return self.vxlan_mode != "Never"

    @property
    def key(self) -> str:
        # confd lists pools by datastore key ("192.168.0.0-16"), i.e. in string order.
        return str(self.cidr).replace("/", "-")


@dataclass(frozen=True)
class Block:
    """An affine block of this node; ``state`` as in the BlockAffinity ("pending" is not exported)."""

    cidr: IPv4Network
    state: str | None = "confirmed"

    def __post_init__(self) -> None:
        if self.state not in BLOCK_STATES:
            raise ValueError(f"block state must be one of {BLOCK_STATES}, not {self.state!r}")

    @property
    def key(self) -> str:
        return str(self.cidr).replace("/", "-")


@dataclass(frozen=True)
class Peer:
    """One BGP session. ``name`` carries the kind (Mesh_/Node_/Global_); ``node`` names a cluster peer."""

    name: str
    ip: IPv4Address
    as_number: int = DEFAULT_AS
    passive: bool = False
    rr_client: bool = False
    port: int | None = None
    node: str | None = None

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]


@dataclass(frozen=True)
class ClusterNode:
    """What peer computation needs to know about every node."""

    name: str
    ip: IPv4Address
    as_number: int = DEFAULT_AS
    rr_cluster_id: str | None = None  # set on route reflectors (Node spec.bgp.routeReflectorClusterID)


@dataclass(frozen=True)
class BirdInput:
    """Everything one node's BIRD configuration depends on."""

    node: str
    ip: IPv4Address
    pools: tuple[Pool, ...]
    blocks: tuple[Block, ...] = ()
    peers: tuple[Peer, ...] = ()
    as_number: int = DEFAULT_AS
    subnet: IPv4Network | None = None  # the node's own IPv4 network (CrossSubnet decision)
    rr_cluster_id: str | None = None
    mesh: bool = True
    router_id: IPv4Address | None = None  # CALICO_ROUTER_ID; defaults to the node IP
    control_socket: str = DEFAULT_CONTROL_SOCKET

    def __post_init__(self) -> None:
        if any(p.rr_client for p in self.peers) and not self.rr_cluster_id:
            raise ValueError(f"node {self.node}: rr client peers need a route-reflector cluster id")
        if not self.mesh and any(p.kind == "Mesh" for p in self.peers):
            raise ValueError(f"node {self.node}: Mesh_ peers given with the mesh disabled")
        if self.subnet is None and any(p.ipip_mode == "CrossSubnet" for p in self.pools):
            raise ValueError(f"node {self.node}: CrossSubnet needs the node's subnet")


def mesh_passive(local_ip: str, peer_ip: str) -> bool:
    """confd's `gt $onode_ip $node_ip` on the IP *strings*: the lexically lower side waits.

    String order, not numeric: on 10.0.0.10, peer 10.0.0.9 is "greater", so 10.0.0.10 is passive.
    """
    return str(peer_ip) > str(local_ip)


def mesh_peers(node: str, all_nodes: Sequence[ClusterNode]) -> tuple[Peer, ...]:
    """Node-to-node mesh peers of ``node``: every other node, in node-name order (confd's lsdir)."""
    me = _find(node, all_nodes)
    return tuple(
        Peer(
            name=bgp_peer_name("Mesh", str(o.ip)),
            ip=o.ip,
            as_number=o.as_number,
            passive=mesh_passive(str(me.ip), str(o.ip)),
            node=o.name,
        )
        for o in sorted(all_nodes, key=lambda n: n.name)
        if o.name != node and o.ip != me.ip
    )


def rr_peers(node: str, all_nodes: Sequence[ClusterNode]) -> tuple[Peer, ...]:
    """Route-reflector topology (mesh off): clients peer with reflectors only; reflectors peer with
    each other and with every client, marking as ``rr client`` each same-AS peer whose cluster id
    differs from their own (confd's rule). Node_ peers, ordered by IP string like confd's keys."""
    me = _find(node, all_nodes)
    reflectors = [n for n in all_nodes if n.rr_cluster_id]
    if not reflectors:
        raise ValueError("route-reflector mode needs at least one node with a cluster id")
    candidates = all_nodes if me.rr_cluster_id else reflectors
    peers = [
        Peer(
            name=bgp_peer_name("Node", str(o.ip)),
            ip=o.ip,
            as_number=o.as_number,
            rr_client=bool(me.rr_cluster_id)
            and o.as_number == me.as_number
            and o.rr_cluster_id != me.rr_cluster_id,
            node=o.name,
        )
        for o in candidates
        if o.name != node
    ]
    return tuple(sorted(peers, key=lambda p: str(p.ip)))


def _find(node: str, all_nodes: Sequence[ClusterNode]) -> ClusterNode:
    for n in all_nodes:
        if n.name == node:
            return n
    raise ValueError(f"node {node!r} is not among the cluster nodes")


def _context(cfg: BirdInput) -> dict:
    pools = sorted(cfg.pools, key=lambda p: p.key)
    blocks = sorted(cfg.blocks, key=lambda b: b.key)
    mesh = [p for p in cfg.peers if p.kind == "Mesh"]
    # The v3.16 mesh section walks every node, ourselves included ("# Skipping ourselves").
    entries = [{"node": p.node, "peer": p} for p in mesh] + [{"node": cfg.node, "peer": None}]
    return {
        "node": cfg.node,
        "ip": cfg.ip,
        "router_id": cfg.router_id or cfg.ip,
        "as_number": cfg.as_number,
        "pools": pools,
        "blocks": blocks,
        "subnet": cfg.subnet,
        "mesh": cfg.mesh,
        "mesh_entries": sorted(entries, key=lambda e: e["node"]),
        "mesh_peers": mesh,
        "global_peers": [p for p in cfg.peers if p.kind == "Global"],
        "node_peers": [p for p in cfg.peers if p.kind == "Node"],
        "rr_cluster_id": cfg.rr_cluster_id,
        "control_socket": cfg.control_socket,
    }


def render_v316(cfg: BirdInput) -> dict[str, str]:
    """The three confd files of Calico v3.16, by file name."""
    env = environment("calico")
    ctx = _context(cfg)
    return {
        name: env.get_template(f"{name}.j2").render(ctx)
        for name in ("bird.cfg", "bird_aggr.cfg", "bird_ipam.cfg")
    }


def render_bird2(cfg: BirdInput) -> str:
    """The BIRD 2 configuration the lab runs for this node."""
    return environment("calico").get_template("bird2.conf.j2").render(_context(cfg))


def bird_argv(config: str, control_socket: str = DEFAULT_CONTROL_SOCKET, pid_file: str = "/var/run/calico/bird.pid") -> list[str]:
    """Command line the lab starts BIRD 2 with (daemonises; socket and pid file where we say)."""
    return ["bird", "-s", control_socket, "-P", pid_file, "-c", config]
