"""Which backend runs a lab on this machine, found by the lab's name."""

from __future__ import annotations

from .backends import NodeBackend, available_backends
from .model.lab import Lab


class LabNotRunning(RuntimeError):
    pass


def find_backend(lab: Lab) -> NodeBackend:
    """The backend that runs this lab now; LabNotRunning says how to bring it up."""
    for backend in available_backends():
        if backend.lab_nodes(lab.name):
            return backend
    raise LabNotRunning(
        f"lab {lab.decl_name} ({lab.name}) is not running: bring it up with "
        f"`pyinfra -y inventories/{lab.decl_name}.py deploys/up.py`"
    )
