"""Node backends: how a lab's nodes exist here (network namespaces, Docker containers)."""

from __future__ import annotations

from .base import BackendError, NodeBackend

BACKENDS = ("netns", "docker")


def available_backends() -> list[NodeBackend]:
    """The backends that can work on this machine now (root, tools, a Docker daemon)."""
    found = []
    for name in BACKENDS:
        backend = get_backend(name)
        try:
            backend.check()
        except BackendError:
            continue
        found.append(backend)
    return found


_INSTANCES: dict[str, NodeBackend] = {}


def get_backend(name: str) -> NodeBackend:
    """One instance per backend per process: what a backend learns (a container's PID, that
    the daemon answers) is kept, not asked again for every command run in a node."""
    if name not in _INSTANCES:
        if name == "netns":
            from .netns import NetnsBackend  # imported on use: Docker's SDK is not needed for netns labs

            _INSTANCES[name] = NetnsBackend()
        elif name == "docker":
            from .docker import DockerBackend

            _INSTANCES[name] = DockerBackend()
        else:
            raise BackendError(f"unknown backend {name!r}: use docker or netns")
    return _INSTANCES[name]


__all__ = ["BACKENDS", "BackendError", "NodeBackend", "available_backends", "get_backend"]
