"""Labs found on this machine by name alone: what `cnilab labs` lists and what `cnilab down
<cluster>` removes when the declaration is gone (deleted, renamed, or never on this
machine). Everything a lab makes carries its cluster name (namespace names, the state
directory, the `cnilab.lab` container label), so no declaration is needed to find it."""

from __future__ import annotations

import subprocess

from .backends import underlay
from .backends import available_backends
from .backends.base import Removed


def _docker_labs() -> set[str]:
    try:
        p = subprocess.run(
            ["docker", "ps", "-a", "--filter", "label=cnilab.lab", "--format", '{{.Label "cnilab.lab"}}'],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return set(p.stdout.split()) if p.returncode == 0 else set()


def labs_here() -> dict[str, list[str]]:
    """Cluster name -> where its things are: "netns", "docker", "underlay" (a bare underlay)."""
    found: dict[str, list[str]] = {}
    backends = {b.name: b for b in available_backends()}
    if "netns" in backends:
        for name in backends["netns"].labs():
            found.setdefault(name, []).append("netns")
    for name in _docker_labs():
        found.setdefault(name, []).append("docker")
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for ns in p.stdout.split():
        if ns.endswith("-underlay"):
            name = ns.removesuffix("-underlay")
            found.setdefault(name, [])
            if not found[name]:
                found[name].append("underlay")
    return dict(sorted(found.items()))


def destroy(cluster: str) -> list[Removed]:
    """Remove everything of the lab `cluster` from every backend; nothing if it is absent."""
    removed: list[Removed] = []
    for backend in available_backends():
        if backend.lab_exists(cluster):
            removed += backend.destroy_lab(cluster)
    removed += underlay.remove(cluster)
    return removed
