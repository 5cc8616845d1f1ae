"""`cnilab monitor`: the lab's `cilium monitor`, read from each node's `cilium_events`.

A node's programs write trace, drop and debug notifications into the perf event array
`cilium_events` (bpf/lib/events.h). `bpftool -j map event_pipe` reads its rings in the node
and prints each sample as JSON; this module parses that stream and prints the samples as
`cilium monitor` does (monitor_format.py), or as its `-j` JSON.
"""

from __future__ import annotations

import json
import selectors
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ...bpf.bpftool import PIN_DIR
from . import monitor_format as fmt

EVENTS_MAP = "cilium_events"
EVENTS_PIN = f"{PIN_DIR}/{EVENTS_MAP}"
# What `--type` takes, as `cilium monitor --type`: the notification types they select.
TYPES = {"drop": {1}, "debug": {2}, "capture": {3}, "trace": {4}}


def node_command() -> str:
    """What runs in the node: its links (ifindex -> name) and the events map (its CPUs) on one
    line each, then the event stream."""
    return (
        f"ip -j link show; echo; bpftool -j map show pinned {EVENTS_PIN} || exit 3; echo; "
        # bpftool's JSON goes through stdio with no newline between samples: unbuffered,
        # each sample leaves as it comes.
        f"exec stdbuf -o0 bpftool -j map event_pipe pinned {EVENTS_PIN}"
    )


class StreamDecoder:
    """bpftool's event_pipe output is one JSON array that grows as samples come: feed it
    text, take the complete objects. bpftool closes a sample's object only when it writes
    the next one (or stops), so an object that lacks nothing but its closing brace is taken
    at once and the brace skipped when it comes."""

    def __init__(self) -> None:
        self.buf = ""
        self.decoder = json.JSONDecoder()
        self.owed_brace = False

    def feed(self, text: str) -> Iterator[dict]:
        self.buf += text
        if self.owed_brace:
            rest = self.buf.lstrip()
            if not rest:
                return
            self.owed_brace = False
            if rest[0] == "}":
                self.buf = rest[1:]
        yield from self._objects()
        rest = self.buf.strip()
        if rest.startswith("{"):
            try:
                obj, end = self.decoder.raw_decode(rest + "}")
            except json.JSONDecodeError:
                return
            # Whole only with its last member (a sample's data, a lost record's count).
            if end == len(rest) + 1 and ("data" in obj or "lost" in obj):
                self.buf, self.owed_brace = "", True
                yield obj

    def _objects(self) -> Iterator[dict]:
        pos, n = 0, len(self.buf)
        while True:
            while pos < n and self.buf[pos] in "[], \n\t\r":
                pos += 1
            if pos >= n:
                break
            try:
                obj, end = self.decoder.raw_decode(self.buf, pos)
            except json.JSONDecodeError:
                break  # the object is not whole yet
            pos = end
            yield obj
        self.buf = self.buf[pos:]


def events(text: str) -> list[fmt.Sample | fmt.Lost]:
    """The samples of a captured event_pipe output, in the order the kernel wrote them (bpftool
    reads the CPUs' rings in turn; their timestamps put the events of a packet that crossed
    CPUs back in order)."""
    out = [e for e in map(fmt.parse_bpftool_event, StreamDecoder().feed(text)) if e is not None]
    return sorted(out, key=lambda e: (getattr(e, "timestamp", None) or 0))


def ifnames(ip_link_json: str) -> dict[int, str]:
    return {int(link["ifindex"]): link["ifname"] for link in json.loads(ip_link_json or "[]")}


@dataclass
class Options:
    verbosity: int = 0  # 0, 1 (-v), 2 (-vv)
    types: set[int] = field(default_factory=set)  # empty: every type
    json: bool = False
    numeric: bool = False

    def render(self, event: fmt.Sample | fmt.Lost, names: dict[int, str]) -> str:
        if isinstance(event, fmt.Lost):
            return fmt.format_lost(event)
        if self.types and event.data[:1] and event.data[0] not in self.types:
            return ""
        if self.json:
            return fmt.format_json(event, names, self.numeric)
        return fmt.format_sample(event, self.verbosity, names, self.numeric)

    def lines(self, event: fmt.Sample | fmt.Lost, names: dict[int, str], prefix: str = "") -> str:
        """What to print for ``event``, each line after ``prefix``, newline-ended ("" for nothing)."""
        out = self.render(event, names)
        return "".join(f"{prefix}{line}\n" for line in out.split("\n")) if out else ""


@dataclass
class _Node:
    name: str
    proc: subprocess.Popen
    prefix: str
    head: list[str] = field(default_factory=list)  # the links line, the map line
    names: dict[int, str] = field(default_factory=dict)
    decoder: StreamDecoder = field(default_factory=StreamDecoder)
    pending: str = ""


