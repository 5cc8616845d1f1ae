"""The slice of Felix's iptables/ipset state a lab needs (reference/calico.md §4).

Rules are kept in Felix's own fragment spelling (``--jump``, ``--out-interface``) because that is
the text Felix hashes into the ``cali:`` comment; ``save_line`` turns one into the spelling
``iptables-save`` prints (what users diff against), ``restore_line`` into what we feed to
``iptables-restore``.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

HASH_LENGTH = 16  # Felix's HashLength: 96 bits of a base64url SHA-224.
COMMENT_PREFIX = "cali:"

IPIP_DEVICE = "tunl0"
VXLAN_DEVICE = "vxlan.calico"

# ipset names (Felix: "cali" + "40" for IPv4 + the set id).
SET_MASQ_POOLS = "cali40masq-ipam-pools"
SET_ALL_POOLS = "cali40all-ipam-pools"
SET_ALL_HOSTS = "cali40all-hosts-net"
SET_ALL_VXLAN = "cali40all-vxlan-net"
SET_OPTIONS = "hash:net family inet hashsize 1024 maxelem 1048576"


@dataclass(frozen=True)
class Rule:
    """One rule: match fragments and action in Felix's spelling, plus an optional human comment."""

    match: tuple[str, ...] = ()
    action: str = ""
    comment: str = ""

    def render_for_hash(self, chain: str) -> str:
        # Felix hashes "-A <chain> HASH <comment> <match> <action>" (Rule.RenderAppend with the
        # "HASH" prefix fragment); empty parts are left out, not rendered as blanks.
        parts = ["-A", chain, "HASH"]
        if self.comment:
            parts.append(f'-m comment --comment "{self.comment}"')
        parts.extend(self.match)
        if self.action:
            parts.append(self.action)
        return " ".join(parts)


@dataclass(frozen=True)
class Chain:
    """A named chain; for a kernel chain (PREROUTING...) only Felix's inserted rules."""

    name: str
    rules: tuple[Rule, ...]


def rule_hashes(chain: Chain) -> tuple[str, ...]:
    """Felix's per-rule ids: chained SHA-224 over the chain name then each rendered rule."""
    digest = hashlib.sha224(chain.name.encode()).digest()
    out = []
    for rule in chain.rules:
        # Chaining makes a rule's id depend on its position and on every rule above it.
        digest = hashlib.sha224(digest + rule.render_for_hash(chain.name).encode()).digest()
        out.append(base64.urlsafe_b64encode(digest).decode().rstrip("=")[:HASH_LENGTH])
    return tuple(out)


def _masquerade(random_fully: bool) -> str:
    # --random-fully only when the host iptables supports it (Felix Features.MASQFullyRandom);
    # it is part of the hashed text, so it changes the id.
    return "--jump MASQUERADE" + (" --random-fully" if random_fully else "")


def nat_chains(tunnels: Sequence[str] = (IPIP_DEVICE,), random_fully: bool = True) -> tuple[Chain, ...]:
    """The nat-table chains natOutgoing needs, hooks first, as Felix v3.16 programs them.

    ``tunnels``: tunnel devices that have a tunnel address, in Felix's order (tunl0 before
    vxlan.calico); each gets the "wrong local source down the tunnel" MASQUERADE rule.
    """
    for dev in tunnels:
        if dev not in (IPIP_DEVICE, VXLAN_DEVICE):
            raise ValueError(f"unknown tunnel device {dev!r}; expected {IPIP_DEVICE} or {VXLAN_DEVICE}")
    tunnel_rules = tuple(
        Rule(
            match=(
                f"--out-interface {dev}",
                "-m addrtype ! --src-type LOCAL --limit-iface-out",
                "-m addrtype --src-type LOCAL",
            ),
            action=_masquerade(random_fully),
        )
        for dev in tunnels
    )
    return (
        # Kernel chains: Felix inserts one jump into each (hashed like a chain of one rule).
        Chain("PREROUTING", (Rule(action="--jump cali-PREROUTING"),)),
        Chain("OUTPUT", (Rule(action="--jump cali-OUTPUT"),)),
        Chain("POSTROUTING", (Rule(action="--jump cali-POSTROUTING"),)),
        Chain("cali-OUTPUT", (Rule(action="--jump cali-fip-dnat"),)),
        Chain("cali-PREROUTING", (Rule(action="--jump cali-fip-dnat"),)),
        Chain(
            "cali-POSTROUTING",
            (Rule(action="--jump cali-fip-snat"), Rule(action="--jump cali-nat-outgoing")) + tunnel_rules,
        ),
        Chain("cali-fip-dnat", ()),
        Chain("cali-fip-snat", ()),
        Chain(
            "cali-nat-outgoing",
            (
                Rule(
                    match=(f"-m set --match-set {SET_MASQ_POOLS} src", f"-m set ! --match-set {SET_ALL_POOLS} dst"),
                    action=_masquerade(random_fully),
                ),
            ),
        ),
    )


