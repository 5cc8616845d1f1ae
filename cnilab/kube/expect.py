"""The expected state of a real kind + Cilium cluster, built from its API objects.

:func:`fetch` reads Nodes, Pods, Services (``CoreV1Api``) and CiliumNodes (custom objects
``cilium.io/v2`` ``ciliumnodes``) with the ``kubernetes`` client; :func:`expected_from` turns
already-fetched objects into plain dataclasses, so it runs offline on JSON documents too:

- per node: its InternalIP (Node ``status.addresses``), pod CIDRs (CiliumNode
  ``spec.ipam.podCIDRs``; kind's own Node ``spec.podCIDRs`` are *not* what Cilium's
  cluster-pool IPAM hands out), router IP (CiliumNode ``spec.addresses`` type
  ``CiliumInternalIP``, the address on ``cilium_host``) and health IP (``spec.health.ipv4``);
- per node, the tunnel map it should hold: every *other* node's pod CIDR -> that node's
  InternalIP, as ``cilium bpf tunnel list`` prints it (``10.0.1.0:0   172.18.0.4:0``);
- per node, the routes Cilium 1.13 installs in tunnel mode, as ``ip route show`` prints them::

      10.0.0.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194 mtu 1450   (another node's CIDR)
      10.0.2.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194            (its own CIDR)
      10.0.2.194 dev cilium_host scope link                                (its router IP)

- the Pods (name, namespace, node, podIP, labels) and Services (ClusterIP, ports, nodePorts),
  and which Cilium agent pod (``k8s-app=cilium`` in kube-system) runs on each node.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable

# VXLAN's 50 bytes of outer headers under a 1500-byte device: the mtu Cilium puts on the
# routes to other nodes' pod CIDRs in tunnel mode.
TUNNEL_MTU = 1450
CILIUM_GROUP, CILIUM_VERSION, CILIUM_NODES = "cilium.io", "v2", "ciliumnodes"
AGENT_NAMESPACE, AGENT_LABEL = "kube-system", ("k8s-app", "cilium")


class KubeUnavailable(RuntimeError):
    """No kubeconfig, no such context, or no API server answering: said in one line."""


@dataclass(frozen=True)
class TunnelEntry:
    """One ``cilium bpf tunnel list`` line: a pod CIDR's network address -> a node's IP."""

    prefix: str
    endpoint: str

    def __str__(self) -> str:
        return f"{self.prefix}:0   {self.endpoint}:0"


@dataclass(frozen=True)
class Route:
    dst: str
    dev: str = "cilium_host"
    via: str | None = None
    src: str | None = None
    scope: str | None = None
    mtu: int | None = None

    def __str__(self) -> str:  # the order `ip route show` prints
        words = [self.dst]
        if self.via:
            words += ["via", self.via]
        words += ["dev", self.dev]
        if self.scope:
            words += ["scope", self.scope]
        if self.src:
            words += ["src", self.src]
        if self.mtu:
            words += ["mtu", str(self.mtu)]
        return " ".join(words)


@dataclass(frozen=True)
class NodeExpect:
    name: str
    internal_ip: str
    pod_cidrs: tuple[str, ...]
    router_ip: str | None
    health_ip: str | None


@dataclass(frozen=True)
class PodExpect:
    name: str
    namespace: str
    node: str | None
    ip: str | None
    labels: tuple[tuple[str, str], ...] = ()
    host_network: bool = False


@dataclass(frozen=True)
class ServicePort:
    port: int
    protocol: str = "TCP"
    target_port: int | str | None = None
    node_port: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class ServiceExpect:
    name: str
    namespace: str
    type: str
    cluster_ip: str | None
    ports: tuple[ServicePort, ...]


@dataclass
class ClusterObjects:
    """What :func:`fetch` read: client models (or their ``*List``) and the CiliumNode dicts."""

    nodes: Any
    cilium_nodes: Any
    pods: Any = ()
    services: Any = ()


@dataclass
class ClusterExpect:
    nodes: dict[str, NodeExpect]
    pods: tuple[PodExpect, ...] = ()
    services: tuple[ServiceExpect, ...] = ()
    tunnels: dict[str, tuple[TunnelEntry, ...]] = field(default_factory=dict)
    routes: dict[str, tuple[Route, ...]] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # node -> its Cilium agent pod
    problems: tuple[str, ...] = ()  # objects that lack what the expectation needs

    def tunnel_list(self, node: str) -> str:
        """``cilium bpf tunnel list`` as node's agent should print it (order aside)."""
        return "\n".join(["TUNNEL       VALUE", *(str(t) for t in self.tunnels[node])])


def _items(objs: Any) -> list:
    """A client ``*List`` model, a custom-object list dict, or a plain iterable -> its items."""
    if objs is None:
        return []
    if isinstance(objs, dict):
        return list(objs.get("items") or [])
    items = getattr(objs, "items", None)
    if items is not None and not callable(items):
        return list(items)
    return list(objs)


def _get(obj: Any, *path: str) -> Any:
    """Walk attributes of client models or keys of dicts (CiliumNodes come as dicts)."""
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return obj


def _node_internal_ip(node: Any) -> str | None:
    for a in _get(node, "status", "addresses") or []:
        if _get(a, "type") == "InternalIP" and ":" not in (_get(a, "address") or ":"):
            return _get(a, "address")
    return None


def _cilium_address(cn: dict, kind: str) -> str | None:
    for a in _get(cn, "spec", "addresses") or []:
        ip = a.get("ip") or ""
        if a.get("type") == kind and ":" not in ip:
            return ip
    return None


def _ipv4_cidrs(cidrs: Iterable[str]) -> tuple[str, ...]:
    return tuple(c for c in cidrs or () if ipaddress.ip_network(c, strict=False).version == 4)


