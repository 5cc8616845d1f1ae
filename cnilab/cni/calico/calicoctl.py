"""What `calicoctl node status` and `calicoctl get workloadendpoints` (v3.16.3) print.

The lab runs BIRD 2, whose `show protocols` header is capitalised, so a real calicoctl would
refuse it ("unknown BIRD table output format", reference/calico.md §3.2); these functions parse
BIRD 2 (and BIRD 1.x / raw-socket replies) themselves and print what calicoctl would print.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cnilab.cni.calico.names import peer_kind

_HEADINGS = ["name", "proto", "table", "state", "since", "info"]
# Reply-code prefixes of BIRD's control socket ("1002-...", "2002-...", "0001 ...").
_REPLY_CODE = re.compile(r"^\d{4}(?:[- ]|$)")


@dataclass(frozen=True)
class ProtocolRow:
    """One row of `show protocols`; info keeps calicoctl's view (fields joined by one space)."""

    name: str
    proto: str
    table: str
    state: str
    since: str
    info: str


def parse_bird_protocols(text: str) -> tuple[ProtocolRow, ...]:
    """Rows of `birdc show protocols` (BIRD 2 or 1.x; plain birdc text or raw socket replies)."""
    rows: list[ProtocolRow] = []
    seen_header = False
    for raw in text.splitlines():
        line = raw
        if _REPLY_CODE.match(line):
            code, line = line[:4], line[5:]
            if code in ("0000", "0001"):  # end of reply / banner
                continue
        elif line.startswith(" "):
            line = line[1:]  # continuation line of a socket reply
        fields = line.split()
        if not fields or (fields[0] == "BIRD" and fields[-1] == "ready."):
            continue  # blank line or birdc's banner
        if not seen_header:
            # Case-insensitive: BIRD 1.x prints "name proto ...", BIRD 2 "Name Proto ...".
            if [f.lower() for f in fields] != _HEADINGS:
                raise ValueError(f"unknown BIRD table output format: {raw!r}")
            seen_header = True
            continue
        if len(fields) < 5:
            raise ValueError(f"BIRD protocol row has fewer than 5 columns: {raw!r}")
        rows.append(ProtocolRow(*fields[:5], info=" ".join(fields[5:])))
    if not seen_header:
        raise ValueError("no `show protocols` header found")
    return tuple(rows)


# ---------------------------------------------------------------- tablewriter-style table

_MAX_CELL_WIDTH = 30  # tablewriter's MAX_ROW_WIDTH: longer cells are word-wrapped.
# tablewriter right-aligns cells that look like numbers (decimal or percentage).
_NUMBER = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$")
_PERCENT = re.compile(r"^-?\d+\.?\d*%$")


def _wrap(text: str, limit: int) -> list[str]:
    """Split words into lines of at most ``limit`` columns with minimal raggedness.

    Cost of a line = (limit - length)^2, except the last line which is free; a single word
    longer than the limit raises the limit (so it never breaks inside a word).
    """
    words = text.replace("\n", " ").split(" ")
    limit = max([limit] + [len(w) for w in words])
    n = len(words)
    best = [0] * (n + 1)  # best[i]: cost of laying out words[i:]
    cut = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        length = len(" ".join(words[i:]))
        if length <= limit:
            best[i], cut[i] = 0, n
            continue
        best[i] = None
        width = -1
        for j in range(i + 1, n):
            width += len(words[j - 1]) + 1
            cost = (limit - width) ** 2 + best[j] + (100000 if width > limit else 0)
            if best[i] is None or cost < best[i]:
                best[i], cut[i] = cost, j
    lines, i = [], 0
    while i < n:
        lines.append(" ".join(words[i : cut[i]]))
        i = cut[i]
    return lines


def _cell_lines(text: str) -> list[str]:
    widest = max(len(line) for line in text.split("\n"))
    return _wrap(text, min(widest, _MAX_CELL_WIDTH))


def _title(header: str) -> str:
    # tablewriter's Title(): '_' becomes a space, then upper case (no '.' in our headers).
    return header.replace("_", " ").strip().upper()


