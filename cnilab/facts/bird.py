"""A BIRD daemon the lab runs in a node: whether it runs, and with which configuration."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ._combine import joined, split


class BirdDaemon(FactBase):
    """
    The BIRD whose pid file is ``pidfile`` (only if that PID is a live ``bird``), and the
    content hash of ``config`` (None when missing): ``{"pid": 4242, "config": "ab12..."}``.
    """

    @staticmethod
    def default():
        return {"pid": None, "config": None}

    def command(self, pidfile, config):
        pid = shlex.quote(pidfile)
        return joined(
            [
                f"p=; {{ read -r p < {pid} || [ -n \"$p\" ]; }} 2>/dev/null; "
                "[ -n \"$p\" ] && tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q '^bird ' && echo $p; true",
                f"sha256sum {shlex.quote(config)} 2>/dev/null | cut -d' ' -f1",
            ]
        )

    def process(self, output):
        parts = split(output) + [[], []]
        pid = [line.strip() for line in parts[0] if line.strip().isdigit()]
        config = [line.strip() for line in parts[1] if line.strip()]
        return {"pid": int(pid[0]) if pid else None, "config": config[0] if config else None}
