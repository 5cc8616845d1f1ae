"""Kernel parameters of a node's network namespace."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts.sysctl import Sysctls


def _dev_of(sysctl_key: str) -> str | None:
    """net.ipv4.conf.<dev>.rp_filter -> <dev>"""
    parts = sysctl_key.split(".")
    return parts[3] if len(parts) == 5 and parts[:3] == ["net", "ipv4", "conf"] else None


def sysctl_changes(have: dict, wanted: dict[str, str], fresh_devs: set[str] = frozenset()) -> list[str]:
    """``key=value`` for every sysctl not as wanted (a fresh device's are all set)."""
    return [f"{k}={v}" for k, v in sorted(wanted.items()) if have.get(k) != str(v) or _dev_of(k) in fresh_devs]


@operation()
def values(wanted: dict[str, str]):
    """Set the given sysctls (per network namespace ones: the node's, never the machine's)."""
    changes = sysctl_changes(host.get_fact(Sysctls, keys=sorted(wanted)), wanted)
    if changes:
        yield StringCommand("sysctl -qw " + " ".join(changes))
    else:
        host.noop(f"{len(wanted)} sysctls are set")
