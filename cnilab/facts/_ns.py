"""Facts about a pod read from its node: `ip -n <pod>`."""

from __future__ import annotations

import shlex


def ip(netns: str | None) -> str:
    return f"ip -n {shlex.quote(netns)}" if netns else "ip"

