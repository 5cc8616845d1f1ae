"""A lab spread over machines, seen as one backend: each call goes to the backend of the
machine the node is placed on. What verify and the CLI use for a multi-host lab."""

from __future__ import annotations

from ..machines import Machine, MachineUnreachable
from .base import NodeBackend, Removed


class PlacedBackend(NodeBackend):
    def __init__(self, name: str, backends: dict[str, NodeBackend]):
        self.name = name
        self.backends = backends  # node name -> its machine's backend

    def of(self, node: str) -> NodeBackend:
        try:
            return self.backends[node]
        except KeyError:
            raise MachineUnreachable(f"node {node} is placed on no machine of the inventory") from None

    def machine_of(self, node: str) -> Machine:
        return self.of(node).machine

    def machines(self) -> list[NodeBackend]:
        seen, out = set(), []
        for b in self.backends.values():
            if id(b) not in seen:
                seen.add(id(b))
                out.append(b)
        return out

    def check(self) -> None:
        for b in self.machines():
            b.check()

    def node_exists(self, lab_name, node):
        return self.of(node).node_exists(lab_name, node)

    def node_complete(self, lab_name, node):
        return self.of(node).node_complete(lab_name, node)

    def exec_argv(self, lab_name, node, command):
        return self.of(node).exec_argv(lab_name, node, command)

    def run_in(self, lab_name, node, command, check=True, input=None, timeout=None):
        return self.of(node).run_in(lab_name, node, command, check=check, input=input, timeout=timeout)

    def write_file(self, lab_name, node, data, remote_path):
        return self.of(node).write_file(lab_name, node, data, remote_path)

    def read_file(self, lab_name, node, remote_path):
        return self.of(node).read_file(lab_name, node, remote_path)

    def lab_nodes(self, lab_name) -> list[str]:
        """The lab's nodes found on the machines that answer (a lost machine's are not)."""
        found = []
        for b in self.machines():
            try:
                found += b.lab_nodes(lab_name)
            except MachineUnreachable:
                continue
        return sorted(found)

    def lab_exists(self, lab_name) -> bool:
        return any(b.lab_exists(lab_name) for b in self.machines())

    def world_exists(self, lab):
        return self.of(lab.nodes[0].name).world_exists(lab)

    def create_node(self, lab, node, join=None):
        raise NotImplementedError("nodes of a multi-host lab are made by deploys/up.py")

    def create_world(self, lab, join=None):
        raise NotImplementedError("the world of a multi-host lab is made by deploys/up.py")

    def remove_node(self, lab_name, node) -> list[Removed]:
        return self.of(node).remove_node(lab_name, node)

    def destroy_lab(self, lab_name) -> list[Removed]:
        removed = []
        for b in self.machines():
            removed += b.destroy_lab(lab_name)
        return removed
