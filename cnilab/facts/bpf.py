"""Pinned BPF maps, from `bpftool -j map dump`."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ..bpf import bpftool
from ._combine import label, parse, split_labelled


class MapEntries(FactBase):
    """
    The raw entries of a pinned map, ``{key_bytes: value_bytes}`` (per-CPU maps: a tuple of
    per-CPU values); ``None`` when the map is not pinned (its programs are not loaded yet).
    """

    def command(self, map_name):
        path = shlex.quote(f"{bpftool.PIN_DIR}/{map_name}")
        return f"if [ -e {path} ]; then bpftool -j map dump pinned {path}; else echo null; fi"

    def process(self, output):
        text = "\n".join(output).strip()
        if text in ("", "null"):
            return None
        return {e.key: e.value if e.values is None else e.values for e in bpftool.parse_dump(text)}


class PinnedMaps(FactBase):
    """Names of the maps pinned where tc pins them: ``{"cilium_lxc", "cilium_tunnel_map", ...}``."""

    @staticmethod
    def default():
        return set()

    def command(self):
        return f"ls {bpftool.PIN_DIR} 2>/dev/null || true"

    def process(self, output):
        return {line.strip() for line in output if line.strip()}


class Maps(FactBase):
    """
    The raw entries of several pinned maps (as MapEntries gives each: None when not pinned),
    and the node's links (the endpoint map holds lxc ifindexes), in one round trip:
    ``{"maps": {"cilium_tunnel_map": {...}, ...}, "links": Links}``.
    """

    @staticmethod
    def default():
        return {"maps": {}, "links": {}}

    def command(self, map_names):
        from .ip import Links

        return "; ".join(
            [f"( {Links().command()} )", *(f"{label('map', shlex.quote(m))}; {MapEntries().command(map_name=m)}" for m in map_names)]
        )

    def process(self, output):
        from .ip import Links

        head, parts = split_labelled(output, "map")
        return {"links": parse(Links(), head), "maps": {name: parse(MapEntries(), lines) for name, lines in parts.items()}}