KERNEL_CHAINS = frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})

# Felix long options -> the short ones iptables-save prints.
_SAVE_SPELLING = (("--jump ", "-j "), ("--out-interface ", "-o "), ("--in-interface ", "-i "))


def save_line(chain: str, rule: Rule, rule_id: str) -> str:
    """The rule as ``iptables-save`` prints it (interface match first, short options)."""
    iface = [m for m in rule.match if m.startswith(("--out-interface ", "--in-interface "))]
    others = [m for m in rule.match if m not in iface]
    parts = ["-A", chain, *iface, f'-m comment --comment "{COMMENT_PREFIX}{rule_id}"']
    if rule.comment:
        parts.append(f'-m comment --comment "{rule.comment}"')
    parts += others + ([rule.action] if rule.action else [])
    text = " ".join(parts)
    for long, short in _SAVE_SPELLING:
        text = text.replace(long, short)
    return text


def restore_line(chain: str, rule: Rule, rule_id: str) -> str:
    """The rule as Felix feeds iptables-restore: kernel-chain hooks are inserted at the top (-I)."""
    verb = "-I" if chain in KERNEL_CHAINS else "-A"
    parts = [verb, chain, f'-m comment --comment "{COMMENT_PREFIX}{rule_id}"']
    if rule.comment:
        parts.append(f'-m comment --comment "{rule.comment}"')
    parts += list(rule.match) + ([rule.action] if rule.action else [])
    return " ".join(parts)


def _lines(chains: Iterable[Chain], render) -> list[str]:
    out = []
    for chain in chains:
        out += [render(chain.name, rule, rid) for rule, rid in zip(chain.rules, rule_hashes(chain))]
    return out


def nat_save_lines(chains: Sequence[Chain]) -> list[str]:
    """Rule lines in iptables-save spelling, chain by chain (no table header, no counters)."""
    return _lines(chains, save_line)


def nat_restore(chains: Sequence[Chain]) -> str:
    """A ``*nat ... COMMIT`` document for ``iptables-restore --noflush``."""
    own = [c.name for c in chains if c.name not in KERNEL_CHAINS]
    # Declaring a chain in --noflush mode flushes it, so re-applying is idempotent for our chains;
    # kernel chains are not declared (that would flush kube-proxy's/Docker's rules).
    lines = ["*nat", *(f":{name} - [0:0]" for name in own), *_lines(chains, restore_line), "COMMIT"]
    return "\n".join(lines) + "\n"


def ipset_restore(
    pools: Sequence[IPv4Network],
    masq_pools: Sequence[IPv4Network],
    host_ips: Sequence[IPv4Address] = (),
    vxlan_host_ips: Sequence[IPv4Address] = (),
    ipip: bool = True,
    vxlan: bool = False,
) -> str:
    """``ipset restore -exist`` input for the pool sets and the IPIP/VXLAN host sets."""
    sets: list[tuple[str, Sequence]] = [(SET_MASQ_POOLS, masq_pools), (SET_ALL_POOLS, pools)]
    if ipip:
        sets.append((SET_ALL_HOSTS, host_ips))
    if vxlan:
        sets.append((SET_ALL_VXLAN, vxlan_host_ips))
    lines = []
    for name, members in sets:
        lines.append(f"create {name} {SET_OPTIONS}")
        lines += [f"add {name} {m}" for m in members]
    return "\n".join(lines) + "\n"


def forward_accept_restore() -> str:
    """Filter-table accept for pod traffic, for nodes whose FORWARD policy is DROP (Docker hosts).

    Not Felix's (Felix's cali-FORWARD chain does per-endpoint policy); a lab without Felix only
    needs pods' forwarded traffic to pass. Inserted at the top of FORWARD so it precedes Docker's.
    """
    return "\n".join(
        [
            "*filter",
            '-I FORWARD 1 -i cali+ -m comment --comment "cnilab: from Calico pods" -j ACCEPT',
            '-I FORWARD 2 -o cali+ -m comment --comment "cnilab: to Calico pods" -j ACCEPT',
            "COMMIT",
        ]
    ) + "\n"
