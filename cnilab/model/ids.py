"""Deterministic names, numbers and addresses derived from a lab's declaration.

CNIs pick router IPs, pod IPs, endpoint IDs and identities at random; a lab picks
them from a hash of stable names, so the same declaration always gives the same lab,
and two runs can be compared line by line.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

# Kubernetes' alphabet for generated name suffixes (no vowels, no confusable digits).
K8S_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")


def k8s_suffix(length: int, *parts: str) -> str:
    n = digest(*parts)
    out = []
    for _ in range(length):
        n, r = divmod(n, len(K8S_SUFFIX_ALPHABET))
        out.append(K8S_SUFFIX_ALPHABET[r])
    return "".join(out)


def local_mac(*parts: str) -> str:
    """A locally administered unicast MAC (like the random ones Cilium and veths get)."""
    b = bytearray(hashlib.sha256("/".join(parts).encode()).digest()[:6])
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def docker_mac(ip: ipaddress.IPv4Address) -> str:
    """The MAC Docker gives a container on a bridge network: 02:42 + the IPv4 address."""
    return "02:42:" + ":".join(f"{x:02x}" for x in ip.packed)


def lxc_name(*parts: str) -> str:
    # Cilium: "lxc" + the first 12 hex digits of a hash of the endpoint.
    return "lxc" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


def pick(key: int, size: int, taken: set[int], offset: int = 0) -> int:
    """Open addressing: the first free slot at or after hash(key) in [offset, offset+size)."""
    if len(taken) >= size:
        raise ValueError("no free slot left")
    i = key % size
    while i + offset in taken:
        i = (i + 1) % size
    taken.add(i + offset)
    return i + offset


class HostAllocator:
    """Hands out host addresses of one CIDR, by hash of a name, never twice."""

    def __init__(self, cidr: ipaddress.IPv4Network, reserved: Iterable[ipaddress.IPv4Address] = ()):
        self.cidr = cidr
        self.size = cidr.num_addresses - 2  # no network, no broadcast address
        self.taken: set[int] = {int(a) - int(cidr.network_address) for a in reserved}

    def allocate(self, *parts: str) -> ipaddress.IPv4Address:
        # slots 1..size: network (0) and broadcast (size+1) never handed out
        slot = pick(digest(*parts), self.size, {t - 1 for t in self.taken}) + 1
        self.taken.add(slot)
        return self.cidr.network_address + slot

    @property
    def free(self) -> int:
        return self.size - len(self.taken)
