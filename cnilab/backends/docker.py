"""Nodes as Docker containers, the way kind makes them: `<cluster>-control-plane`,
`<cluster>-worker`, ... hostname = node name, eth0 = node IP.

The image is built here from Debian's packages (cnilab.image) since no registry can be
reached. Containers start with `--network none`: eth0 is a veth into the lab's own
underlay bridge (cnilab.backends.underlay), not a Docker network, so the nodes have no
route out of the lab and no host iptables rule sits between them. Containers carry the
label `cnilab.lab=<cluster>`, which is how teardown finds them, declaration or not.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from .. import image
from ..model.lab import Lab, Node
from ..layout import NODE_MADE, RESPONDER_MARK
from . import underlay
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


_CLIENT = None


def _api():
    """The daemon's API through the Docker SDK (`docker` package): a query is an HTTP call
    on the daemon's socket, not a `docker` process (~25 ms each). Containers are still
    started with the CLI, whose privileged options (image.privileged_args) are its own."""
    global _CLIENT
    if _CLIENT is None:
        import docker

        try:
            _CLIENT = docker.from_env(version="auto", timeout=60).api
        except docker.errors.DockerException as e:
            raise BackendError(f"no Docker daemon answers ({e}): start Docker, or use the netns backend: --data backend=netns") from None
    return _CLIENT


def _inspect(name: str) -> dict | None:
    import docker

    try:
        return _api().inspect_container(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.DockerException as e:
        raise BackendError(f"docker inspect {name} failed: {e}") from None


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
        self._answered = False

    def check(self) -> None:
        if self._answered:  # a daemon that answered once in this process is taken as up
            return
        require_tools("docker", hint="install Docker, or use the netns backend: --data backend=netns")
        try:
            ok = _api().ping()
        except Exception:  # the SDK's errors, or the socket's
            ok = False
        if not ok:
            raise BackendError("no Docker daemon answers: start Docker, or use the netns backend: --data backend=netns")
        self._answered = True

    def _state(self, node: str) -> tuple[bool, str | None]:
        info = _inspect(node)
        if info is None:
            return False, None
        return bool(info["State"]["Running"]), (info["Config"].get("Labels") or {}).get(LABEL) or None

    def node_exists(self, lab_name: str, node: str) -> bool:
        # Asked before every command run in a node: a PID already seen that is still the
        # init of that container answers without a round trip to the daemon.
        pid = self._pids.get(node)
        if pid and _is_container_init(pid, node):
            return True
        running, lab = self._state(node)
        if running and lab == lab_name:
            self._pid(node)
            return True
        return False

    def _pid(self, node: str) -> int:
        pid = self._pids.get(node)
        if pid and _is_container_init(pid, node):
            return pid
        info = _inspect(node)
        pid = int(info["State"]["Pid"] or 0) if info else 0
        self._pids[node] = pid
        return pid

    def exec_argv(self, lab_name: str, node: str, command: str) -> list[str]:
        """Enter the container's namespaces by its init's PID: what `docker exec` does, in a
        quarter of the time (no client, no API round trip). Processes started this way join
        the container's PID namespace, so they end with it."""
        pid = self._pid(node)
        if not pid:
            return ["docker", "exec", "-i", node, "sh", "-c", command]
        # The container's PATH set by the shell itself: an `env` in between costs an exec
        # (2 ms) on every command, and verify runs hundreds.
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "--", "sh", "-c", f"PATH={NODE_PATH}; export PATH; {command}"]

    def _prepare(self, lab: Lab, join: underlay.Join | None = None) -> tuple[str, list[str]]:
        """What every container of the lab starts from: the node image (built when missing),
        the options that make it privileged on this engine, and the lab's underlay."""
        self.check()
        try:
            tag = image.ensure_node_image(log=print)
            privileged = image.privileged_args(tag)
        except image.NodeImageError as e:
            raise BackendError(str(e)) from None
        underlay.ensure(lab.name, join=join)
        return tag, privileged

    def _run_container(self, lab: Lab, name: str, labels: list[str], join: underlay.Join | None = None) -> None:
        """Start a container of the lab with no network of Docker's, then plug its eth0 into
        the lab's underlay. Called with _LOCK held."""
        tag, privileged = self._prepare(lab, join)
        _docker(
            "run", "-d", "--name", name, "--hostname", name, "--network", "none",
            "--label", f"{LABEL}={lab.name}", *sum((["--label", x] for x in labels), []),
            "--tmpfs", "/tmp", *privileged, tag,
        )  # fmt: skip
        self._pids.pop(name, None)
        pid = str(self._pid(name))
        ip = f"nsenter -t {pid} -n ip"
        lines = underlay.world_lines(lab, pid, ip) if name == lab.world.name else underlay.node_lines(lab, lab.node(name), pid, ip)
        underlay.run_lines(lines)

    def create_node(self, lab: Lab, node: Node, join: underlay.Join | None = None) -> None:
        with _LOCK:
            running, owner = self._state(node.name)
            if owner is not None and owner != lab.name:
                raise BackendError(f"a container named {node.name} exists and is not this lab's")
            if owner is not None:
                _docker("rm", "-f", node.name)  # stopped or half-made: start over
            # eth0 gets the MAC kind's nodes had (02:42 + IP).
            self._run_container(lab, node.name, [f"{NODE_LABEL}={node.name}"], join)
        run(self.exec_argv(lab.name, node.name, f"mkdir -p /run/cnilab /run/netns && touch {NODE_MADE}"))

    def _containers(self, lab_name: str, *labels: str) -> list[str]:
        """The lab's containers (running or not) carrying every one of `labels` too."""
        import docker

        try:
            found = _api().containers(all=True, filters={"label": [f"{LABEL}={lab_name}", *labels]})
        except docker.errors.DockerException:
            return []
        return sorted(name.lstrip("/") for c in found for name in c["Names"][:1])

    def lab_nodes(self, lab_name: str) -> list[str]:
        return self._containers(lab_name, NODE_LABEL)

    def world_exists(self, lab: Lab) -> bool:
        running, owner = self._state(lab.world.name)
        if not (running and owner == lab.name):
            return False
        p = run(self.exec_argv(lab.name, lab.world.name, f"grep -q {RESPONDER_MARK} /proc/$(cat {WORLD_PIDFILE})/cmdline"), check=False)
        return p.returncode == 0

    def create_world(self, lab: Lab, join: underlay.Join | None = None) -> None:
        w = lab.world
        with _LOCK:
            _docker("rm", "-f", w.name, check=False)
            self._run_container(lab, w.name, [f"{ROLE_LABEL}=world"], join)
        responder = Path(__file__).resolve().parents[1] / "responder.py"
        self.write_file(lab.name, w.name, responder.read_bytes(), "/run/cnilab/responder.py")
        run(self.exec_argv(lab.name, w.name, world_command(lab, "/run/cnilab/responder.py", "python3", WORLD_PIDFILE)))

    def remove_node(self, lab_name: str, node: str) -> list[Removed]:
        running, owner = self._state(node)
        if owner != lab_name:
            return []
        _docker("rm", "-f", node)
        self._pids.pop(node, None)
        return [Removed("container", node)]

    def lab_exists(self, lab_name: str) -> bool:
        # The underlay is shared with the netns backend and says nothing of who made it;
        # a lab with only its underlay left is cleared by node.lab_absent.
        return bool(self._containers(lab_name) or self._legacy_networks(lab_name))

    def _legacy_networks(self, lab_name: str) -> list[str]:
        """Docker networks of the lab, as labs made before the own underlay had them."""
        p = _docker("network", "ls", "--filter", f"label={LABEL}={lab_name}", "--format", "{{.Name}}", check=False)
        return p.stdout.split()

    def destroy_lab(self, lab_name: str) -> list[Removed]:
        removed: list[Removed] = []
        with _LOCK:
            for name in self._containers(lab_name):
                _docker("rm", "-f", name)
                self._pids.pop(name, None)
                removed.append(Removed("container", name))
            for net in self._legacy_networks(lab_name):
                _docker("network", "rm", net)
                removed.append(Removed("network", net))
            removed += underlay.remove(lab_name)
        return removed
