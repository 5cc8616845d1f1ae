"""Entries of pinned BPF maps, changed with one `bpftool batch`."""

from __future__ import annotations

import functools

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..bpf.bpftool import PIN_DIR
from ..facts.bpf import MapEntries, Maps


def _hex(b: bytes) -> str:
    # " ".join(bpftool_hex(b)), without a string per byte: a 100-node lab writes
    # tens of thousands of entries.
    return f"hex {b.hex(' ')}" if b else "hex"


@functools.lru_cache(maxsize=1 << 16)
def _packed(entry) -> tuple[bytes, bytes]:
    # Most entries are the same on every node of a lab (the load balancer's, most of the
    # ipcache): packed once per run, not once per node.
    return entry.pack_key(), entry.pack_value()


def map_changes(map_name: str, have: dict | None, wanted: list) -> list[str]:
    """`bpftool batch` lines leaving the pinned map with exactly ``wanted`` (``have``: a
    MapEntries fact; None when the map is not pinned yet, which it will be by the time
    the lines run: the programs using it are attached first)."""
    have = have or {}
    path = f"{PIN_DIR}/{map_name}"
    want = dict(_packed(e) for e in wanted)
    lines = [f"map delete pinned {path} key {_hex(k)}" for k in sorted(set(have) - set(want))]
    lines += [
        f"map update pinned {path} key {_hex(k)} value {_hex(v)}" for k, v in sorted(want.items()) if have.get(k) != v
    ]
    return lines


def _batch(lines: list[str]) -> StringCommand:
    body = "\n".join(lines)
    return StringCommand(f"bpftool batch file /dev/stdin <<'EOF'\n{body}\nEOF")


def _linked(wanted: list, links: dict) -> list:
    # Entries that hold a device's ifindex (an endpoint's lxc): known on the node only.
    return [e.entry(links[e.lxc]["ifindex"] if e.lxc in links else 0) for e in wanted]


@operation()
def map_entries(map_name: str, wanted: list):
    """The pinned map ``map_name`` holds exactly ``wanted`` (entries with ``pack_key``/``pack_value``)."""
    lines = map_changes(map_name, host.get_fact(MapEntries, map_name=map_name), wanted)
    if lines:
        yield _batch(lines)
    else:
        host.noop(f"{map_name} holds its {len(wanted)} entries")


@operation()
def node_maps(wanted: dict[str, list], linked_map: str, linked: list):
    """
    Every map of the node holds exactly its entries: ``wanted`` by map name (in order: a
    Service's backends before the Service), and ``linked_map`` the entries of ``linked``,
    each made with the live ifindex of its device (``e.entry(ifindex)`` for ``e.lxc``).
    One fact (Maps) reads them all, one `bpftool batch` changes them.
    """
    names = [*wanted, linked_map]
    have = host.get_fact(Maps, map_names=names)
    everything = {**wanted, linked_map: _linked(linked, have["links"])}
    lines = [line for name in names for line in map_changes(name, have["maps"].get(name), everything[name])]
    if lines:
        yield _batch(lines)
    else:
        host.noop(f"{len(names)} maps hold their {sum(len(v) for v in everything.values())} entries")
