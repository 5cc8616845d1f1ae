"""Run datapath programs through BPF_PROG_TEST_RUN without touching the host.

A :class:`Sandbox` is one small holder process in a private mount namespace
(``unshare --mount --propagation private``) with a fresh bpffs mounted on
/sys/fs/bpf inside it.  Every bpftool command enters that namespace with
``nsenter --mount``, so programs and maps are pinned only there: the host's
/sys/fs/bpf never sees them, and when the holder exits (``close()``, or its
parent dying, which closes its stdin) the namespace, the bpffs and every pin
in it are gone.

What bpftool does inside (bpftool 7.1 / libbpf 1.1):

- ``prog loadall OBJ DIR type classifier`` pins programs as
  DIR/<function name> (``cil_from_container``); maps declared
  ``LIBBPF_PIN_BY_NAME`` are pinned, or reused, at /sys/fs/bpf/<map name>
  (libbpf's default pin root; tc uses /sys/fs/bpf/tc/globals instead).  So
  objects loaded into one sandbox share their maps, as on a node.  Each
  object's own .rodata.config (its CONFIG values) stays unpinned, as under tc.
- ``prog run`` needs at least 14 bytes (ETH_HLEN) of data: the kernel
  refuses shorter input with EINVAL before the program runs.
- with ``repeat N`` the program runs N times over the same buffer, each run
  seeing the previous run's rewrite; retval and data_out are the last run's,
  duration is the mean per run in ns.

Usage::

    with Sandbox() as sb:
        sb.load(obj)
        sb.update_map("cilium_lxc", entry.pack_key(), entry.pack_value())
        res = sb.run("cil_from_container", frame)
        sb.dump_map("cilium_metrics")
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import subprocess
import tempfile
from typing import Any

from cnilab.bpf.bpftool import RawEntry, bpftool_hex, parse_dump

BPFFS = "/sys/fs/bpf"
PROG_ROOT = f"{BPFFS}/cnilab-test"
_HOLDER = f"mount -t bpf bpf {BPFFS} || exit 1; mkdir -p {PROG_ROOT} || exit 1; echo ready; read _"


class SandboxError(RuntimeError):
    """A sandbox could not be set up, or bpftool failed inside it."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    retval: int
    data: bytes
    duration_ns: int


class Sandbox:
    def __init__(self) -> None:
        self._holder: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.programs: dict[str, str] = {}  # function name -> pinned path

    def __enter__(self) -> "Sandbox":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        for tool in ("unshare", "nsenter", "bpftool"):
            if shutil.which(tool) is None:
                raise SandboxError(f"{tool} not found in PATH")
        self._tmp = tempfile.TemporaryDirectory(prefix="cnilab-bpf-")
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self._holder.stdout.readline()
        if line.strip() != "ready":
            err = self._holder.stderr.read()
            self.close()
            raise SandboxError(f"could not set up a private bpffs (needs root): {err.strip()}")

    def close(self) -> None:
        if self._holder is not None:
            # EOF on stdin ends `read`; the mount namespace dies with the shell.
            try:
                self._holder.stdin.close()
                self._holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._holder.kill()
                self._holder.wait()
            for stream in (self._holder.stdout, self._holder.stderr):
                stream.close()
            self._holder = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _in_ns(self, *cmd: str) -> str:
        if self._holder is None:
            raise SandboxError("sandbox is not open")
        res = subprocess.run(["nsenter", f"--target={self._holder.pid}", "--mount", "--", *cmd],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise SandboxError(f"{' '.join(cmd)}: {(res.stderr or res.stdout).strip()}")
        return res.stdout

    def bpftool(self, *args: str, json_out: bool = False) -> Any:
        """Run bpftool inside the sandbox; return its (JSON-decoded) stdout."""
        out = self._in_ns("bpftool", *(["-j"] if json_out else []), *args)
        return json.loads(out) if json_out else out

    def load(self, obj: pathlib.Path | str) -> dict[str, str]:
        """Load every program of ``obj``; return {function name: pinned path}."""
        obj = pathlib.Path(obj)
        pin_dir = f"{PROG_ROOT}/{obj.stem}-{len(self.programs)}"
        self.bpftool("prog", "loadall", str(obj), pin_dir, "type", "classifier")
        listing = self._in_ns("ls", pin_dir).split()
        progs = {name: f"{pin_dir}/{name}" for name in listing}
        self.programs.update(progs)
        return progs

    def map_path(self, name: str) -> str:
        return f"{BPFFS}/{name}"

    def update_map(self, name: str, key: bytes, value: bytes) -> None:
        self.bpftool("map", "update", "pinned", self.map_path(name), "key", *bpftool_hex(key), "value",
                     *bpftool_hex(value))

    def dump_map_json(self, name: str) -> list[dict[str, Any]]:
        return self.bpftool("map", "dump", "pinned", self.map_path(name), json_out=True)

    def dump_map(self, name: str) -> list[RawEntry]:
        return parse_dump(self.dump_map_json(name))

    def run(self, program: str, data: bytes, repeat: int = 1) -> RunResult:
        """BPF_PROG_TEST_RUN ``program`` (a function name from load()) on ``data``."""
        if program not in self.programs:
            raise SandboxError(f"program {program!r} not loaded (have: {', '.join(sorted(self.programs))})")
        tmp = pathlib.Path(self._tmp.name)
        data_in, data_out = tmp / "data_in", tmp / "data_out"
        data_in.write_bytes(data)
        if data_out.exists():
            data_out.unlink()
        args = ["prog", "run", "pinned", self.programs[program], "data_in", str(data_in),
                "data_out", str(data_out), "data_size_out", str(max(len(data), 1) + 256)]
        if repeat > 1:
            args += ["repeat", str(repeat)]
        out = self.bpftool(*args, json_out=True)
        return RunResult(
            retval=int(out["retval"]),
            data=data_out.read_bytes() if data_out.exists() else b"",
            duration_ns=int(out.get("duration", 0)),
        )


def bench(obj: pathlib.Path | str, program: str, data: bytes, repeat: int = 1_000_000,
          maps: dict[str, list[tuple[bytes, bytes]]] | None = None) -> RunResult:
    """One-shot: load ``obj`` in a fresh sandbox, fill ``maps``, run ``repeat`` times."""
    with Sandbox() as sb:
        sb.load(obj)
        for name, entries in (maps or {}).items():
            for key, value in entries:
                sb.update_map(name, key, value)
        return sb.run(program, data, repeat=repeat)
