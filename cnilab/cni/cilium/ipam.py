"""Cilium's cluster-pool IPAM: a /N of the pool per node, in node order; on each node
the router IP (cilium_host's) first, then the health endpoint's (lxc_health, as the
1.13 agent allocates it right after the router's), then the pods, at addresses picked
by hash."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from ...cni.base import Ipam
from ...model import ids


class ClusterPool(Ipam):
    def __init__(self, cluster: str, values):
        self.cluster = cluster
        self.values = values
        op = values.ipam.operator
        self.pool = IPv4Network(op.clusterPoolIPv4PodCIDRList[0])
        self.mask = op.clusterPoolIPv4MaskSize
        self.router_ips: dict[str, IPv4Address] = {}
        self.health_ips: dict[str, IPv4Address] = {}
        self._alloc: dict[str, ids.HostAllocator] = {}

    def node_cidrs(self, nodes: list[str], keep_clear: dict[str, IPv4Network]) -> list[IPv4Network]:
        pool, mask = self.pool, self.mask
        native = self.values.ipv4NativeRoutingCIDR
        if native and not IPv4Network(native).supernet_of(pool):
            raise ValueError(f"cni.values.ipv4NativeRoutingCIDR {native} must contain the pod pool {pool}")
        if mask <= pool.prefixlen:
            raise ValueError(f"cni.values.ipam.operator.clusterPoolIPv4MaskSize /{mask} must be longer than the pool {pool}")
        blocks = pool.subnets(new_prefix=mask)
        per_node = [next(blocks, None) for _ in nodes]
        if per_node[-1] is None:
            raise ValueError(f"the pod pool {pool} has too few /{mask} blocks for {len(per_node)} nodes")
        # Like Cilium's operator the pool may contain other ranges (10.0.0.0/8 holds kind's
        # 10.96.0.0/16); only the blocks handed to nodes must stay clear of them.
        for block in per_node:
            for what, net in keep_clear.items():
                if block.overlaps(net):
                    raise ValueError(
                        f"cni.values.ipam.operator.clusterPoolIPv4PodCIDRList: node block {block} overlaps {what} {net}"
                    )
        for name, cidr in zip(nodes, per_node, strict=True):
            router = ids.HostAllocator(cidr).allocate(self.cluster, name, "router")
            self.router_ips[name] = router
            self._alloc[name] = ids.HostAllocator(cidr, [router])
            self.health_ips[name] = self._alloc[name].allocate(self.cluster, name, "health")
        return per_node

    def allocate(self, node: str, namespace: str, pod: str) -> IPv4Address:
        alloc = self._alloc[node]
        if alloc.free < 1:
            raise ValueError(f"workloads: node {node} has more pods than its pod CIDR {alloc.cidr} holds")
        return alloc.allocate(self.cluster, namespace, pod)
