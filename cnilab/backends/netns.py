"""Nodes as network namespaces: the backend that needs no daemon.

A node is a network namespace (`ip netns`, named like kind names its containers) plus a
persistent mount namespace of its own, in which /sys is remounted for that network
namespace, a bpffs is mounted at /sys/fs/bpf, and /run and /tmp are private tmpfs, so a
node looks to `ip`, `tc`, `bpftool` and `ip netns` like a container does.

Why the mount namespace: `ip netns exec` remounts /sys, so `tc ... obj` run under it pins
maps into a throw-away bpffs and the programs silently stop sharing maps.

The underlay is a bridge in a namespace of its own, `<lab>-underlay`, with no address:
nodes have no way out of the lab.

On the host the lab keeps only /run/cnilab/<lab>/ (mount namespace files), made on a
private bind mount because `unshare --mount=FILE` refuses a shared mount.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from ..model.lab import Lab, Node
from ..layout import RESPONDER_MARK
from . import underlay
from ..layout import NODE_STATE_DIR
from .base import BackendError, NodeBackend, Removed, require_tools, run, world_command

ROOT = Path("/run/cnilab")
# pyinfra runs hosts as gevent greenlets (threading is patched): nodes of one lab share
# the underlay and the bind mount, so making those (and removing the lab) takes turns;
# a node's own namespaces are made and removed side by side with the others'.
_LOCK = threading.RLock()
NETNS_DIR = Path("/run/netns")


def _exited(pid: int) -> bool:
    """Gone, or a zombie: it holds no namespace any more. (Zombies wait for whoever reaps
    orphans, which may take a second or more; the node need not wait for that.)"""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def _is_mountpoint(path: Path) -> bool:
    # A bind mount of a namespace (nsfs) or of /run/cnilab on itself: asked before every
    # command run in a node, so two stats, not a read of every mount of the machine.
    # (os.path.ismount compares devices, which a bind of a directory on itself keeps.)
    target = str(path)
    if path.is_file():
        return os.path.ismount(target)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == target for line in f)


class NetnsBackend(NodeBackend):
    name = "netns"

    def check(self) -> None:
        if os.geteuid() != 0:
            raise BackendError("the netns backend needs root: run as root (sudo)")
        require_tools("ip", "nsenter", "unshare", "mount", hint="install iproute2 and util-linux (apt-get install iproute2 util-linux)")

    # --- paths ------------------------------------------------------------------------

    def lab_dir(self, lab_name: str) -> Path:
        return ROOT / lab_name

    def mount_file(self, lab_name: str, node: str) -> Path:
        return self.lab_dir(lab_name) / "mnt" / node

    # --- nodes ------------------------------------------------------------------------

    def node_exists(self, lab_name: str, node: str) -> bool:
        return (NETNS_DIR / node).exists() and _is_mountpoint(self.mount_file(lab_name, node))

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

    def _ensure_root(self) -> None:
        ROOT.mkdir(mode=0o700, exist_ok=True)
        if not _is_mountpoint(ROOT):
            run(["mount", "--bind", str(ROOT), str(ROOT)])
            run(["mount", "--make-private", str(ROOT)])

    def _world_pidfile(self, lab_name: str) -> Path:
        return self.lab_dir(lab_name) / "world.pid"

    def world_exists(self, lab: Lab) -> bool:
        pidfile = self._world_pidfile(lab.name)
        if not (NETNS_DIR / lab.world.name).exists() or not pidfile.exists():
            return False
        pid = pidfile.read_text().strip()
        try:
            return RESPONDER_MARK.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False

    def create_world(self, lab: Lab) -> None:
        with _LOCK:
            self.check()
            self._ensure_root()
            self.lab_dir(lab.name).mkdir(parents=True, exist_ok=True)  # before the underlay: see lab_exists
            underlay.ensure(lab.name)
            w = lab.world
            for pid in run(["ip", "netns", "pids", w.name], check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", w.name], check=False)
            run(["ip", "netns", "add", w.name])
            underlay.run_lines(underlay.world_lines(lab, w.name, f"ip -n {w.name}"))
            responder = Path(__file__).resolve().parents[1] / "responder.py"
            cmd = world_command(lab, str(responder), sys.executable, str(self._world_pidfile(lab.name)))
            run(["ip", "netns", "exec", w.name, "sh", "-c", cmd])

    def create_node(self, lab: Lab, node: Node) -> None:
        self.check()
        with _LOCK:
            # Shared by the lab's nodes: made once, by whichever node comes first.
            self._ensure_root()
            self.lab_dir(lab.name).mkdir(parents=True, exist_ok=True)  # before the underlay: see lab_exists
            underlay.ensure(lab.name)
        # The rest is the node's own (its namespaces, its port on the bridge): nodes are
        # made side by side, each with one shell.
        self._create_node(lab, node)

    def _create_node(self, lab: Lab, node: Node) -> None:
        # A half-made node (namespace without its mount namespace, or the reverse) is
        # made again from nothing.
        self._remove_node(lab.name, node.name)
        mnt = self.mount_file(lab.name, node.name)
        mnt.parent.mkdir(parents=True, exist_ok=True)
        mnt.touch()
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
        underlay.run_lines(
            [
                f"ip netns add {name}",
                f"unshare --mount={shlex.quote(str(mnt))} --propagation private true",
                shlex.join(self.exec_argv(lab.name, node.name, setup)),
                *underlay.node_lines(lab, node, node.name, f"ip -n {name}"),
            ]
        )

    def lab_nodes(self, lab_name: str) -> list[str]:
        d = self.lab_dir(lab_name) / "mnt"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    def lab_exists(self, lab_name: str) -> bool:
        # The state directory is made before anything else of the lab (the underlay is
        # shared with the Docker backend and says nothing of who made it).
        return self.lab_dir(lab_name).exists()

    def labs(self) -> list[str]:
        return sorted(p.name for p in ROOT.iterdir() if p.is_dir()) if ROOT.is_dir() else []

    # --- teardown -----------------------------------------------------------------------

    def _pids_in(self, lab_name: str, node: str) -> set[int]:
        """Processes in the node's network namespace and in its pods' namespaces."""
        pids: set[int] = set()
        p = run(["ip", "netns", "pids", node], check=False)
        pids.update(int(x) for x in p.stdout.split())
        if _is_mountpoint(self.mount_file(lab_name, node)):
            p = run(
                self.exec_argv(lab_name, node, "for n in $(ls /run/netns 2>/dev/null); do ip netns pids $n; done"),
                check=False,
            )
            pids.update(int(x) for x in p.stdout.split())
        pids.discard(os.getpid())
        return pids

    def _remove_node(self, lab_name: str, node: str) -> list[Removed]:
        removed: list[Removed] = []
        # Only processes inside this lab's namespaces: the responders and any capture the
        # suite left running. Every one of them was started by this project.
        pids = self._pids_in(lab_name, node) if (NETNS_DIR / node).exists() else set()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(Removed("process", str(pid)))
            except ProcessLookupError:
                pass
        for pid in pids:
            for _ in range(100):
                if _exited(pid):
                    break
                time.sleep(0.01)
        mnt = self.mount_file(lab_name, node)
        if _is_mountpoint(mnt):
            run(["umount", str(mnt)])
            removed.append(Removed("mount", str(mnt)))
        if mnt.exists():
            mnt.unlink()
        if (NETNS_DIR / node).exists():
            run(["ip", "netns", "del", node])
            removed.append(Removed("netns", node))
        return removed

    def destroy_lab(self, lab_name: str) -> list[Removed]:
        with _LOCK:
            return self._destroy_lab(lab_name)

    def _destroy_lab(self, lab_name: str) -> list[Removed]:
        removed: list[Removed] = []
        for node in self.lab_nodes(lab_name):
            removed += self._remove_node(lab_name, node)
        world = f"{lab_name}-world"
        if (NETNS_DIR / world).exists():
            for pid in run(["ip", "netns", "pids", world], check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
                removed.append(Removed("process", pid))
            run(["ip", "netns", "del", world])
            removed.append(Removed("netns", world))
        removed += underlay.remove(lab_name)
        d = self.lab_dir(lab_name)
        if d.exists():
            for sub in sorted(d.rglob("*"), reverse=True):
                sub.rmdir() if sub.is_dir() else sub.unlink()
            d.rmdir()
            removed.append(Removed("dir", str(d)))
        if ROOT.is_dir() and not any(ROOT.iterdir()):
            if _is_mountpoint(ROOT):
                run(["umount", str(ROOT)])
            ROOT.rmdir()
        return removed

    def remove_node(self, lab_name: str, node: str) -> list[Removed]:
        # Only the node's own namespaces, mount and processes: nodes go side by side.
        return self._remove_node(lab_name, node)
