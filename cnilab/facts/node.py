"""Per-node state that is not a link, route or map: sysctls, pod namespaces, responders."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

from ..layout import PID_DIR, RESPONDER_MARK  # noqa: F401 (the operations take them from here)
from ._combine import joined, label, parse, split, split_labelled
from ._ns import ShellVar
from .ip import Addresses, Links, Routes
from .sysctl import Sysctls



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
        # One grep per pod and builtins for the rest: a node runs a responder per pod.
        return (
            f"for f in {PID_DIR}/*.pid; do [ -f \"$f\" ] || continue; p=; {{ read -r p < \"$f\" || [ -n \"$p\" ]; }}; "
            f"if [ -n \"$p\" ] && grep -qa {RESPONDER_MARK} /proc/$p/cmdline 2>/dev/null; then "
            "n=${f##*/}; echo \"${n%.pid} $p\"; fi; done; true"
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
        n = ShellVar("n")
        node = joined([Links().command(), Sysctls().command(keys=list(sysctls))])
        pod = joined([Links().command(n), Addresses().command(n), Routes().command(n)])
        # The namespaces `ip netns` made are the files of /run/netns (a glob, no process).
        return f"{node}; for n in /run/netns/*; do [ -e \"$n\" ] || continue; n=${{n##*/}}; {label('pod', '$n')}; {pod}; done"

    def process(self, output):
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
