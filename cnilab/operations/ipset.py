"""IP sets a lab owns (Calico's cali40*), in the node's own netns."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts.ipset import IpSets


def set_changes(have: dict, wanted: dict[str, tuple[str, list[str]]], prefix: str) -> list[str]:
    """`ipset restore` lines leaving the sets named ``prefix*`` with exactly ``wanted``
    ({name: (create options, members)}); a set of ours no longer wanted is destroyed."""
    lines = []
    for name, (options, members) in wanted.items():
        cur = have.get(name)
        if cur is not None and cur["type"] != options.split()[0]:
            lines.append(f"destroy {name}")
            cur = None
        if cur is None:
            lines.append(f"create {name} {options}")
            cur = {"members": []}
        lines += [f"del {name} {m}" for m in sorted(set(cur["members"]) - set(members))]
        lines += [f"add {name} {m}" for m in sorted(set(members) - set(cur["members"]))]
    lines += [f"destroy {name}" for name in sorted(have) if name.startswith(prefix) and name not in wanted]
    return lines


@operation()
def sets(wanted: dict[str, tuple[str, list[str]]], prefix: str):
    """The node's IP sets named ``prefix*`` are exactly ``wanted``: one `ipset restore`."""
    lines = set_changes(host.get_fact(IpSets), wanted, prefix)
    if lines:
        body = "\n".join(lines)
        yield StringCommand(f"ipset restore <<'EOF'\n{body}\nEOF")
    else:
        host.noop(f"{len(wanted)} IP sets hold their members")
