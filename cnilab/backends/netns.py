"""Nodes as network namespaces: the backend that needs no daemon.

A node is a network namespace (`ip netns`, named like kind names its containers) plus a
persistent mount namespace of its own, in which /sys is remounted for that network
namespace, a bpffs is mounted at /sys/fs/bpf, and /run and /tmp are private tmpfs, so a
node looks to `ip`, `tc`, `bpftool` and `ip netns` like a container does.

Why the mount namespace: `ip netns exec` remounts /sys, so `tc ... obj` run under it pins
maps into a throw-away bpffs and the programs silently stop sharing maps.

The underlay is a bridge in a namespace of its own, `<lab>-underlay`, with no address:
nodes have no way out of the lab.

On the machine the lab keeps only /run/cnilab/<lab>/ (mount namespace files), made on a
private bind mount because `unshare --mount=FILE` refuses a shared mount.

Everything here runs as shell on the backend's machine (this one, or one reached over
SSH: cnilab.machines), so a multi-host lab's remote nodes are made and removed by the
same lines as local ones. Only the check run before every command in a node keeps a
path of its own on this machine (two stats, not a process).
"""

from __future__ import annotations

import os
import shlex
import threading
from pathlib import Path

from ..layout import NODE_MADE, NODE_STATE_DIR, RESPONDER_MARK
from ..machines import LOCAL, Machine
from ..model.lab import Lab, Node
from . import underlay
from .base import BackendError, NodeBackend, Removed, require_tools, world_command

ROOT = Path("/run/cnilab")
# pyinfra runs hosts as gevent greenlets (threading is patched): nodes of one lab share
# the underlay and the bind mount, so making those (and removing the lab) takes turns;
# a node's own namespaces are made and removed side by side with the others'.
_LOCK = threading.RLock()
NETNS_DIR = Path("/run/netns")
RESPONDER = Path(__file__).resolve().parents[1] / "responder.py"


def _is_mountpoint(path: Path) -> bool:
    # A bind mount of a namespace (nsfs) or of /run/cnilab on itself: asked before every
    # command run in a node, so two stats, not a read of every mount of the machine.
    target = str(path)
    if path.is_file():
        return os.path.ismount(target)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


def _q(p) -> str:
    return shlex.quote(str(p))


# Kill the processes of namespace $1 (by `ip netns pids`, each one started by this
# project inside the lab) and wait until each has let go of it (gone or a zombie).
_KILL_NS = r"""
_kill_ns() {
    pids=$(ip netns pids "$1" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    kill -9 $pids 2>/dev/null || true
    for p in $pids; do
        echo "process $p"
        i=0; while [ $i -lt 100 ] && [ -e /proc/$p ] && ! awk '{s=$0; sub(/.*\) /, "", s); split(s, a, " "); exit !(a[1] == "Z" || a[1] == "X")}' /proc/$p/stat 2>/dev/null; do
            sleep 0.01; i=$((i+1)); done
    done
}
"""


