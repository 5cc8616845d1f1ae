"""BPF programs on tc clsact hooks."""

from __future__ import annotations

import io
import shlex
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.api.state import StateStage

from ..bpf import tcname
from ..facts.tc import ATTACH_DIR, NODE_OBJECT_DIR, BpfFilters, Datapath


@dataclass(frozen=True)
class Hook:
    dev: str
    direction: str  # "ingress" | "egress"
    section: str  # "to-overlay"
    name: str  # what `tc filter show` prints: "bpf_overlay.o:[to-overlay]"


@dataclass(frozen=True)
class Program:
    """A program for one hook: its object's content digest (computed, nothing written) and
    how to make the object on this machine (compile or patch, cached) when it is needed."""

    hook: Hook
    digest: str
    object_name: str  # "bpf_overlay.o": `tc filter show` prints it
    build: Callable[[], Path] = field(compare=False, repr=False)

    @property
    def node_object(self) -> str:
        return f"{NODE_OBJECT_DIR}/{self.digest}/{self.object_name}"

    @property
    def named_by_tc(self) -> bool:
        """Whether tc's own name for it (object and section) is the one wanted."""
        return self.hook.name == f"{self.object_name}:[{self.hook.section}]"


def _rename_lines(renamed: list[Program]) -> list[str]:
    """Shell lines giving each filter of ``renamed`` its hook's name: one `tc -batch`
    printing their programs, read by one python3 (bpf/tcname.py) that names them."""
    if not renamed:
        return []
    shows = "".join(f"filter show dev {p.hook.dev} {p.hook.direction}\\n" for p in renamed)
    args = " ".join(shlex.quote(a) for p in renamed for a in (p.hook.dev, p.hook.direction, p.hook.name))
    return [f"printf '{shows}' | tc -j -batch - | python3 -c {shlex.quote(_TCNAME_SOURCE)} {args}"]


_TCNAME_SOURCE = Path(tcname.__file__).read_text()


def _current(p: Program, filters: dict, records: dict) -> bool:
    """Ours and up to date: one filter, named as wanted, whose program we attached from this object."""
    hook = p.hook
    cur = filters.get((hook.dev, hook.direction), [])
    rec = records.get((hook.dev, hook.direction))
    return (
        len(cur) == 1
        and cur[0]["name"] == hook.name
        and cur[0]["direct_action"]
        and rec is not None
        and rec["hash"] == p.digest
        and rec["id"] == cur[0]["id"]
    )


class _Archive(io.RawIOBase):
    """The objects as one tar (<digest>/<object>), made when first read: at execute time,
    never while pyinfra prepares (so `--dry` builds and writes nothing)."""

    def __init__(self, objects: list[Program]):
        self.objects = objects
        self.data: io.BytesIO | None = None

    def readable(self) -> bool:
        return True

    def _data(self) -> io.BytesIO:
        if self.data is None:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                for p in self.objects:
                    obj = p.build()
                    tar.add(str(obj), arcname=f"{p.digest}/{p.object_name}")
                    # The headers it was built from go with it: what a node runs can be read
                    # on the node (cilium status' "compiled with"), not in this machine's cache.
                    for header in sorted(obj.parent.glob("*.h")):
                        tar.add(str(header), arcname=f"{p.digest}/{header.name}")
            buf.seek(0)
            self.data = buf
        return self.data

    def read(self, size: int = -1) -> bytes:
        return self._data().read(size)

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._data().seek(offset, whence)

    def tell(self) -> int:
        return self._data().tell()

    def readinto(self, b) -> int:
        chunk = self._data().read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


def _record(state, host, stale: list[Program]) -> bool:
    """Tie each hook to the object attached there and the program it became, read back
    with the BpfFilters fact's own command and parser."""
    fact = BpfFilters()
    ok, out = host.run_shell_command(StringCommand(fact.command()))
    if not ok:
        raise OperationError("cannot read back the attached BPF filters")
    filters = fact.process(out.stdout_lines)
    lines = [f"mkdir -p {ATTACH_DIR}"]
    for p in stale:
        got = filters.get((p.hook.dev, p.hook.direction), [])
        if len(got) != 1 or got[0]["name"] != p.hook.name:
            raise OperationError(f"{p.hook.dev} {p.hook.direction}: tc shows {[f['name'] for f in got]}, not {p.hook.name}")
        record = shlex.quote(f"{ATTACH_DIR}/{p.hook.dev}.{p.hook.direction}")
        lines.append(f"echo {p.digest} {got[0]['id']} > {record}")
    ok, _ = host.run_shell_command(StringCommand("\n".join(lines)))
    return ok


@operation()
def programs(wanted: Callable[[dict], list[Program]], devices: list[str], shared_maps: set[str]):
    """
    Each hook of the node runs its program. ``wanted(links)`` gives the programs for the
    node's live links (their ifindexes are in the objects' config); ``devices`` are the
    links they need; a program attached before a map of ``shared_maps`` lost its pin is
    attached again, so all share the new map. The objects the node lacks are built here
    and copied to it (one archive), attached, and each attachment recorded. One fact
    (Datapath) says what is there.
    """
    have = host.get_fact(Datapath)
    links = have["links"]
    missing = sorted(set(devices) - set(links))
    if missing:
        if state.current_stage == StateStage.Execute:
            raise OperationError(f"cannot attach the datapath: devices {', '.join(missing)} do not exist")
        # Preparing, before the operations that make them ran: the programs will be attached
        # (pyinfra runs this again when it executes, with the devices there).
        yield StringCommand(f"true attach the BPF programs once {' '.join(missing)} exist")
        return
    want = wanted(links)
    filters, records = have["filters"], have["records"]
    pins_lost = not set(shared_maps) <= have["pins"]
    stale = [p for p in want if pins_lost or not _current(p, filters, records)]
    if not stale:
        host.noop(f"{len(want)} BPF programs are attached")
        return
    upload = list({p.node_object: p for p in stale if p.digest not in have["objects"]}.values())
    lines = [f"mkdir -p {NODE_OBJECT_DIR}"]
    if upload:
        archive = f"{NODE_OBJECT_DIR}/.upload.tar"
        yield FileUploadCommand(_Archive(upload), archive)
        lines += [f"tar -xf {archive} -C {NODE_OBJECT_DIR}", f"rm -f {archive}"]
    # One tc for every attachment (a node has seven hooks: one process, not fourteen).
    attach = []
    for p in stale:
        dev, direction = shlex.quote(p.hook.dev), p.hook.direction
        attach += [
            f"qdisc replace dev {dev} clsact",
            # pref 1 handle 1, as Cilium attaches them: the line reads like the seed's.
            f"filter replace dev {dev} {direction} pref 1 handle 1 bpf da obj {shlex.quote(p.node_object)} sec {p.hook.section}",
        ]
    lines += ["tc -batch - <<'EOF'", *attach, "EOF"]
    lines += _rename_lines([p for p in stale if not p.named_by_tc])
    yield StringCommand("set -e\n" + "\n".join(lines))
    yield FunctionCommand(_record, (stale,), {})
