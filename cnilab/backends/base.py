"""What a node backend is: how a lab's nodes come to exist, are entered, and go away.

The pyinfra deploys and the verify suites are the same on every backend; only this
interface differs (network namespaces, Docker containers).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..machines import LOCAL, Machine, MachineError
from ..model.lab import Lab, Node


class BackendError(MachineError):
    """The backend cannot work here; the message says why and what to do."""


@dataclass(frozen=True)
class Removed:
    kind: str  # "netns", "container", "network", "mount", "process", "dir"
    name: str


def run(argv: list[str], check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    from ..spawn import run as spawn_run

    p = spawn_run(argv, input=input)
    if check and p.returncode != 0:
        raise BackendError(f"{' '.join(argv)} failed: {p.stderr.decode(errors='replace').strip()}")
    return p


def require_tools(*tools: str, hint: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise BackendError(f"missing {', '.join(missing)}: {hint}")


class NodeBackend(ABC):
    name: str
    machine: Machine = LOCAL  # where the nodes live and their commands run

    @abstractmethod
    def check(self) -> None:
        """Raise BackendError when this backend cannot run here (no root, no daemon, no tool)."""

    @abstractmethod
    def node_exists(self, lab_name: str, node: str) -> bool: ...

    def node_complete(self, lab_name: str, node: str) -> bool:
        """The node was made to the end: an interrupted `up` can leave one whose eth0 is
        there without its address, or down; the last step of making it leaves NODE_MADE."""
        from ..layout import NODE_MADE

        return self.run_in(lab_name, node, f"test -e {NODE_MADE}", check=False).returncode == 0

    @abstractmethod
    def create_node(self, lab: Lab, node: Node) -> None:
        """Make the node: its network stack on the lab's underlay, eth0 = node IP, bpffs, /run."""

    @abstractmethod
    def world_exists(self, lab: Lab) -> bool:
        """The lab's world host is up and answering (its responder runs)."""

    @abstractmethod
    def create_world(self, lab: Lab) -> None:
        """The world host on the underlay: TEST-NET address, a responder, no route to pods."""

    @abstractmethod
    def exec_argv(self, lab_name: str, node: str, command: str) -> list[str]:
        """argv that runs `sh -c command` inside the node."""

    def guarded_exec_argv(self, lab_name: str, node: str, command: str, missing_code: int) -> list[str]:
        """exec_argv, but exiting with `missing_code` (and running nothing) when the node
        does not exist: one round trip where the machine is far away."""
        return self.exec_argv(lab_name, node, command)

    def write_file(self, lab_name: str, node: str, data: bytes, remote_path: str) -> None:
        # Streamed through the node's own shell: works the same for a container and for a
        # namespace whose /run and /tmp are private, on this machine or another.
        q = shlex.quote(remote_path)
        self.run_in(lab_name, node, f"mkdir -p \"$(dirname {q})\" && cat > {q}", input=data)

    def read_file(self, lab_name: str, node: str, remote_path: str) -> bytes:
        return self.run_in(lab_name, node, f"cat {shlex.quote(remote_path)}").stdout

    @abstractmethod
    def lab_nodes(self, lab_name: str) -> list[str]:
        """Nodes of this lab that exist now, found by the lab's name (no declaration needed)."""

    @abstractmethod
    def remove_node(self, lab_name: str, node: str) -> list[Removed]:
        """Remove one node with its pods, processes, pins and mounts."""

    @abstractmethod
    def lab_exists(self, lab_name: str) -> bool:
        """Anything of this lab is on the machine (a node, the underlay, its state)."""

    @abstractmethod
    def destroy_lab(self, lab_name: str) -> list[Removed]:
        """Remove everything the lab made on this machine; safe on a half-made or absent lab."""

    def run_in(self, lab_name: str, node: str, command: str, check: bool = True, input: bytes | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess:
        """`sh -c command` inside the node, on the node's machine."""
        argv = self.exec_argv(lab_name, node, command)
        p = self.machine.run(argv, input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise BackendError(f"{node}: `{command[:120]}` failed: {p.stderr.decode(errors='replace').strip()}")
        return p


def world_command(lab: Lab, responder: str, python: str, pidfile: str) -> str:
    """Shell run inside the world host: its TEST-NET address, no default route, the responder."""
    w = lab.world
    return (
        f"ip addr replace {w.ip}/32 dev lo && ip link set lo up && (ip route del default 2>/dev/null; true) && "
        f"mkdir -p $(dirname {pidfile}) && rm -f {pidfile} && "
        f"(setsid {python} {responder} cnilab-responder --world --name world --ip {w.ip}/32 --port 80 "
        f"--pidfile {pidfile} </dev/null >/dev/null 2>&1 &) && "
        f"for i in $(seq 400); do [ -s {pidfile} ] && break; sleep 0.05; done; [ -s {pidfile} ]"
    )
