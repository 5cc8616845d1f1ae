"""Nodes as Docker containers, the way kind makes them: `<cluster>-control-plane`,
`<cluster>-worker`, ... on a per-lab network, hostname = node name, eth0 = node IP.

The image is built here from Debian's packages (cnilab.image) since no registry can be
reached. The lab's network is `--internal`; Docker still gives its containers a default
route to the host's bridge address, so each node's default route is removed: nodes
have no route out of the lab. Containers and the network carry the label
`cnilab.lab=<cluster>`, which is how teardown finds them, declaration or not.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from .. import image
from ..model.lab import Lab, Node
from ..facts.node import RESPONDER_MARK
from .base import BackendError, NodeBackend, Removed, require_tools, run, world_command

NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "cnilab.lab"
NODE_LABEL = "cnilab.node"
ROLE_LABEL = "cnilab.role"
WORLD_PIDFILE = "/run/cnilab/world.pid"
_LOCK = threading.RLock()


def _docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BackendError(f"docker {args[0]} did not answer in {timeout:.0f} s") from None
    if check and p.returncode != 0:
        raise BackendError(f"docker {' '.join(args[:2])} failed: {p.stderr.strip()}")
    return p


def _is_container_init(pid: int, node: str) -> bool:
    """Still the init of that container (a PID is reused once a container is gone)."""
    try:
        with open(f"/proc/{pid}/root/etc/hostname") as f:
            return f.read().strip() == node
    except OSError:
        return False


class DockerBackend(NodeBackend):
    name = "docker"

    def __init__(self) -> None:
        self._pids: dict[str, int] = {}

    def check(self) -> None:
        require_tools("docker", hint="install Docker, or use the netns backend: --data backend=netns")
        try:
            p = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            p = None
        if p is None or p.returncode != 0 or not p.stdout.strip():
            raise BackendError("no Docker daemon answers: start Docker, or use the netns backend: --data backend=netns")

    def network(self, lab_name: str) -> str:
        return lab_name

    def _state(self, node: str) -> tuple[bool, str | None]:
        p = _docker("inspect", "-f", f'{{{{.State.Running}}}} {{{{index .Config.Labels "{LABEL}"}}}}', node, check=False)
        if p.returncode != 0:
            return False, None
        running, lab = (p.stdout.split() + ["", ""])[:2]
        return running == "true", lab or None

    def node_exists(self, lab_name: str, node: str) -> bool:
        running, lab = self._state(node)
        return running and lab == lab_name

    def _pid(self, node: str) -> int:
        pid = self._pids.get(node)
        if pid and _is_container_init(pid, node):
            return pid
        p = _docker("inspect", "-f", "{{.State.Pid}}", node, check=False)
        pid = int(p.stdout.strip() or 0) if p.returncode == 0 else 0
        self._pids[node] = pid
        return pid

    def exec_argv(self, lab_name: str, node: str, command: str) -> list[str]:
        """Enter the container's namespaces by its init's PID: what `docker exec` does, in a
        quarter of the time (no client, no API round trip). Processes started this way join
        the container's PID namespace, so they end with it."""
        pid = self._pid(node)
        if not pid:
            return ["docker", "exec", "-i", node, "sh", "-c", command]
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", "env", "-i", f"PATH={NODE_PATH}", "sh", "-c", command]

    def _ensure_network(self, lab: Lab) -> None:
        net = self.network(lab.name)
        p = _docker("network", "inspect", "-f", f'{{{{index .Labels "{LABEL}"}}}}', net, check=False)
        if p.returncode == 0:
            if p.stdout.strip() != lab.name:
                raise BackendError(f"a Docker network named {net} exists and is not this lab's: remove it or rename the cluster")
            return
        p = _docker(
            "network", "create", "--internal", "--driver", "bridge",
            "--subnet", str(lab.underlay), "--gateway", str(lab.underlay.network_address + 1),
            "--label", f"{LABEL}={lab.name}", net, check=False,
        )  # fmt: skip
        if p.returncode != 0:
            raise BackendError(f"cannot create the lab network {net} ({lab.underlay}): {p.stderr.strip()}; "
                               "pick another `underlay:` in the declaration")

    def _prepare(self, lab: Lab) -> tuple[str, list[str]]:
        """What every container of the lab starts from: the node image (built when missing),
        the options that make it privileged on this engine, and the lab's network."""
        self.check()
        try:
            tag = image.ensure_node_image(log=print)
            privileged = image.privileged_args(tag)
        except image.NodeImageError as e:
            raise BackendError(str(e)) from None
        self._ensure_network(lab)
        return tag, privileged

    def create_node(self, lab: Lab, node: Node) -> None:
        with _LOCK:
            tag, privileged = self._prepare(lab)
            running, owner = self._state(node.name)
            if owner is not None and owner != lab.name:
                raise BackendError(f"a container named {node.name} exists and is not this lab's")
            if owner is not None:
                _docker("rm", "-f", node.name)  # stopped or half-made: start over
            _docker(
                "run", "-d", "--name", node.name, "--hostname", node.name,
                "--network", self.network(lab.name), "--ip", str(node.ip),
                "--label", f"{LABEL}={lab.name}", "--label", f"{NODE_LABEL}={node.name}",
                "--tmpfs", "/tmp", *privileged, tag,
            )  # fmt: skip
        # No way out of the lab: Docker's default route points at the host. eth0 gets the
        # MAC kind's nodes had (02:42 + IP; newer engines pick random ones).
        run(self.exec_argv(lab.name, node.name, f"ip route del default 2>/dev/null; ip link set eth0 address {node.mac}; mkdir -p /run/cnilab /run/netns"))

    def _containers(self, lab_name: str, *filters: str) -> list[str]:
        args = ["ps", "-a", "--filter", f"label={LABEL}={lab_name}", *sum((["--filter", f] for f in filters), []), "--format", "{{.Names}}"]
        p = _docker(*args, check=False)
        return sorted(p.stdout.split()) if p.returncode == 0 else []

    def lab_nodes(self, lab_name: str) -> list[str]:
        return self._containers(lab_name, f"label={NODE_LABEL}")

    def world_exists(self, lab: Lab) -> bool:
        running, owner = self._state(lab.world.name)
        if not (running and owner == lab.name):
            return False
        p = run(self.exec_argv(lab.name, lab.world.name, f"grep -q {RESPONDER_MARK} /proc/$(cat {WORLD_PIDFILE})/cmdline"), check=False)
        return p.returncode == 0

    def create_world(self, lab: Lab) -> None:
        w = lab.world
        with _LOCK:
            tag, privileged = self._prepare(lab)
            _docker("rm", "-f", w.name, check=False)
            _docker(
                "run", "-d", "--name", w.name, "--hostname", w.name,
                "--network", self.network(lab.name), "--ip", str(w.underlay_ip),
                "--label", f"{LABEL}={lab.name}", "--label", f"{ROLE_LABEL}=world", *privileged, tag,
            )  # fmt: skip
        self._pids.pop(w.name, None)
        responder = Path(__file__).resolve().parents[1] / "responder.py"
        self.write_file(lab.name, w.name, responder.read_bytes(), "/run/cnilab/responder.py")
        run(self.exec_argv(lab.name, w.name, world_command(lab, "/run/cnilab/responder.py", "python3", WORLD_PIDFILE)))

    def remove_node(self, lab_name: str, node: str) -> list[Removed]:
        running, owner = self._state(node)
        if owner != lab_name:
            return []
        _docker("rm", "-f", node)
        return [Removed("container", node)]

    def lab_exists(self, lab_name: str) -> bool:
        if self._containers(lab_name):
            return True
        p = _docker("network", "ls", "-q", "--filter", f"label={LABEL}={lab_name}", check=False)
        return bool(p.stdout.strip())

    def destroy_lab(self, lab_name: str) -> list[Removed]:
        removed: list[Removed] = []
        with _LOCK:
            for name in self._containers(lab_name):
                _docker("rm", "-f", name)
                removed.append(Removed("container", name))
            p = _docker("network", "ls", "--filter", f"label={LABEL}={lab_name}", "--format", "{{.Name}}", check=False)
            for net in p.stdout.split():
                _docker("network", "rm", net)
                removed.append(Removed("network", net))
        return removed
