"""Felix's nat table on a Calico node: the natOutgoing chains (with their `cali:` rule ids)
and the ipsets they match on."""

from __future__ import annotations

from . import felix
from .plan import TUNL0, VXLAN_DEV, CalicoLab

PREFIXES = ("cali-",)


def tunnels(c: CalicoLab) -> tuple[str, ...]:
    """Tunnel devices holding a tunnel address, in Felix's order (tunl0 before vxlan.calico)."""
    return (c.mode.tunnel,) if c.mode.tunnel in (TUNL0, VXLAN_DEV) else ()


def nat_rules(c: CalicoLab, node: str) -> tuple[tuple[str, ...], list[str], list[str]]:
    """(prefixes Felix owns, its chains, its rules as iptables-save prints them)."""
    chains = felix.nat_chains(tunnels(c))
    own = [ch.name for ch in chains if ch.name not in felix.KERNEL_CHAINS]
    return PREFIXES, own, felix.nat_save_lines(chains)


def ipsets(c: CalicoLab) -> dict[str, tuple[str, list[str]]]:
    """Felix's ipsets: {name: (create options, members)}."""
    pools = [str(c.mode.pool)]
    sets = {
        felix.SET_MASQ_POOLS: pools if c.mode.nat_outgoing else [],
        felix.SET_ALL_POOLS: pools,
    }
    if c.mode.tunnel == TUNL0:
        sets[felix.SET_ALL_HOSTS] = [str(n.ip) for n in c.nodes]
    if c.mode.tunnel == VXLAN_DEV:
        sets[felix.SET_ALL_VXLAN] = [str(n.ip) for n in c.nodes]
    return {name: (felix.SET_OPTIONS, sorted(members)) for name, members in sets.items()}
