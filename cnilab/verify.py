"""Reading a running lab for the verify suites: testinfra hosts for its nodes and pods,
and the pyinfra facts' own parsers applied to what those hosts print.

A lab is found by its declaration's name; which backend runs it is found on the machine
(namespace nodes, or containers labelled with the lab), so `pytest verify/ --lab X`
needs nothing else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import testinfra
from testinfra.backend import base as tbase

from .backends import NodeBackend, available_backends
from .model.lab import Lab


class LabNodeBackend(tbase.BaseBackend):
    """testinfra backend running commands in a lab node through its cnilab backend."""

    NAME = "cnilab"

    def __init__(self, node_backend: NodeBackend, lab_name: str, node: str, *args: Any, **kwargs: Any):
        self.node_backend = node_backend
        self.lab_name = lab_name
        self.node = node
        super().__init__(node, *args, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> tbase.CommandResult:
        cmd = self.get_command(command, *args)
        argv = self.node_backend.exec_argv(self.lab_name, self.node, cmd)
        out = self.run_local(" ".join(["%s"] * len(argv)), *argv)
        out.command = self.encode(cmd)
        return out


class LabNotRunning(RuntimeError):
    pass


def find_backend(lab: Lab) -> NodeBackend:
    """The backend that runs this lab now; LabNotRunning says how to bring it up."""
    for backend in available_backends():
        if backend.lab_nodes(lab.name):
            return backend
    raise LabNotRunning(
        f"lab {lab.decl_name} ({lab.name}) is not running: bring it up with "
        f"`pyinfra -y inventories/{lab.decl_name}.py deploys/up.py`"
    )


@dataclass
class RunningLab:
    lab: Lab
    backend: NodeBackend
    _hosts: dict = field(default_factory=dict, repr=False)

    def host(self, node: str) -> testinfra.host.Host:
        if node not in self._hosts:
            self._hosts[node] = self._make_host(node)
        return self._hosts[node]

    def _make_host(self, node: str) -> testinfra.host.Host:
        if self.backend.name == "docker":
            # testinfra's own docker:// hosts: the same as against a real kind node.
            return testinfra.get_host(f"docker://{node}")
        return testinfra.host.Host(LabNodeBackend(self.backend, self.lab.name, node))

    def fact(self, node: str, fact_cls, **kwargs):
        """Run a pyinfra fact's command in the node and parse it with the fact's own parser."""
        fact = fact_cls()
        out = self.host(node).run(fact.command(**kwargs))
        if out.rc != 0:
            raise AssertionError(f"{node}: `{fact.command(**kwargs)}` failed: {out.stderr.strip()}")
        lines = [line for line in out.stdout.splitlines() if line.strip()]
        return fact.process(lines) if lines else fact.default()

    def in_pod(self, pod: str, command: str) -> str:
        """`command` run inside a pod's network namespace (from its node)."""
        return f"ip netns exec {shlex.quote(pod)} {command}"


def cross_node_pair(lab: Lab):
    """The first two pods on different nodes, or None: the pair the wire checks probe."""
    for a in lab.pods:
        for b in lab.pods:
            if a.node != b.node:
                return a, b
    return None