def _centre(text: str, width: int) -> str:
    gap = width - len(text)
    left = gap // 2  # the odd space goes to the right, as tablewriter does
    return " " * left + text + " " * (gap - left)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An olekukonko/tablewriter (2019) default table: borders, centred upper-case headers."""
    head = [_cell_lines(h) for h in headers]
    body = [[_cell_lines(c) for c in row] for row in rows]
    widths = [max(len(line) for cell in [head[i]] + [r[i] for r in body] for line in cell) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [rule]
    for x in range(max(len(c) for c in head)):
        out.append("|" + "|".join(f" {_centre(_title(c[x]) if x < len(c) else '', w)} " for c, w in zip(head, widths)) + "|")
    out.append(rule)
    for row in body:
        height = max(len(c) for c in row)
        # tablewriter fills the missing lines of shorter cells with two spaces, not an empty string.
        cells = [c + ["  "] * (height - len(c)) for c in row]
        for x in range(height):
            parts = []
            for cell, w in zip(cells, widths):
                s = cell[x]
                parts.append(f" {s.rjust(w) if _NUMBER.match(s.strip()) or _PERCENT.match(s.strip()) else s.ljust(w)} ")
            out.append("|" + "|".join(parts) + "|")
    out.append(rule)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- calicoctl node status


def _peer_rows(rows: Sequence[ProtocolRow], ip_sep: str) -> list[list[str]]:
    peers = []
    for row in rows:
        kind = peer_kind(row.name)
        # calicoctl keeps BGP rows whose name is <Global|Node|Mesh>_<addr> and that have an info column.
        if row.proto != "BGP" or kind is None or not row.info:
            continue
        address = row.name.split("_", 1)[1].replace("_", ip_sep)
        peers.append([address, kind, row.state, row.since, row.info])
    return peers


def _bird_section(version: str, rows: Sequence[ProtocolRow]) -> str:
    peers = _peer_rows(rows, "." if version == "4" else ":")
    text = f"\nIPv{version} BGP status\n"
    if not peers:
        return text + f"No IPv{version} peers found.\n"
    return text + render_table(["Peer address", "Peer type", "State", "Since", "Info"], peers)


def node_status(
    rows: Sequence[ProtocolRow],
    process_running: bool = True,
    bird_running: bool = True,
    bird6_running: bool = True,
    rows6: Sequence[ProtocolRow] = (),
) -> str:
    """Stdout of `calicoctl node status`.

    v3.16 calico-node runs bird6 whenever it runs bird (rc.local enables both), hence the
    default ``bird6_running=True`` and "No IPv6 peers found."; with ``calico_backend: vxlan``
    neither runs. If Felix is not running calicoctl prints the returned message to stderr and
    exits 1.
    """
    if not process_running:
        return "Calico process is not running.\n"
    out = "Calico process is running.\n"
    if bird_running or bird6_running:
        out += _bird_section("4", rows) if bird_running else "\nINFO: BIRDv4 process: 'bird' is not running.\n"
        out += _bird_section("6", rows6) if bird6_running else "\nINFO: BIRDv6 process: 'bird6' is not running.\n"
    else:
        out += "\nNone of the BGP backend processes (BIRD or GoBGP) are running.\n"
    return out + "\n"


# ---------------------------------------------------------------- calicoctl get workloadendpoints


@dataclass(frozen=True)
class WorkloadEndpointRow:
    """The default columns of `calicoctl get workloadendpoints`."""

    workload: str
    node: str
    networks: tuple[str, ...]
    interface: str


def _tabwriter(lines: Sequence[Sequence[str]], minwidth: int = 5, padding: int = 3) -> str:
    # Go text/tabwriter with every cell tab-terminated: each column is as wide as its widest
    # cell plus padding (at least minwidth), and the padding after the last column is kept.
    widths = [max(minwidth, max(len(line[i]) for line in lines) + padding) for i in range(len(lines[0]))]
    return "".join("".join(cell.ljust(w) for cell, w in zip(line, widths)) + "\n" for line in lines)


def workload_endpoints(rows: Sequence[WorkloadEndpointRow]) -> str:
    """Stdout of `calicoctl get workloadendpoints` for rows in datastore order, then the gap line."""
    lines = [["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"]]
    lines += [[r.workload, r.node, ",".join(r.networks), r.interface] for r in rows]
    return _tabwriter(lines) + "\n"
