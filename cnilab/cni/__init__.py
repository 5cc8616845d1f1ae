"""CNI plugins.

Each CNI a lab can carry is a package under ``cnilab.cni`` that registers a
:class:`~cnilab.cni.base.CniPlugin` as a ``cnilab.cni`` entry point (pyproject.toml).
The core (declaration, cluster model, backends, facts, operations, connector) finds a
plugin here by the declaration's ``cni.plugin`` and imports no plugin package itself.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from .base import CniPlugin

GROUP = "cnilab.cni"


@cache
def _registered() -> dict:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def plugin_names() -> list[str]:
    return sorted(_registered())


@cache
def get_plugin(name: str) -> CniPlugin:
    """The plugin registered as ``name``; KeyError when none is."""
    plugin = _registered()[name].load()
    if not isinstance(plugin, CniPlugin) or plugin.name != name:
        raise TypeError(f"entry point {GROUP}:{name} is not the CniPlugin named {name!r}")
    return plugin
