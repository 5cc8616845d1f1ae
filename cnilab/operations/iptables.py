"""iptables chains a lab owns (kube-proxy's KUBE-*, Cilium's CILIUM_*), in the node's own netns."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts.iptables import Table

BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


def owned(rule: str, prefixes: tuple[str, ...]) -> bool:
    """A rule is ours if it sits in one of our chains or jumps to one."""
    chain = rule.split()[1]
    target = rule.split(" -j ")[-1].split()[0] if " -j " in rule else ""
    return chain.startswith(prefixes) or target.startswith(prefixes)


def by_chain(rules: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in rules:
        out.setdefault(r.split()[1], []).append(r)
    return out


@operation()
def chains(table: str, prefixes: tuple[str, ...], wanted_chains: list[str], wanted_rules: list[str]):
    """
    The table's chains named with ``prefixes`` hold exactly ``wanted_rules`` (in order), and
    nothing else of ours is left. The table is reloaded atomically with iptables-restore,
    keeping every rule that is not ours.
    """
    have = host.get_fact(Table, table=table)
    mine = [r for r in have["rules"] if owned(r, prefixes)]
    have_chains = {c for c in have["chains"] if c.startswith(prefixes)}
    # Order matters within a chain only; iptables-save lists chains in its own order.
    if by_chain(mine) == by_chain(wanted_rules) and have_chains == set(wanted_chains):
        host.noop(f"{table}: {len(wanted_rules)} rules of {'/'.join(prefixes)} are in place")
        return
    keep_chains = {c: p for c, p in have["chains"].items() if not c.startswith(prefixes)}
    keep_rules = [r for r in have["rules"] if not owned(r, prefixes)]
    lines = [f"*{table}"]
    lines += [f":{c} {p} [0:0]" for c, p in keep_chains.items()]
    lines += [f":{c} - [0:0]" for c in wanted_chains]
    lines += keep_rules + wanted_rules + ["COMMIT"]
    body = "\n".join(lines)
    yield StringCommand(f"iptables-restore -w <<'EOF'\n{body}\nEOF")
