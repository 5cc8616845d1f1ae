"""Several facts read in one round trip: their commands run one after another in the same
shell, their outputs separated by a marker line, each part parsed by its own fact.

pyinfra 3 caches no fact: each one is a command run in the node. A node of a hundred-node
lab is asked for everything an operation needs at once, not fact by fact.
"""

from __future__ import annotations

SEP = "@@cnilab@@"


def joined(commands: list[str]) -> str:
    """One shell command running ``commands`` in turn, a marker line before each but the first."""
    # Subshells: a part that changes directory or sets variables leaves the next alone.
    return f"; echo {SEP}; ".join(f"( {c} )" for c in commands)


def split(output: list[str]) -> list[list[str]]:
    """The output of ``joined``, part by part."""
    parts: list[list[str]] = [[]]
    for line in output:
        if line == SEP:
            parts.append([])
        else:
            parts[-1].append(line)
    return parts


def parse(fact, lines: list[str]):
    """A part's value as pyinfra would give it: the fact's default when it printed nothing."""
    return fact.process(lines) if any(line.strip() for line in lines) else fact.default()


def label(kind: str, name: str) -> str:
    """A command printing the marker line that opens the part of ``kind`` named ``name``
    (a shell word: ``net``, or ``$n`` in a loop)."""
    return f'echo "{SEP} {kind} {name}"'


def split_labelled(output: list[str], kind: str) -> tuple[list[str], dict[str, list[str]]]:
    """The lines before the first ``label(kind, ...)``, and each labelled part by name."""
    head: list[str] = []
    parts: dict[str, list[str]] = {}
    current = head
    opener = f"{SEP} {kind} "
    for line in output:
        if line.startswith(opener):
            current = parts.setdefault(line[len(opener) :].strip(), [])
        else:
            current.append(line)
    return head, parts
