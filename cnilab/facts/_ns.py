"""Facts about a pod read from its node: `ip -n <pod>`."""

from __future__ import annotations

import shlex


class ShellVar(str):
    """A namespace named by a shell variable of the fact's own command (a loop over pods)."""


def ip(netns: str | None) -> str:
    if isinstance(netns, ShellVar):
        return f'ip -n "${{{netns}}}"'
    return f"ip -n {shlex.quote(netns)}" if netns else "ip"
