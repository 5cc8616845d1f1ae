"""From a declaration to a lab: nodes, pods, identities, services, and the expected
kernel state (routes, map entries, tc attachments). Pure Python, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network

from ..bpf import lb, maps
from . import ids
from .declaration import DaemonSet, Declaration, DeclarationError, Deployment, Pod, PodSpec, Service

IP4 = IPv4Address
NET4 = IPv4Network

TEST_NETS = [NET4("192.0.2.0/24"), NET4("198.51.100.0/24"), NET4("203.0.113.0/24")]
WORLD_IP = IP4("198.51.100.1")  # TEST-NET-2: never a real address
VXLAN_PORT = 8472
VXLAN_OVERHEAD = 50
DEVICE_MTU = 1500
CONTROL_PLANE_TAINT_KEYS = {"node-role.kubernetes.io/master", "node-role.kubernetes.io/control-plane"}


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    index: int
    ip: IP4
    mac: str  # eth0, as Docker gives it
    pod_cidr: NET4
    router_ip: IP4  # on cilium_host, the pods' gateway
    host_mac: str  # cilium_host
    net_mac: str  # cilium_net
    vxlan_mac: str  # cilium_vxlan
    schedulable: bool
    private_ip: IP4 | None = None  # eth1, when the lab declares a privateNetwork
    private_mac: str | None = None

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
    lxc: str  # host side veth
    lxc_mac: str
    lxc_id: int  # Cilium endpoint ID
    identity: int

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
    """One `ip route` line, as Cilium installs it."""

    dst: str  # "10.0.1.0/24", "10.0.2.194", "default"
    dev: str
    via: str | None = None
    src: str | None = None
    scope: str | None = None
    mtu: int | None = None

    def line(self) -> str:
        parts = [self.dst]
        if self.via:
            parts += ["via", self.via]
        parts += ["dev", self.dev]
        if self.scope:
            parts += ["scope", self.scope]
        if self.src:
            parts += ["src", self.src]
        if self.mtu:
            parts += ["mtu", str(self.mtu)]
        return " ".join(parts)


@dataclass(frozen=True)
class TcAttachment:
    dev: str
    direction: str  # "ingress" | "egress"
    program: str  # "bpf_overlay"
    section: str  # "to-overlay"
    endpoint: str | None = None  # pod name for per-endpoint objects

    @property
    def name(self) -> str:
        """What `tc filter show` prints for it."""
        return f"{self.program}.o:[{self.section}]"


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
    masquerade_exclusion: str  # never masqueraded: ipv4NativeRoutingCIDR, or the pod pool
    node_port_enabled: bool = False  # Helm's nodePort.enabled

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
class Lab:
    decl: Declaration
    decl_name: str
    nodes: list[Node]
    pods: list[PodInstance]
    services: list[ServiceInstance]
    identities: dict[tuple[tuple[str, str], ...], int]
    underlay: NET4
    pod_pool: NET4
    service_cidr: NET4
    mode: CiliumMode
    world: World
    _by_name: dict[str, Node] = field(default_factory=dict, repr=False)
    _pods_by_name: dict[str, PodInstance] = field(default_factory=dict, repr=False)
    _pods_by_node: dict[str, list[PodInstance]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.decl.kind.name

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

    # --- expected state -------------------------------------------------------------------

    @property
    def routing_dev(self) -> str:
        """The device native routing sends pod traffic out of: the one with the InternalIP."""
        return "eth1" if self.decl.privateNetwork else "eth0"

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

    def world_routes(self) -> list[Route]:
        """Not Cilium's: a node's only way off the underlay, to the lab's world host."""
        return [Route(str(self.world.prefix), "eth0", via=str(self.world.underlay_ip))]

    def pod_routes(self, pod: str) -> list[Route]:
        r = str(self.node(self.pod(pod).node).router_ip)
        return [Route("default", "eth0", via=r, mtu=self.tunnel_mtu), Route(r, "eth0", scope="link")]

    def tunnel_entries(self, node: str) -> list[maps.TunnelEntry]:
        """cilium_tunnel_map: every other node's pod CIDR -> that node's IP; never its own."""
        if not self.mode.tunnelled:
            return []
        return [maps.TunnelEntry(str(n.pod_cidr.network_address), str(n.ip)) for n in self.nodes if n.name != node]

    def endpoint_entries(self, node: str) -> list[LocalEndpoint]:
        """cilium_lxc: the node's pods, and its own addresses as the host endpoint ("(localhost)")."""
        me = self.node(node)
        entries = [LocalEndpoint(p.ip, p.lxc_id, p.identity, p.mac, p.lxc_mac, lxc=p.lxc) for p in self.pods_on(node)]
        entries += [
            LocalEndpoint(me.router_ip, 0, ids.ID_HOST, host=True),
            LocalEndpoint(me.ip, 0, ids.ID_HOST, host=True),
        ]
        if me.private_ip:
            entries.append(LocalEndpoint(me.private_ip, 0, ids.ID_HOST, host=True))
        return entries

    def ipcache_entries(self, node: str) -> list[maps.IpcacheEntry]:
        """cilium_ipcache: every address the cluster knows -> identity (+ tunnel endpoint if remote)."""
        entries = [maps.IpcacheEntry("0.0.0.0/0", ids.ID_WORLD)]
        for n in self.nodes:
            local = n.name == node
            tep = None if local or not self.mode.tunnelled else str(n.ip)
            node_id = ids.ID_HOST if local else ids.ID_REMOTE_NODE
            entries.append(maps.IpcacheEntry(f"{n.ip}/32", node_id))
            if n.private_ip:
                entries.append(maps.IpcacheEntry(f"{n.private_ip}/32", node_id))
            entries.append(maps.IpcacheEntry(f"{n.router_ip}/32", node_id, tep))
        for p in self.pods:
            remote = p.node != node and self.mode.tunnelled
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
        out += [TcAttachment(p.lxc, "ingress", "bpf_lxc", "from-container", endpoint=p.name) for p in self.pods_on(node)]
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


