"""bpftool's view of pinned maps: raw entries of `bpftool -j map dump`, and the hex form
its `map update` takes. CNI-neutral: a plugin's codecs give the entries meaning."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# Where tc pins the maps of the objects it loads (iproute2's default bpffs path).
PIN_DIR = "/sys/fs/bpf/tc/globals"


def bpftool_hex(data: bytes) -> list[str]:
    """``b"\\x0a\\x00"`` -> ``["hex", "0a", "00"]``.

    Always ``hex``: without it bpftool reads ``010`` as octal.
    """
    return ["hex", *(f"{b:02x}" for b in data)]



@dataclasses.dataclass(frozen=True)
class RawEntry:
    """One entry of a bpftool dump: value for plain maps, values (per CPU) for per-CPU ones."""

    key: bytes
    value: bytes | None = None
    values: tuple[bytes, ...] | None = None


def _hex_list(items: list[str]) -> bytes:
    return bytes(int(x, 16) for x in items)


def parse_dump(output: str | list[dict[str, Any]]) -> list[RawEntry]:
    """Parse ``bpftool -j map dump pinned PATH`` (text or already-loaded JSON)."""
    data = json.loads(output) if isinstance(output, str) else output
    if not isinstance(data, list):
        raise ValueError(f"bpftool map dump: expected a JSON array, got {type(data).__name__}")
    entries = []
    for item in data:
        if "key" not in item:
            raise ValueError(f"bpftool map dump: entry without a raw 'key' array: {item!r}")
        key = _hex_list(item["key"])
        if "values" in item:
            values = tuple(_hex_list(v["value"]) for v in sorted(item["values"], key=lambda v: v["cpu"]))
            entries.append(RawEntry(key=key, values=values))
        else:
            entries.append(RawEntry(key=key, value=_hex_list(item["value"])))
    return entries
