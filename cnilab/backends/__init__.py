"""Node backends: how a lab's nodes exist here (network namespaces, Docker containers)."""

from __future__ import annotations

from ..machines import LOCAL, Machine
from .base import BackendError, NodeBackend

BACKENDS = ("netns", "docker")


def available_backends(machine: Machine = LOCAL) -> list[NodeBackend]:
    """The backends that can work on the machine now (root, tools, a Docker daemon)."""
    found = []
    for name in (BACKENDS if machine.local else ("netns",)):
        backend = get_backend(name, machine)
        try:
            backend.check()
        except BackendError:
            continue
        found.append(backend)
    return found


_INSTANCES: dict[tuple[str, int], NodeBackend] = {}


def get_backend(name: str, machine: Machine = LOCAL) -> NodeBackend:
    """One instance per backend per machine per process: what a backend learns (a
    container's PID, that the daemon answers) is kept, not asked again for every command
    run in a node."""
    key = (name, id(machine))
    if key not in _INSTANCES:
        if name == "netns":
            from .netns import NetnsBackend  # imported on use: Docker's SDK is not needed for netns labs

            _INSTANCES[key] = NetnsBackend(machine)
        elif name == "docker":
            if not machine.local:
                raise BackendError(
                    f"the docker backend runs nodes on this machine only; {machine.name} is remote: "
                    "give the lab `backend: netns` (or --data backend=netns) to spread it over machines"
                )
            from .docker import DockerBackend

            _INSTANCES[key] = DockerBackend()
        else:
            raise BackendError(f"unknown backend {name!r}: use docker or netns")
    return _INSTANCES[key]


__all__ = ["BACKENDS", "BackendError", "NodeBackend", "available_backends", "get_backend"]
