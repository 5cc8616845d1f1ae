"""Entries of pinned BPF maps, changed with one `bpftool batch`."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..bpf import maps
from ..facts.bpf import MapEntries
from ..facts.ip import Links
from ..model.lab import LocalEndpoint


def _hex(b: bytes) -> str:
    return " ".join(maps.bpftool_hex(b))


@operation()
def map_entries(map_name: str, wanted: list):
    """The pinned map ``map_name`` holds exactly ``wanted`` (entries of cnilab.bpf.maps)."""
    have = host.get_fact(MapEntries, map_name=map_name)
    path = f"{maps.PIN_DIR}/{map_name}"
    if have is None:
        # The map appears when the first program using it is loaded (an earlier operation).
        have = {}
    want = {e.pack_key(): e.pack_value() for e in wanted}
    lines = [f"map delete pinned {path} key {_hex(k)}" for k in sorted(set(have) - set(want))]
    lines += [
        f"map update pinned {path} key {_hex(k)} value {_hex(v)}" for k, v in sorted(want.items()) if have.get(k) != v
    ]
    if lines:
        body = "\n".join(lines)
        yield StringCommand(f"bpftool batch file /dev/stdin <<'EOF'\n{body}\nEOF")
    else:
        host.noop(f"{map_name} holds its {len(want)} entries")


@operation()
def endpoint_entries(wanted: list[LocalEndpoint]):
    """cilium_lxc holds the node's endpoints, with the live ifindex of each pod's lxc device."""
    links = host.get_fact(Links)
    entries = [e.entry(links[e.lxc]["ifindex"] if e.lxc in links else 0) for e in wanted]
    yield from map_entries._inner(maps.ENDPOINTS_MAP, entries)
