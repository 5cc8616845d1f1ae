"""Kernel parameters, from /proc/sys."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class Sysctls(FactBase):
    """The values of the given sysctl keys, ``{"net.ipv4.conf.cilium_host.rp_filter": "0"}``; missing keys are absent."""

    @staticmethod
    def default():
        return {}

    def command(self, keys):
        # Shell builtins only (no process per key): a node has dozens of these. /proc/sys
        # answers a byte-wise read without its newline, so `read` may report EOF.
        pairs = " ".join(f"{shlex.quote(k)} {shlex.quote('/proc/sys/' + k.replace('.', '/'))}" for k in keys)
        return f'set -- {pairs}; while [ $# -gt 1 ]; do v=; [ -r "$2" ] && {{ read -r v < "$2" || [ -n "$v" ]; }} && echo "$1=$v"; shift 2; done; true'

    def process(self, output):
        return dict(line.split("=", 1) for line in output if "=" in line)
