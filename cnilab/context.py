"""The lab a pyinfra host belongs to, loaded once per process."""

from __future__ import annotations

from functools import lru_cache

from .model import Lab, load_lab
from .model.lab import Node


@lru_cache(maxsize=None)
def _lab(path: str) -> Lab:
    return load_lab(path)


def lab_of(host) -> Lab:
    return _lab(host.data.cnilab_declaration)


def node_of(host) -> Node:
    return lab_of(host).node(host.data.cnilab_node)
