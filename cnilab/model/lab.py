"""From a declaration to a lab: nodes on the underlay, pods scheduled and addressed,
Services with their ClusterIPs and NodePorts, the world host. Pure Python, no I/O.

This is the CNI-neutral cluster. The CNI plugin named by the declaration hands out pod
addresses (its IPAM), names each pod's host-side veth, and adds its own view of the lab,
``Lab.cni`` (devices, routes, programs and maps, or BIRD), built from this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..cni import get_plugin
from . import ids
from .declaration import DaemonSet, Declaration, DeclarationError, Deployment, Pod, PodSpec, Service, check_name

IP4 = IPv4Address
NET4 = IPv4Network

TEST_NETS = [NET4("192.0.2.0/24"), NET4("198.51.100.0/24"), NET4("203.0.113.0/24")]
WORLD_IP = IP4("198.51.100.1")  # TEST-NET-2: never a real address
DEVICE_MTU = 1500
CONTROL_PLANE_TAINT_KEYS = {"node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"}


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    index: int
    ip: IP4
    mac: str  # eth0, as Docker gives it
    pod_cidr: NET4  # what the CNI's IPAM gave the node (Cilium's /24, Calico's block)
    schedulable: bool
    private_ip: IP4 | None = None  # eth1, when the lab declares a privateNetwork
    private_mac: str | None = None
    k8s_name: str = ""  # the Kubernetes node name; kind's nodes are named as their containers

    @property
    def internal_ip(self) -> IP4:
        """The node's Kubernetes InternalIP: what other nodes route its pods to."""
        return self.private_ip or self.ip


@dataclass(frozen=True)
class World:
    """The lab's outside world: a host on the underlay holding a TEST-NET address. It knows
    no pod CIDR, so only masqueraded pod traffic gets an answer."""

    name: str
    ip: IP4  # the TEST-NET address a pod talks to
    underlay_ip: IP4  # its address on the nodes' underlay, their next hop to it
    mac: str

    @property
    def prefix(self) -> NET4:
        return NET4(f"{self.ip}/24", strict=False)


@dataclass(frozen=True)
class PodInstance:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    owner: str  # "DaemonSet/evescn", "Pod/net", "Deployment/web"
    node: str
    ip: IP4
    mac: str  # the pod's eth0
    veth: str  # host side, named by the CNI (lxc<hash>, cali<hash>)
    veth_mac: str

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class ServicePortSpec:
    name: str | None
    port: int
    target_port: int
    node_port: int | None
    protocol: str


@dataclass(frozen=True)
class ServiceInstance:
    name: str
    namespace: str
    type: str
    cluster_ip: IP4
    ports: tuple[ServicePortSpec, ...]
    backends: tuple[str, ...]  # pod names


@dataclass(frozen=True)
class Route:
    """One `ip route` line."""

    dst: str  # "10.0.1.0/24", "10.0.2.194", "default", "blackhole 192.168.49.64/26" is dst + type
    dev: str | None
    via: str | None = None
    src: str | None = None
    scope: str | None = None
    mtu: int | None = None
    proto: str | None = None  # "bird"; None: boot (iproute2 prints no proto)
    onlink: bool = False
    type: str | None = None  # "blackhole"

    def line(self) -> str:
        parts = [self.type, self.dst] if self.type else [self.dst]
        if self.via:
            parts += ["via", self.via]
        if self.dev:
            parts += ["dev", self.dev]
        if self.proto:
            parts += ["proto", self.proto]
        if self.scope:
            parts += ["scope", self.scope]
        if self.src:
            parts += ["src", self.src]
        if self.onlink:
            parts.append("onlink")
        if self.mtu:
            parts += ["mtu", str(self.mtu)]
        return " ".join(parts)


