"""Calico-style IPAM: one affine block per node, tunnel address first, pods in order (§2.1).

What is faithful: block size rules, ordinal 0 handed out (Linux reserves nothing), the tunnel
address taking ordinal 0 before any pod, pods taking the next free ordinals in order.
What is NOT Calico's: the choice of an unpinned node's block. Calico seeds Go's math/rand with
FNV-1/32 of the node name; we do not reimplement Go's generator. Instead an unpinned node starts
at ``fnv1_32(node) % number_of_blocks`` and walks forward (wrapping) past taken blocks. It is
deterministic and a pure function of the node name and the claims before it, like Calico's, but it
gives different blocks. A lab that must match a real cluster pins the blocks (the seed's are
controlplane 192.168.49.64/26 and node01 192.168.196.128/26).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

# libcalico-go's validator accepts IPv4 block sizes 20..32 (IPv6: 116..128); the manifest default is 26.
MIN_BLOCK_SIZE = 20
MAX_BLOCK_SIZE = 32
DEFAULT_BLOCK_SIZE = 26


@dataclass(frozen=True)
class NodeBlock:
    """A node's affine block and, when a tunnel is enabled, its tunnel address (ordinal 0)."""

    node: str
    block: IPv4Network
    tunnel_ip: IPv4Address | None


@dataclass(frozen=True)
class PodAddress:
    """One pod's address, taken from the block of the node it runs on."""

    pod: str
    node: str
    ip: IPv4Address
    block: IPv4Network


def validate_block_size(pool: IPv4Network, block_size: int) -> None:
    """Raise ValueError unless ``block_size`` is one Calico accepts for ``pool``."""
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE:
        raise ValueError(
            f"IPv4 block size must be between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE}, not {block_size}"
        )
    if pool.prefixlen > block_size:
        raise ValueError(f"pool {pool} is smaller than one /{block_size} block")


def fnv1_32(data: str) -> int:
    """FNV-1 (not 1a) 32-bit hash; Calico seeds its block choice with it, we use it as a start index."""
    h = 0x811C9DC5
    for byte in data.encode():
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def _check_pinned(pool: IPv4Network, block_size: int, pinned: Mapping[str, IPv4Network], nodes: Sequence[str]) -> None:
    owners: dict[IPv4Network, str] = {}
    for node, block in pinned.items():
        if node not in nodes:
            raise ValueError(f"block {block} is pinned to {node!r}, which is not a node of the lab")
        if block.prefixlen != block_size:
            raise ValueError(f"pinned block {block} of {node!r} is not a /{block_size}")
        if not block.subnet_of(pool):
            raise ValueError(f"pinned block {block} of {node!r} is outside the pool {pool}")
        # Alignment needs no check of its own: an IPv4Network never has host bits set, so a
        # /block_size network is always aligned to the block size.
        if block in owners:
            raise ValueError(f"block {block} is pinned to both {owners[block]!r} and {node!r}")
        owners[block] = node


def assign_blocks(
    pool: IPv4Network,
    nodes: Sequence[str],
    block_size: int = DEFAULT_BLOCK_SIZE,
    pinned: Mapping[str, IPv4Network] | None = None,
    tunnel: bool = False,
) -> tuple[NodeBlock, ...]:
    """One block per node (pinned ones as declared, others by the documented walk), in node order."""
    validate_block_size(pool, block_size)
    if len(set(nodes)) != len(nodes):
        raise ValueError("node names must be unique")
    pinned = dict(pinned or {})
    _check_pinned(pool, block_size, pinned, nodes)

    size = 2 ** (32 - block_size)
    count = pool.num_addresses // size
    base = int(pool.network_address)
    # Pinned blocks are claimed first so an unpinned node can never take one of them.
    taken = {(int(b.network_address) - base) // size for b in pinned.values()}
    chosen: dict[str, IPv4Network] = dict(pinned)
    for node in nodes:
        if node in chosen:
            continue
        if len(taken) >= count:
            raise ValueError(f"pool {pool} has no free /{block_size} block left for node {node!r}")
        index = fnv1_32(node) % count
        while index in taken:
            index = (index + 1) % count
        taken.add(index)
        chosen[node] = IPv4Network((base + index * size, block_size))

    return tuple(
        NodeBlock(node=n, block=chosen[n], tunnel_ip=chosen[n].network_address if tunnel else None)
        for n in nodes
    )


def allocate_pods(blocks: Sequence[NodeBlock], pods: Sequence[tuple[str, str]]) -> tuple[PodAddress, ...]:
    """Addresses for (pod, node) pairs, in the given order, from each node's block after its tunnel address."""
    by_node = {nb.node: nb for nb in blocks}
    next_ordinal = {nb.node: (1 if nb.tunnel_ip is not None else 0) for nb in blocks}
    seen: set[str] = set()
    out = []
    for pod, node in pods:
        if node not in by_node:
            raise ValueError(f"pod {pod!r} is on {node!r}, which has no block")
        if (pod, node) in seen:
            raise ValueError(f"pod {pod!r} on {node!r} is listed twice")
        seen.add((pod, node))
        block = by_node[node].block
        ordinal = next_ordinal[node]
        if ordinal >= block.num_addresses:
            raise ValueError(f"block {block} of node {node!r} is full; cannot place pod {pod!r}")
        next_ordinal[node] = ordinal + 1
        out.append(PodAddress(pod=pod, node=node, ip=block.network_address + ordinal, block=block))
    return tuple(out)
