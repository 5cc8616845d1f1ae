"""Cilium's BPF sources (``bpf/``, one file per attach point, as Cilium's own) and the
headers each program is compiled with."""

from __future__ import annotations

from pathlib import Path

from ...bpf.compile import SourceTree

SOURCES = SourceTree(
    Path(__file__).resolve().parent / "bpf",
    {
        "bpf_lxc": ("node_config.h", "ep_config.h"),
        "bpf_overlay": ("node_config.h",),
        "bpf_host": ("node_config.h",),
    },
)
PROGRAMS = SOURCES.programs
compile_object = SOURCES.compile_object
build_object = SOURCES.build_object
