"""Per-node state that is not a link, route or map: sysctls, pod namespaces, responders."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

from ..backends.base import NODE_STATE_DIR
from ._combine import joined, label, parse, split, split_labelled
from ._ns import ShellVar

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


class PodNetworks(FactBase):
    """
    What a node's pods are made of, in one round trip: the node's links and the given
    sysctls (its lxc devices'), and for each pod namespace in the node the links, addresses
    and routes inside it:

    .. code:: python

        {"node": {"links": Links, "sysctls": Sysctls},
         "pods": {"net": {"links": Links, "addresses": Addresses, "routes": Routes}}}
    """

    @staticmethod
    def default():
        return {"node": {"links": {}, "sysctls": {}}, "pods": {}}

    def command(self, sysctls=()):
        from .ip import Addresses, Links, Routes

        n = ShellVar("n")
        node = joined([Links().command(), Sysctls().command(keys=list(sysctls))])
        pod = joined([Links().command(n), Addresses().command(n), Routes().command(n)])
        return f"{node}; for n in $(ip netns list 2>/dev/null | cut -d' ' -f1); do {label('pod', '$n')}; {pod}; done"

    def process(self, output):
        from .ip import Addresses, Links, Routes

        head, pods = split_labelled(output, "pod")
        node = split(head) + [[], []]
        out = {"node": {"links": parse(Links(), node[0]), "sysctls": parse(Sysctls(), node[1])}, "pods": {}}
        for name, lines in pods.items():
            parts = split(lines) + [[], [], []]
            out["pods"][name] = {
                "links": parse(Links(), parts[0]),
                "addresses": parse(Addresses(), parts[1]),
                "routes": parse(Routes(), parts[2]),
            }
        return out


class ResponderState(FactBase):
    """
    The responders that run (as Responders gives them) and the content hash of the responder
    script in the node (None when it is missing): ``{"running": {"net": 4242}, "script": "ab12..."}``.
    """

    @staticmethod
    def default():
        return {"running": {}, "script": None}

    def command(self, path):
        return joined([Responders().command(), f"sha256sum {shlex.quote(path)} 2>/dev/null | cut -d' ' -f1"])

    def process(self, output):
        parts = split(output) + [[], []]
        script = [line.strip() for line in parts[1] if line.strip()]
        return {"running": parse(Responders(), parts[0]), "script": script[0] if script else None}