def expected_from(objects: ClusterObjects, tunnel_mtu: int = TUNNEL_MTU) -> ClusterExpect:
    """The expected state of the cluster the objects describe (IPv4; offline)."""
    problems: list[str] = []
    cilium_nodes = {_get(cn, "metadata", "name"): cn for cn in _items(objects.cilium_nodes)}
    nodes: dict[str, NodeExpect] = {}
    for node in _items(objects.nodes):
        name = _get(node, "metadata", "name")
        cn = cilium_nodes.get(name)
        ip = _node_internal_ip(node)
        if ip is None:
            problems.append(f"Node {name} has no IPv4 InternalIP in status.addresses")
            continue
        if cn is None:
            problems.append(f"Node {name} has no CiliumNode (is the Cilium agent running on it?)")
            nodes[name] = NodeExpect(name, ip, (), None, None)
            continue
        cidrs = _ipv4_cidrs(_get(cn, "spec", "ipam", "podCIDRs") or [])
        router = _cilium_address(cn, "CiliumInternalIP")
        if not cidrs:
            problems.append(f"CiliumNode {name} has no IPv4 spec.ipam.podCIDRs")
        if router is None:
            problems.append(f"CiliumNode {name} has no CiliumInternalIP in spec.addresses")
        nodes[name] = NodeExpect(name, ip, cidrs, router, _get(cn, "spec", "health", "ipv4"))

    tunnels: dict[str, tuple[TunnelEntry, ...]] = {}
    routes: dict[str, tuple[Route, ...]] = {}
    for name, me in nodes.items():
        others = [n for n in nodes.values() if n.name != name]
        tunnels[name] = tuple(
            TunnelEntry(str(ipaddress.ip_network(c, strict=False).network_address), o.internal_ip)
            for o in others for c in o.pod_cidrs
        )
        if me.router_ip is None:
            routes[name] = ()
            continue
        r = me.router_ip
        own = [Route(c, via=r, src=r) for c in me.pod_cidrs]
        remote = [Route(c, via=r, src=r, mtu=tunnel_mtu) for o in others for c in o.pod_cidrs]
        routes[name] = tuple(
            sorted(own + remote, key=lambda x: ipaddress.ip_network(x.dst, strict=False))
            + [Route(r, scope="link")]
        )

    pods, agents = [], {}
    for p in _items(objects.pods):
        labels = _get(p, "metadata", "labels") or {}
        pe = PodExpect(
            name=_get(p, "metadata", "name"),
            namespace=_get(p, "metadata", "namespace") or "default",
            node=_get(p, "spec", "node_name"),
            ip=_get(p, "status", "pod_ip"),
            labels=tuple(sorted(labels.items())),
            host_network=bool(_get(p, "spec", "host_network")),
        )
        pods.append(pe)
        if pe.namespace == AGENT_NAMESPACE and labels.get(AGENT_LABEL[0]) == AGENT_LABEL[1] and pe.node:
            agents[pe.node] = pe.name

    services = []
    for s in _items(objects.services):
        ports = tuple(
            ServicePort(
                port=_get(sp, "port"),
                protocol=_get(sp, "protocol") or "TCP",
                target_port=_get(sp, "target_port"),
                node_port=_get(sp, "node_port"),
                name=_get(sp, "name"),
            )
            for sp in _get(s, "spec", "ports") or []
        )
        services.append(ServiceExpect(
            name=_get(s, "metadata", "name"),
            namespace=_get(s, "metadata", "namespace") or "default",
            type=_get(s, "spec", "type") or "ClusterIP",
            cluster_ip=_get(s, "spec", "cluster_ip"),
            ports=ports,
        ))
    for node in nodes:
        if objects.pods and node not in agents:
            problems.append(f"no Cilium agent pod (kube-system, k8s-app=cilium) on node {node}")
    return ClusterExpect(nodes, tuple(pods), tuple(services), tunnels, routes, agents, tuple(problems))


def load_client(context: str | None = None, kubeconfig: str | None = None):
    """``kubernetes.config.load_kube_config`` for the context; KubeUnavailable in one line."""
    import kubernetes

    try:
        kubernetes.config.load_kube_config(config_file=kubeconfig, context=context)
    except Exception as e:  # ConfigException, FileNotFoundError, ...: say which, in one line
        where = kubeconfig or "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
        what = f"context {context!r}" if context else "the current context"
        msg = " ".join(str(e).split()) or type(e).__name__
        raise KubeUnavailable(f"no {what} in {where}: {msg}") from None
    return kubernetes.client


def fetch(context: str | None, kubeconfig: str | None = None, timeout: float = 10) -> ClusterObjects:
    """Read the objects :func:`expected_from` needs from the cluster of ``context``.

    Not run on the machine this was written on (no cluster): only its refusal is tested.
    """
    client = load_client(context, kubeconfig)
    core, custom = client.CoreV1Api(), client.CustomObjectsApi()
    try:
        return ClusterObjects(
            nodes=core.list_node(_request_timeout=timeout),
            cilium_nodes=custom.list_cluster_custom_object(
                CILIUM_GROUP, CILIUM_VERSION, CILIUM_NODES, _request_timeout=timeout),
            pods=core.list_pod_for_all_namespaces(_request_timeout=timeout),
            services=core.list_service_for_all_namespaces(_request_timeout=timeout),
        )
    except Exception as e:
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise KubeUnavailable(f"context {context!r}: the API server did not answer: {msg}") from None


def expected(context: str | None, kubeconfig: str | None = None) -> ClusterExpect:
    return expected_from(fetch(context, kubeconfig))
