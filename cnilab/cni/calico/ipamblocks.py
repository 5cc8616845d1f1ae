"""Calico's IPAM as the core asks for it: a block per node (pinned where the declaration
says, see :mod:`.ipam`), the tunnel address at ordinal 0, pods from the next one up."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from ...cni.base import Ipam
from .ipam import NodeBlock, assign_blocks


class CalicoIpam(Ipam):
    def __init__(self, values):
        (pool,) = values.pools()
        self.values = values
        self.pool = IPv4Network(pool["cidr"])
        self.block_size = pool["blockSize"]
        # calico-node allocates the tunnel address (ordinal 0) when it first starts with a
        # tunnel in its pool settings, before any pod; an IPPool applied later (seed 003's
        # "disable IP-IP") changes the routing, not the addresses pods already have.
        env = values.env
        self.tunnel = any(m != "Never" for m in (pool["ipipMode"], pool["vxlanMode"], env.CALICO_IPV4POOL_IPIP, env.CALICO_IPV4POOL_VXLAN))
        self.blocks: dict[str, NodeBlock] = {}
        self._next: dict[str, int] = {}

    def node_cidrs(self, nodes: list[str], keep_clear: dict[str, IPv4Network]) -> list[IPv4Network]:
        for what, net in keep_clear.items():
            if self.pool.overlaps(net):
                raise ValueError(f"cni: the IP pool {self.pool} overlaps {what} {net}: pick a pool that does not")
        pinned = {}
        for node, block in self.values.blocks.items():
            if node not in nodes:
                raise ValueError(f"cni.blocks: {node!r} is not a node of the lab ({', '.join(nodes)})")
            pinned[node] = IPv4Network(block)
        try:
            assigned = assign_blocks(self.pool, nodes, self.block_size, pinned, tunnel=self.tunnel)
        except ValueError as e:
            raise ValueError(f"cni: {e}") from None
        for nb in assigned:
            self.blocks[nb.node] = nb
            self._next[nb.node] = 1 if nb.tunnel_ip is not None else 0
        return [nb.block for nb in assigned]

    def allocate(self, node: str, namespace: str, pod: str) -> IPv4Address:
        block = self.blocks[node].block
        ordinal = self._next[node]
        if ordinal >= block.num_addresses:
            raise ValueError(f"workloads: node {node} has more pods than its block {block} holds")
        self._next[node] = ordinal + 1
        return block.network_address + ordinal