class NetnsBackend(NodeBackend):
    name = "netns"

    def __init__(self, machine: Machine = LOCAL):
        self.machine = machine
        self._checked = False

    def check(self) -> None:
        if self.machine.local:
            if os.geteuid() != 0:
                raise BackendError("the netns backend needs root: run as root (sudo)")
            require_tools("ip", "nsenter", "unshare", "mount", hint="install iproute2 and util-linux (apt-get install iproute2 util-linux)")
            return
        if self._checked:  # a remote machine is asked once (a round trip); cnilab.preflight says the rest
            return
        missing = self.machine.sh(
            "[ \"$(id -u)\" = 0 ] || echo root; for t in ip nsenter unshare mount mountpoint; do command -v $t >/dev/null || echo $t; done",
            check=False,
        ).stdout.decode().split()
        if "root" in missing:
            raise BackendError(f"{self.machine.name}: the netns backend needs root: log in as root")
        if missing:
            raise BackendError(
                f"{self.machine.name}: missing {', '.join(missing)}: install iproute2 and util-linux (apt-get install iproute2 util-linux)"
            )
        self._checked = True

    # --- paths ------------------------------------------------------------------------

    def lab_dir(self, lab_name: str) -> Path:
        return ROOT / lab_name

    def mount_file(self, lab_name: str, node: str) -> Path:
        return self.lab_dir(lab_name) / "mnt" / node

    # --- nodes ------------------------------------------------------------------------

    def node_exists(self, lab_name: str, node: str) -> bool:
        if self.machine.local:
            return (NETNS_DIR / node).exists() and _is_mountpoint(self.mount_file(lab_name, node))
        return self.machine.sh(self._exists_test(lab_name, node), check=False).returncode == 0

    def _exists_test(self, lab_name: str, node: str) -> str:
        return f"test -e {_q(NETNS_DIR / node)} && mountpoint -q {_q(self.mount_file(lab_name, node))}"

    def guarded_exec_argv(self, lab_name: str, node: str, command: str, missing_code: int) -> list[str]:
        inner = shlex.join(self.exec_argv(lab_name, node, command))
        return ["sh", "-c", f"{self._exists_test(lab_name, node)} || exit {missing_code}; exec {inner}"]

    def exec_argv(self, lab_name: str, node: str, command: str) -> list[str]:
        return [
            "nsenter",
            f"--mount={self.mount_file(lab_name, node)}",
            f"--net={NETNS_DIR / node}",
            "--",
            "sh",
            "-c",
            command,
        ]

    def _root_lines(self, lab_name: str) -> list[str]:
        """/run/cnilab on a private bind mount of itself, and the lab's directory in it."""
        return [
            f"mkdir -p -m 0700 {ROOT}",
            f"mountpoint -q {ROOT} || {{ mount --bind {ROOT} {ROOT} && mount --make-private {ROOT}; }}",
            # before the underlay: see lab_exists
            f"mkdir -p {_q(self.lab_dir(lab_name) / 'mnt')}",
        ]

    def _world_pidfile(self, lab_name: str) -> Path:
        return self.lab_dir(lab_name) / "world.pid"

    def world_exists(self, lab: Lab) -> bool:
        pidfile = _q(self._world_pidfile(lab.name))
        p = self.machine.sh(
            f"test -e {_q(NETNS_DIR / lab.world.name)} && p=$(cat {pidfile}) && grep -qa {RESPONDER_MARK} /proc/$p/cmdline",
            check=False,
        )
        return p.returncode == 0

    def create_world(self, lab: Lab, join: underlay.Join | None = None) -> None:
        w = lab.world
        name = shlex.quote(w.name)
        if self.machine.local:
            responder, python = str(RESPONDER), os.environ.get("CNILAB_PYTHON") or _python()
        else:
            responder, python = str(self.lab_dir(lab.name) / "responder.py"), "python3"
        with _LOCK:
            self.check()
            lines = [*self._root_lines(lab.name), *underlay.ensure_lines(lab.name, join)]
            if not self.machine.local:
                lines.append(f"cat > {_q(responder)}")
            lines += [
                _KILL_NS,
                f"_kill_ns {name} >/dev/null",
                f"ip netns del {name} 2>/dev/null || true",
                f"ip netns add {name}",
                *underlay.world_lines(lab, w.name, f"ip -n {name}"),
                f"ip netns exec {name} sh -c {shlex.quote(world_command(lab, responder, python, str(self._world_pidfile(lab.name))))}",
            ]
            self.machine.sh("\n".join(["set -e", *lines]), input=None if self.machine.local else RESPONDER.read_bytes())

    def create_node(self, lab: Lab, node: Node, join: underlay.Join | None = None) -> None:
        self.check()
        with _LOCK:
            # Shared by the lab's nodes: made once, by whichever node comes first.
            if join is not None or not self.machine.local or not underlay.exists(lab.name) or not self.lab_dir(lab.name).exists():
                underlay.run_lines([*self._root_lines(lab.name), *underlay.ensure_lines(lab.name, join)], self.machine)
        # The rest is the node's own (its namespaces, its port on the bridge): nodes are
        # made side by side, each with one shell.
        self._create_node(lab, node)

    def _create_node(self, lab: Lab, node: Node) -> None:
        mnt = self.mount_file(lab.name, node.name)
        setup = " && ".join(
            [
                "mount -t sysfs sysfs /sys",
                "mount -t bpf bpf /sys/fs/bpf",
                "mount -t tmpfs -o mode=0755 tmpfs /run",
                "mount -t tmpfs -o mode=1777 tmpfs /tmp",
                f"mkdir -p {NODE_STATE_DIR} /run/netns",
                "ip link set lo up",
            ]
        )
        name = shlex.quote(node.name)
        # A half-made node (namespace without its mount namespace, or the reverse) is
        # made again from nothing.
        self.machine.sh(
            "\n".join(
                [
                    *self._remove_lines(lab.name, node.name),
                    "set -e",
                    f"touch {_q(mnt)}",
                    f"ip netns add {name}",
                    # Retried: on kernel 6.18, machines sharing one kernel (the SSH test
                    # bed's containers) that bind new mount namespaces at the same moment
                    # are now and then refused with EINVAL; the next try succeeds.
                    f"i=0; until err=$(unshare --mount={_q(mnt)} --propagation private true 2>&1); do "
                    "i=$((i+1)); [ $i -lt 30 ] || { echo \"$err\" >&2; exit 1; }; sleep 0.0$((i % 9 + 1)); done",
                    shlex.join(self.exec_argv(lab.name, node.name, setup)),
                    *underlay.node_lines(lab, node, node.name, f"ip -n {name}"),
                    shlex.join(self.exec_argv(lab.name, node.name, f"touch {NODE_MADE}")),  # the last step
                ]
            )
        )

    def lab_nodes(self, lab_name: str) -> list[str]:
        d = self.lab_dir(lab_name) / "mnt"
        if self.machine.local:
            return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
        return sorted(self.machine.sh(f"ls {_q(d)} 2>/dev/null || true").stdout.decode().split())

    def lab_exists(self, lab_name: str) -> bool:
        # The state directory is made before anything else of the lab (the underlay is
        # shared with the Docker backend and says nothing of who made it).
        if self.machine.local:
            return self.lab_dir(lab_name).exists()
        return self.machine.sh(f"test -e {_q(self.lab_dir(lab_name))}", check=False).returncode == 0

    def labs(self) -> list[str]:
        return sorted(self.machine.sh(f"ls {ROOT} 2>/dev/null || true").stdout.decode().split())

    # --- teardown -----------------------------------------------------------------------

    def _remove_lines(self, lab_name: str, node: str) -> list[str]:
        """Shell that removes one node, printing `<kind> <name>` per thing removed. Only
        processes inside this lab's namespaces are killed: the responders, BIRD, and any
        capture the suite left running; every one of them was started by this project."""
        mnt, ns = _q(self.mount_file(lab_name, node)), _q(NETNS_DIR / node)
        pods = shlex.join(self.exec_argv(lab_name, node, "for n in $(ls /run/netns 2>/dev/null); do ip netns pids $n; done"))
        return [
            _KILL_NS,
            f"if [ -e {ns} ]; then",
            f"  pids=$(mountpoint -q {mnt} && {pods} 2>/dev/null || true)",
            "  if [ -n \"$pids\" ]; then kill -9 $pids 2>/dev/null || true; for p in $pids; do echo \"process $p\"; done; fi",
            f"  _kill_ns {shlex.quote(node)}",
            "fi",
            f"if mountpoint -q {mnt} 2>/dev/null; then umount {mnt}; echo \"mount {self.mount_file(lab_name, node)}\"; fi",
            f"rm -f {mnt}",
            f"if [ -e {ns} ]; then ip netns del {shlex.quote(node)}; echo \"netns {node}\"; fi",
        ]

    def _run_removal(self, lines: list[str]) -> list[Removed]:
        out = self.machine.sh("\n".join(lines)).stdout.decode()
        removed = []
        for line in out.splitlines():
            kind, _, what = line.partition(" ")
            if kind in ("process", "mount", "netns", "dir") and what:
                removed.append(Removed(kind, what))
        return removed

    def destroy_lab(self, lab_name: str) -> list[Removed]:
        with _LOCK:
            lines = []
            for node in self.lab_nodes(lab_name):
                lines += self._remove_lines(lab_name, node)
            world, d = f"{lab_name}-world", self.lab_dir(lab_name)
            ul = underlay.name(lab_name)
            lines += [
                _KILL_NS,
                f"if [ -e {_q(NETNS_DIR / world)} ]; then _kill_ns {world}; ip netns del {world}; echo 'netns {world}'; fi",
                f"if [ -e {_q(NETNS_DIR / ul)} ]; then ip netns del {ul}; echo 'netns {ul}'; fi",
                f"if [ -e {_q(d)} ]; then rm -rf {_q(d)}; echo 'dir {d}'; fi",
                f"if [ -d {ROOT} ] && [ -z \"$(ls -A {ROOT})\" ]; then (mountpoint -q {ROOT} && umount {ROOT}; true); rmdir {ROOT}; fi",
            ]
            return self._run_removal(lines)

    def remove_node(self, lab_name: str, node: str) -> list[Removed]:
        # Only the node's own namespaces, mount and processes: nodes go side by side.
        return self._run_removal(self._remove_lines(lab_name, node))


def _python() -> str:
    import sys

    return sys.executable
