"""Per-node state that is not a link, route or map: sysctls, pod namespaces, responders."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

from ..backends.base import NODE_STATE_DIR

PID_DIR = f"{NODE_STATE_DIR}/pods"
RESPONDER_MARK = "cnilab-responder"


class Sysctls(FactBase):
    """The values of the given sysctl keys, ``{"net.ipv4.conf.cilium_host.rp_filter": "0"}``; missing keys are absent."""

    @staticmethod
    def default():
        return {}

    def command(self, keys):
        paths = " ".join(shlex.quote(k) for k in keys)
        return f"for k in {paths}; do f=/proc/sys/$(echo $k | tr . /); [ -r $f ] && echo \"$k=$(cat $f)\"; done; true"

    def process(self, output):
        return dict(line.split("=", 1) for line in output if "=" in line)


class NetNamespaces(FactBase):
    """Names of the network namespaces in the node (its pods): ``["net", "evescn-qff5p"]``."""

    @staticmethod
    def default():
        return []

    def command(self):
        return "ip -j netns list 2>/dev/null || true"

    def process(self, output):
        text = "\n".join(output).strip()
        return sorted(n["name"] for n in json.loads(text)) if text else []


class Responders(FactBase):
    """
    Responders that run, by pod, with their PID: ``{"net": 4242}``. A pid file whose process is
    gone, or is not a responder, does not count.
    """

    @staticmethod
    def default():
        return {}

    def command(self):
        return (
            f"for f in {PID_DIR}/*.pid; do [ -f \"$f\" ] || continue; p=$(cat \"$f\"); "
            f"if tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q {RESPONDER_MARK}; then "
            "echo \"$(basename \"$f\" .pid) $p\"; fi; done; true"
        )

    def process(self, output):
        return {pod: int(pid) for pod, pid in (line.split() for line in output if line.strip())}
