"""Reading a running lab for the verify suites: testinfra hosts for its nodes and pods.
(The suites parse what those hosts print with readers of their own, never with the
deploy's pyinfra facts; `RunningLab.fact` is what `cnilab status`'s node_status reads with.)

A lab is found by its declaration's name; which backend runs it is found on the machine
(namespace nodes, or containers labelled with the lab), so `pytest verify/ --lab X`
needs nothing else. Its nodes are `cnilab://` testinfra hosts (cnilab/testinfra_backend.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

import testinfra

from .backends import NodeBackend
from .running import LabNotRunning, find_backend  # noqa: F401 (where the suites and the CLI find them)
from .model.lab import Lab
from .testinfra_backend import CnilabBackend


class LabNodeBackend(CnilabBackend):
    """testinfra backend running commands in a lab node through its cnilab backend: the
    `cnilab://` backend (cnilab/testinfra_backend.py) for a node already known."""

    def __init__(self, node_backend: NodeBackend, lab_name: str, node: str, *args: Any, **kwargs: Any):
        name = f"{lab_name}/{node.removeprefix(f'{lab_name}-')}"
        super().__init__(name, *args, node_backend=node_backend, cluster=lab_name, node=node, **kwargs)
        self.lab_name = lab_name


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
        # A lab cnilab made is entered as the deploy enters it (`cnilab://`: nsenter, by PID
        # for a container), on either backend. testinfra's own `docker://<node>` (a
        # `docker exec` per command, three times slower) stays what a real kind node takes.
        backend = CnilabBackend.for_node(self.backend, self.lab.name, node)
        host = testinfra.host.Host(backend)
        backend.set_host(host)
        return host

    def fact(self, node: str, fact_cls, **kwargs):
        """Run a pyinfra fact's command in the node and parse it with the fact's own parser.
        For cnilab's own tools (cnilab/cni/cilium/status.py); the verify suites do not use it."""
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