def stream(
    argvs: dict[str, list[str]],
    opts: Options,
    write: Callable[[str], None],
    seconds: float | None = None,
    prefix: bool = False,
) -> int:
    """Run the node command of each node (``argvs``: node -> argv that runs a shell command in
    it, the command appended) and print their events as they come, until ``seconds`` pass or
    every stream ends. ``prefix``: put the node's name before each line (several nodes)."""
    sel = selectors.DefaultSelector()
    nodes = []
    for name, argv in argvs.items():
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        node = _Node(name, proc, f"{name}: " if prefix else "")
        nodes.append(node)
        sel.register(proc.stdout, selectors.EVENT_READ, node)
    deadline = None if seconds is None else time.monotonic() + seconds
    listening = 0
    stopping = False
    try:
        while sel.get_map():
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout == 0.0 and not stopping:
                # Time is up: stop the readers, then take what they still print.
                stopping = True
                for node in nodes:
                    if node.proc.poll() is None:
                        node.proc.terminate()
                deadline = time.monotonic() + 5
                continue
            if timeout == 0.0:
                break
            for key, _ in sel.select(timeout):
                node = key.data
                chunk = key.fileobj.read1(65536) if hasattr(key.fileobj, "read1") else key.fileobj.read(65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                text = chunk.decode(errors="replace")
                while len(node.head) < 2 and "\n" in text:
                    line, text = text.split("\n", 1)
                    line = (node.pending + line).strip()
                    node.pending = ""
                    if line:
                        node.head.append(line)
                        if len(node.head) == 1:
                            node.names = ifnames(line)
                        else:
                            listening += 1
                            if listening == len(nodes):
                                cpus = int(json.loads(line).get("max_entries", 0))
                                print(fmt.header(cpus), file=sys.stderr, flush=True)
                if len(node.head) < 2:
                    node.pending += text
                    continue
                for obj in node.decoder.feed(text):
                    event = fmt.parse_bpftool_event(obj)
                    if event is None:
                        continue
                    out = opts.lines(event, node.names, node.prefix)
                    if out:
                        write(out)
    except KeyboardInterrupt:
        pass
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                node.proc.terminate()
        for node in nodes:
            try:
                node.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
    failed = [n for n in nodes if len(n.head) < 2]
    for n in failed:
        err = n.proc.stderr.read().decode(errors="replace").strip().splitlines()
        why = err[-1] if err else f"exit {n.proc.returncode}"
        print(f"cnilab monitor: {n.name}: cannot read {EVENTS_PIN}: {why}", file=sys.stderr)
    return 1 if failed else 0


CAPTURE_FILE = "/run/cnilab/monitor.json"


def start_capture() -> str:
    """A node command starting a capture of its events to CAPTURE_FILE in the background,
    printing its PID once bpftool's rings are open (its "Stopping" goes to the file's .err)."""
    return (
        f"bpftool -j map event_pipe pinned {EVENTS_PIN} > {CAPTURE_FILE} 2> {CAPTURE_FILE}.err & "
        # bpftool says nothing when its rings are open: wait for a perf event per CPU.
        "pid=$!; n=$(nproc); for i in $(seq 150); do "
        "[ $(ls -l /proc/$pid/fd 2>/dev/null | grep -c perf_event) -ge $n ] && break; sleep 0.02; done; "
        "echo $pid"
    )


def stop_capture(pid: int) -> str:
    """A node command stopping that capture (by its PID), printing what it caught, removing it."""
    return (
        f"kill -TERM {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.02; done; "
        f"cat {CAPTURE_FILE}; rm -f {CAPTURE_FILE} {CAPTURE_FILE}.err"
    )


def _local(backend, node: str) -> bool:
    machine = backend.machine_of(node) if hasattr(backend, "machine_of") else backend.machine
    return machine.local


def run(lab, backend, nodes: list[str], opts: Options, seconds: float | None) -> int:
    """Stream the nodes' events to stdout: nodes on this machine as they come; a node on
    another machine for ``seconds``, printed when they are over (its command runs over SSH)."""
    remote = [n for n in nodes if not _local(backend, n)]
    if remote and seconds is None:
        print(f"cnilab monitor: {remote[0]} runs on another machine: give --seconds N to collect its events for N seconds",
              file=sys.stderr)
        return 2
    prefix = len(nodes) > 1

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    local = {n: backend.exec_argv(lab.name, n, node_command()) for n in nodes if n not in remote}
    rc = stream(local, opts, write, seconds, prefix) if local else 0
    for n in remote:
        p = backend.run_in(lab.name, n, f"timeout {seconds:g} sh -c {shlex.quote(node_command())}", check=False)
        lines = p.stdout.decode(errors="replace").split("\n", 2)
        if len(lines) < 3:
            print(f"cnilab monitor: {n}: cannot read {EVENTS_PIN}: {p.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            rc = 1
            continue
        names = ifnames(lines[0])
        write("".join(opts.lines(event, names, f"{n}: " if prefix else "") for event in events(lines[2])))
    return rc