@dataclass
class Lab:
    decl: Declaration
    decl_name: str
    nodes: list[Node]
    pods: list[PodInstance]
    services: list[ServiceInstance]
    underlay: NET4
    pod_pool: NET4
    service_cidr: NET4
    world: World
    #: the CNI plugin's view of this lab, set by build_lab (CiliumLab, CalicoLab)
    cni: Any = None
    _by_name: dict[str, Node] = field(default_factory=dict, repr=False)
    _pods_by_name: dict[str, PodInstance] = field(default_factory=dict, repr=False)
    _pods_by_node: dict[str, list[PodInstance]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.decl.kind.name

    @property
    def plugin(self):
        return get_plugin(self.decl.cni.plugin)

    @property
    def kube_proxy(self) -> bool:
        """kind runs kube-proxy (kubeProxyMode is not "none")."""
        return self.decl.kind.networking.kubeProxyMode != "none"

    def node(self, name: str) -> Node:
        if not self._by_name:
            self._by_name = {n.name: n for n in self.nodes}
        return self._by_name[name]

    def pods_on(self, node: str) -> list[PodInstance]:
        # Looked up for every node and pod: indexed once (a lab of 100 nodes asks thousands of times).
        if not self._pods_by_node and self.pods:
            for p in self.pods:
                self._pods_by_node.setdefault(p.node, []).append(p)
        return list(self._pods_by_node.get(node, []))

    def pod(self, name: str) -> PodInstance:
        if not self._pods_by_name and self.pods:
            self._pods_by_name = {p.name: p for p in self.pods}
        return self._pods_by_name[name]

    @cached_property
    def control_plane(self) -> Node:
        return self.nodes[0]

    @property
    def routing_dev(self) -> str:
        """The device that carries the nodes' InternalIPs: native routing sends pod traffic out of it."""
        return "eth1" if self.decl.privateNetwork else "eth0"

    def world_routes(self) -> list[Route]:
        """A node's only way off the underlay, to the lab's world host."""
        return [Route(str(self.world.prefix), "eth0", via=str(self.world.underlay_ip))]


# --- building a lab -----------------------------------------------------------------------


def _node_name(cluster: str, role: str, nth: int) -> str:
    # kind: <cluster>-control-plane, <cluster>-worker, <cluster>-worker2, ...
    return f"{cluster}-{role}" + (str(nth) if nth > 1 else "")


def _tolerates_control_plane(spec: PodSpec) -> bool:
    return any(
        (t.operator == "Exists" and t.key is None) or t.key in CONTROL_PLANE_TAINT_KEYS for t in spec.tolerations
    )


POD_NAMES_ANNOTATION = "cnilab.io/pod-names"


def _pinned_pod_names(w: Deployment, where: str) -> list[str]:
    """Lab-only: the replicas' names as a seed shows them (Kubernetes draws their suffixes at
    random), from the Deployment's `cnilab.io/pod-names` annotation, space-separated."""
    annotations = (w.metadata.model_extra or {}).get("annotations") or {}
    text = annotations.get(POD_NAMES_ANNOTATION)
    if text is None:
        return []
    pod_names = str(text).split()
    if len(pod_names) != w.spec.replicas or len(set(pod_names)) != len(pod_names):
        raise DeclarationError(
            f"{where}: Deployment/{w.metadata.name}: metadata.annotations.{POD_NAMES_ANNOTATION} must name "
            f"{w.spec.replicas} different pods (got {len(pod_names)})"
        )
    for n in pod_names:
        if not n.startswith(f"{w.metadata.name}-"):
            raise DeclarationError(f"{where}: Deployment/{w.metadata.name}: pod name {n!r} must start with {w.metadata.name}-")
    try:
        [check_name(n, "pod name") for n in pod_names]
    except ValueError as e:
        raise DeclarationError(f"{where}: Deployment/{w.metadata.name}: {e}") from None
    return pod_names


def _check_disjoint(nets: dict[str, NET4]) -> None:
    items = list(nets.items())
    for i, (a, na) in enumerate(items):
        for b, nb in items[i + 1 :]:
            if na.overlaps(nb):
                raise DeclarationError(f"{a} {na} overlaps {b} {nb}: pick CIDRs that do not overlap")


def build_lab(decl: Declaration, decl_name: str = "lab") -> Lab:
    cluster = decl.kind.name
    plugin = get_plugin(decl.cni.plugin)
    underlay = NET4(decl.underlay)
    service_cidr = NET4(decl.kind.networking.serviceSubnet)
    where = f"{decl_name}"

    private = NET4(decl.privateNetwork) if decl.privateNetwork else None
    fixed = {"underlay": underlay, "kind.networking.serviceSubnet": service_cidr}
    if private:
        fixed["privateNetwork"] = private
    for i, t in enumerate(TEST_NETS):
        fixed[f"TEST-NET-{i + 1} (the lab's world)"] = t
    try:
        _check_disjoint(fixed)
    except DeclarationError as e:
        raise DeclarationError(f"{where}: {e}") from None

    # Nodes: kind's names and order, IPs from .2 (Docker keeps .1 for the bridge); pod
    # CIDRs from the CNI's IPAM.
    names: list[str] = []
    counts: dict[str, int] = {}
    for kn in decl.kind.nodes:
        counts[kn.role] = counts.get(kn.role, 0) + 1
        names.append(_node_name(cluster, kn.role, counts[kn.role]))
    k8s_names = list(decl.nodeNames) if decl.nodeNames else list(names)
    if decl.nodeNames:
        names = [f"{cluster}-{n}" for n in decl.nodeNames]
    try:
        ipam = plugin.ipam(decl)
        per_node = ipam.node_cidrs(k8s_names, fixed)
    except ValueError as e:
        raise DeclarationError(f"{where}: {e}") from None
    nodes: list[Node] = []
    for i, kn in enumerate(decl.kind.nodes):
        ip = IP4(decl.nodeAddresses[i]) if decl.nodeAddresses else underlay.network_address + 2 + i
        private_ip = private.network_address + 2 + i if private else None
        nodes.append(
            Node(
                name=names[i],
                role=kn.role,
                index=i,
                ip=ip,
                mac=ids.docker_mac(ip),
                pod_cidr=per_node[i],
                schedulable=kn.role == "worker" or decl.untaintControlPlane,
                private_ip=private_ip,
                private_mac=ids.docker_mac(private_ip) if private_ip else None,
                k8s_name=k8s_names[i],
            )
        )
    node_names = set(names)

    # Pods: schedule like the scheduler would on an empty cluster (fewest pods first).
    load = {n.name: 0 for n in nodes}
    placed: list[tuple[str, str, dict[str, str], str, str]] = []  # name, ns, labels, owner, node

    def eligible(spec: PodSpec) -> list[Node]:
        tol = _tolerates_control_plane(spec)
        return [n for n in nodes if n.schedulable or tol]

    by_k8s = {n.k8s_name: n.name for n in nodes}
    owned: dict[tuple[str, str], int] = {}  # (owner, node) -> pods of that workload there

    def place(name: str, ns: str, labels: dict[str, str], owner: str, spec: PodSpec, node: str | None) -> None:
        if node is None:
            candidates = eligible(spec)
            if not candidates:
                raise DeclarationError(f"{where}: {owner}: no node can run it (all nodes are tainted)")
            # Replicas spread over the nodes first (kube-scheduler's default spreading), then
            # the least loaded node, then kind's order.
            node = min(candidates, key=lambda n: (owned.get((owner, n.name), 0), load[n.name], n.index)).name
        elif node in by_k8s:
            node = by_k8s[node]
        elif node not in node_names:
            raise DeclarationError(
                f"{where}: {owner}: spec.nodeName {node!r} is not a node of this cluster ({', '.join(sorted(by_k8s))})"
            )
        load[node] += 1
        owned[(owner, node)] = owned.get((owner, node), 0) + 1
        placed.append((name, ns, labels, owner, node))

    for w in decl.workloads:
        if isinstance(w, Pod):
            place(w.metadata.name, w.metadata.namespace, w.metadata.labels, f"Pod/{w.metadata.name}", w.spec, w.spec.nodeName)
        elif isinstance(w, DaemonSet):
            tpl = w.spec.template
            labels = tpl.metadata.labels if tpl.metadata else {}
            for n in eligible(tpl.spec):
                pod_name = f"{w.metadata.name}-{ids.k8s_suffix(5, cluster, w.metadata.name, n.name)}"
                place(pod_name, w.metadata.namespace, labels, f"DaemonSet/{w.metadata.name}", tpl.spec, n.name)
        elif isinstance(w, Deployment):
            tpl = w.spec.template
            labels = tpl.metadata.labels if tpl.metadata else {}
            rs = ids.k8s_suffix(10, cluster, w.metadata.name, "replicaset")
            pinned = _pinned_pod_names(w, where)
            for r in range(w.spec.replicas):
                pod_name = pinned[r] if pinned else f"{w.metadata.name}-{rs}-{ids.k8s_suffix(5, cluster, w.metadata.name, str(r))}"
                place(pod_name, w.metadata.namespace, labels, f"Deployment/{w.metadata.name}", tpl.spec, tpl.spec.nodeName)

    pod_names = [p[0] for p in placed]
    dup = {n for n in pod_names if pod_names.count(n) > 1}
    if dup:
        raise DeclarationError(f"{where}: workloads: two pods would be named {sorted(dup)[0]!r}")

    by_name = {n.name: n for n in nodes}
    pods: list[PodInstance] = []
    for name, ns, labels, owner, node in placed:
        try:
            ip = ipam.allocate(by_name[node].k8s_name, ns, name)
        except ValueError as e:
            raise DeclarationError(f"{where}: {e}") from None
        veth, veth_mac = plugin.veth(cluster, ns, name)
        pods.append(
            PodInstance(
                name=name,
                namespace=ns,
                labels=tuple(sorted(labels.items())),
                owner=owner,
                node=node,
                ip=ip,
                mac=ids.local_mac(cluster, ns, name, "eth0"),
                veth=veth,
                veth_mac=veth_mac,
            )
        )

    services = _services(decl, pods, service_cidr, where)
    world_underlay = underlay.broadcast_address - 1
    world = World(f"{cluster}-world", WORLD_IP, world_underlay, ids.docker_mac(world_underlay))
    lab = Lab(decl, decl_name, nodes, pods, services, underlay, ipam.pool, service_cidr, world)
    try:
        lab.cni = plugin.plan(lab, ipam)
    except ValueError as e:
        raise DeclarationError(f"{where}: {e}") from None
    return lab


def _services(decl: Declaration, pods: list[PodInstance], service_cidr: NET4, where: str) -> list[ServiceInstance]:
    cluster = decl.kind.name
    # Services: ClusterIPs from the service CIDR; .1 is the apiserver's "kubernetes".
    svc_alloc = ids.HostAllocator(service_cidr, [service_cidr.network_address + 1])
    node_ports: dict[int, str] = {}
    services: list[ServiceInstance] = []
    # ClusterIPs a Service asks for first, so an allocated one never takes them.
    cluster_ips: dict[IP4, str] = {service_cidr.network_address + 1: "the kubernetes Service"}
    chosen: dict[tuple[str, str], IP4] = {}
    for w in decl.workloads:
        if not isinstance(w, Service) or not w.spec.clusterIP:
            continue
        try:
            ip = IP4(w.spec.clusterIP)
        except ValueError:
            raise DeclarationError(f"{where}: Service {w.metadata.name}: spec.clusterIP {w.spec.clusterIP!r} is not an IPv4 address") from None
        if ip not in service_cidr:
            raise DeclarationError(f"{where}: Service {w.metadata.name}: spec.clusterIP {ip} is outside kind.networking.serviceSubnet {service_cidr}")
        if ip in (service_cidr.network_address, service_cidr.broadcast_address):
            raise DeclarationError(f"{where}: Service {w.metadata.name}: spec.clusterIP {ip} is not a host address of kind.networking.serviceSubnet {service_cidr}")
        if ip in cluster_ips:
            raise DeclarationError(f"{where}: Service {w.metadata.name}: spec.clusterIP {ip} is already used by {cluster_ips[ip]}")
        cluster_ips[ip] = f"Service {w.metadata.name}"
        chosen[(w.metadata.namespace, w.metadata.name)] = ip
        svc_alloc.taken.add(int(ip) - int(service_cidr.network_address))
    for w in decl.workloads:
        if not isinstance(w, Service):
            continue
        ip = chosen.get((w.metadata.namespace, w.metadata.name))
        if ip is None:
            ip = svc_alloc.allocate(cluster, w.metadata.namespace, w.metadata.name)
        ports = []
        for p in w.spec.ports:
            if p.nodePort is not None and w.spec.type != "NodePort":
                raise DeclarationError(f"{where}: Service {w.metadata.name}: spec.ports.nodePort needs spec.type NodePort")
            node_port = p.nodePort
            if w.spec.type == "NodePort" and node_port is None:
                node_port = ids.pick(ids.digest(cluster, w.metadata.name, str(p.port)), 2768, set(node_ports), offset=30000)
            if node_port is not None:
                if node_port in node_ports:
                    raise DeclarationError(f"{where}: Service {w.metadata.name}: nodePort {node_port} is already used by {node_ports[node_port]}")
                node_ports[node_port] = w.metadata.name
            ports.append(ServicePortSpec(p.name, p.port, p.targetPort or p.port, node_port, p.protocol))
        backends = tuple(
            p.name
            for p in pods
            if p.namespace == w.metadata.namespace and all(p.label_dict.get(k) == v for k, v in w.spec.selector.items())
        )
        services.append(ServiceInstance(w.metadata.name, w.metadata.namespace, w.spec.type, ip, tuple(ports), backends))

    return services
