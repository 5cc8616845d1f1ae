"""Kernel parameters of a node's network namespace."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts.node import Sysctls


@operation()
def values(wanted: dict[str, str]):
    """Set the given sysctls (per network namespace ones: the node's, never the machine's)."""
    have = host.get_fact(Sysctls, keys=sorted(wanted))
    changes = [f"{k}={v}" for k, v in sorted(wanted.items()) if have.get(k) != str(v)]
    if changes:
        yield StringCommand("sysctl -qw " + " ".join(changes))
    else:
        host.noop(f"{len(wanted)} sysctls are set")
