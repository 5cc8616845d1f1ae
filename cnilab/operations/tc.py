"""BPF programs on tc clsact hooks."""

from __future__ import annotations

import io
import shlex
import tarfile

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.api.state import StateStage

from ..bpf import maps
from ..datapath import NODE_OBJECT_DIR, Program, missing_devices, programs
from ..facts.tc import ATTACH_DIR, Datapath


SHARED_MAPS = {maps.TUNNEL_MAP, maps.ENDPOINTS_MAP, maps.IPCACHE_MAP, maps.METRICS_MAP}


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


def _archive(objects: list[Program]) -> bytes:
    """The objects as one tar (<digest>/<program>.o): one upload per node, not one per object."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in objects:
            tar.add(str(p.local_object), arcname=f"{p.digest}/{p.local_object.name}")
    return buf.getvalue()


@operation()
def bpf_programs(lab, node: str):
    """
    Each hook of the node runs its program, built for the node's live ifindexes: the
    objects the node lacks are copied to it (one archive), attached, and the attachment
    recorded. One fact (Datapath) says what is there.
    """
    have = host.get_fact(Datapath)
    links = have["links"]
    missing = missing_devices(lab, node, links)
    if missing:
        if state.current_stage == StateStage.Execute:
            raise OperationError(f"cannot attach the datapath: devices {', '.join(missing)} do not exist")
        yield StringCommand(f": compile and attach the datapath once {', '.join(missing)} exist")
        return
    wanted = programs(lab, node, links)
    filters, records = have["filters"], have["records"]
    # A map whose pin is gone is lost to every program: attach them all again so they
    # share the new one.
    pins_lost = not SHARED_MAPS <= have["pins"]
    stale = [p for p in wanted if pins_lost or not _current(p, filters, records)]
    if not stale:
        host.noop(f"{len(wanted)} BPF programs are attached")
        return
    upload = list({p.node_object: p for p in stale if p.digest not in have["objects"]}.values())
    lines = [f"mkdir -p {ATTACH_DIR} {NODE_OBJECT_DIR}"]
    if upload:
        archive = f"{NODE_OBJECT_DIR}/.upload.tar"
        yield FileUploadCommand(io.BytesIO(_archive(upload)), archive)
        lines += [f"tar -xf {archive} -C {NODE_OBJECT_DIR}", f"rm -f {archive}"]
    # One tc for every attachment, one more to read back the program ids (a node has seven
    # hooks: two processes, not twenty-eight). The record ties each hook to the object
    # attached and the program it became.
    attach, show = [], []
    for p in stale:
        dev, direction = shlex.quote(p.hook.dev), p.hook.direction
        attach += [
            f"qdisc replace dev {dev} clsact",
            # pref 1 handle 1, as Cilium attaches them: the line reads like the seed's.
            f"filter replace dev {dev} {direction} pref 1 handle 1 bpf da obj {shlex.quote(p.node_object)} sec {p.hook.section}",
        ]
        show.append(f"filter show dev {dev} {direction}")
    lines += ["tc -batch - <<'EOF'", *attach, "EOF"]
    lines.append(
        "set -- $(printf '%s\\n' " + " ".join(shlex.quote(x) for x in show)
        + " | tc -j -batch - | sed -n 's/.*\"prog\":{\"id\":\\([0-9]*\\).*/\\1/p')"
    )
    lines.append(f'[ $# -eq {len(stale)} ] || {{ echo "tc shows $# programs of {len(stale)} attached" >&2; exit 1; }}')
    for p in stale:
        record = shlex.quote(f"{ATTACH_DIR}/{p.hook.dev}.{p.hook.direction}")
        lines.append(f'echo "{p.digest} $1" > {record}; shift')
    yield StringCommand("set -e\n" + "\n".join(lines))