# --- building a lab -----------------------------------------------------------------------


def _node_name(cluster: str, role: str, nth: int) -> str:
    # kind: <cluster>-control-plane, <cluster>-worker, <cluster>-worker2, ...
    return f"{cluster}-{role}" + (str(nth) if nth > 1 else "")


def _identity_labels(decl: Declaration, namespace: str, labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The labels Cilium derives a pod's security identity from."""
    out = {f"k8s:{k}": v for k, v in labels.items()}
    out["k8s:io.kubernetes.pod.namespace"] = namespace
    out["k8s:io.cilium.k8s.policy.serviceaccount"] = "default"
    out["k8s:io.cilium.k8s.policy.cluster"] = decl.cni.values.cluster.name
    out["k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name"] = namespace
    return tuple(sorted(out.items()))


def _tolerates_control_plane(spec: PodSpec) -> bool:
    return any(
        (t.operator == "Exists" and t.key is None) or t.key in CONTROL_PLANE_TAINT_KEYS for t in spec.tolerations
    )


def _check_disjoint(nets: dict[str, NET4]) -> None:
    items = list(nets.items())
    for i, (a, na) in enumerate(items):
        for b, nb in items[i + 1 :]:
            if na.overlaps(nb):
                raise DeclarationError(f"{a} {na} overlaps {b} {nb}: pick CIDRs that do not overlap")


def build_lab(decl: Declaration, decl_name: str = "lab") -> Lab:
    cluster = decl.kind.name
    values = decl.cni.values
    underlay = NET4(decl.underlay)
    pool = NET4(values.ipam.operator.clusterPoolIPv4PodCIDRList[0])
    mask = values.ipam.operator.clusterPoolIPv4MaskSize
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
    if values.ipv4NativeRoutingCIDR and not NET4(values.ipv4NativeRoutingCIDR).supernet_of(pool):
        raise DeclarationError(
            f"{where}: cni.values.ipv4NativeRoutingCIDR {values.ipv4NativeRoutingCIDR} must contain the pod pool {pool}"
        )
    if mask <= pool.prefixlen:
        raise DeclarationError(
            f"{where}: cni.values.ipam.operator.clusterPoolIPv4MaskSize /{mask} must be longer than the pool {pool}"
        )
    blocks = pool.subnets(new_prefix=mask)
    per_node = [next(blocks, None) for _ in decl.kind.nodes]
    if per_node[-1] is None:
        raise DeclarationError(f"{where}: the pod pool {pool} has too few /{mask} blocks for {len(per_node)} nodes")
    # Like Cilium's operator the pool may contain other ranges (10.0.0.0/8 holds kind's
    # 10.96.0.0/16); only the blocks handed to nodes must stay clear of them.
    for block in per_node:
        for what, net in fixed.items():
            if block.overlaps(net):
                raise DeclarationError(
                    f"{where}: cni.values.ipam.operator.clusterPoolIPv4PodCIDRList: node block {block} overlaps {what} {net}"
                )

    # Nodes: kind's order, IPs from .2 (Docker keeps .1 for the bridge).
    nodes: list[Node] = []
    counts: dict[str, int] = {}
    for i, kn in enumerate(decl.kind.nodes):
        counts[kn.role] = counts.get(kn.role, 0) + 1
        name = _node_name(cluster, kn.role, counts[kn.role])
        ip = underlay.network_address + 2 + i
        cidr = per_node[i]
        router = ids.HostAllocator(cidr).allocate(cluster, name, "router")
        private_ip = private.network_address + 2 + i if private else None
        nodes.append(
            Node(
                name=name,
                role=kn.role,
                index=i,
                ip=ip,
                mac=ids.docker_mac(ip),
                pod_cidr=cidr,
                router_ip=router,
                host_mac=ids.local_mac(cluster, name, "cilium_host"),
                net_mac=ids.local_mac(cluster, name, "cilium_net"),
                vxlan_mac=ids.local_mac(cluster, name, "cilium_vxlan"),
                schedulable=kn.role == "worker" or decl.untaintControlPlane,
                private_ip=private_ip,
                private_mac=ids.docker_mac(private_ip) if private_ip else None,
            )
        )
    node_names = {n.name for n in nodes}

    # Pods: schedule like the scheduler would on an empty cluster (fewest pods first).
    load = {n.name: 0 for n in nodes}
    placed: list[tuple[str, str, dict[str, str], str, str]] = []  # name, ns, labels, owner, node

    def eligible(spec: PodSpec) -> list[Node]:
        tol = _tolerates_control_plane(spec)
        return [n for n in nodes if n.schedulable or tol]

    def place(name: str, ns: str, labels: dict[str, str], owner: str, spec: PodSpec, node: str | None) -> None:
        if node is None:
            candidates = eligible(spec)
            if not candidates:
                raise DeclarationError(f"{where}: {owner}: no node can run it (all nodes are tainted)")
            node = min(candidates, key=lambda n: (load[n.name], n.index)).name
        elif node not in node_names:
            raise DeclarationError(
                f"{where}: {owner}: spec.nodeName {node!r} is not a node of this cluster ({', '.join(sorted(node_names))})"
            )
        load[node] += 1
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
            for r in range(w.spec.replicas):
                pod_name = f"{w.metadata.name}-{rs}-{ids.k8s_suffix(5, cluster, w.metadata.name, str(r))}"
                place(pod_name, w.metadata.namespace, labels, f"Deployment/{w.metadata.name}", tpl.spec, tpl.spec.nodeName)

    names = [p[0] for p in placed]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DeclarationError(f"{where}: workloads: two pods would be named {sorted(dup)[0]!r}")

    # Addresses: per node allocator, router IP reserved first.
    allocators = {n.name: ids.HostAllocator(n.pod_cidr, [n.router_ip]) for n in nodes}
    endpoint_ids = {n.name: set() for n in nodes}
    identities: dict[tuple[tuple[str, str], ...], int] = {}
    taken_ids: set[int] = set()
    for _, ns, labels, _, _ in sorted(placed, key=lambda p: _identity_labels(decl, p[1], p[2])):
        key = _identity_labels(decl, ns, labels)
        if key not in identities:
            identities[key] = ids.pick(
                ids.digest(*(f"{k}={v}" for k, v in key)),
                ids.IDENTITY_MAX - ids.IDENTITY_MIN + 1,
                taken_ids,
                offset=ids.IDENTITY_MIN,
            )

    pods: list[PodInstance] = []
    for name, ns, labels, owner, node in placed:
        alloc = allocators[node]
        if alloc.free < 1:
            raise DeclarationError(f"{where}: workloads: node {node} has more pods than its pod CIDR {alloc.cidr} holds")
        pods.append(
            PodInstance(
                name=name,
                namespace=ns,
                labels=tuple(sorted(labels.items())),
                owner=owner,
                node=node,
                ip=alloc.allocate(cluster, ns, name),
                mac=ids.local_mac(cluster, ns, name, "eth0"),
                lxc=ids.lxc_name(cluster, ns, name),
                lxc_mac=ids.local_mac(cluster, ns, name, "lxc"),
                lxc_id=ids.pick(ids.digest(cluster, ns, name, "endpoint"), 4095, endpoint_ids[node], offset=1),
                identity=identities[_identity_labels(decl, ns, labels)],
            )
        )

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

    mode = CiliumMode(
        tunnel=values.tunnel,
        kube_proxy_replacement=values.kubeProxyReplacement,
        bpf_masquerade=values.bpf.masquerade,
        cluster_name=values.cluster.name,
        kube_proxy=decl.kind.networking.kubeProxyMode != "none",
        masquerade=("bpf" if values.bpf.masquerade else "iptables") if values.enableIPv4Masquerade else None,
        masquerade_exclusion=values.ipv4NativeRoutingCIDR or str(pool),
        node_port_enabled=values.nodePort.enabled,
    )
    world_underlay = underlay.broadcast_address - 1
    world = World(f"{cluster}-world", WORLD_IP, world_underlay, ids.docker_mac(world_underlay))
    return Lab(decl, decl_name, nodes, pods, services, identities, underlay, pool, service_cidr, mode, world)
