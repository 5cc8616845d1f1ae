"""Compile a CNI's BPF objects, cached by content.

A :class:`SourceTree` is one CNI's C sources (``cnilab/cni/<cni>/bpf``) and which
headers each program needs. ``tree.compile_object("bpf_overlay", {"node_config.h": text})``
returns ``$CNILAB_CACHE/bpf/<sha256>/bpf_overlay.o``.  The hash covers the clang
version, the flags, every file of the tree and the given headers, so an unchanged lab
compiles nothing.  Objects keep their Cilium names because
``tc filter show`` prints the object's basename (``bpf_overlay.o:[to-overlay]``).
The rendered headers are kept beside the object for whoever wants to read them.

``build_object(program, headers, template_headers, config)`` gives the same object
without clang: the template (``template_headers``, every CONFIG value zero) is compiled
once, cached like any object, and each node's or endpoint's object is a copy of it with
its CONFIG values written in (cnilab/bpf/template.py), stored under the digest of
``headers`` as if compiled from them.  A lab of a hundred nodes compiles three objects.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib
import platform
import re
import shutil
import subprocess
import tempfile
import threading

BASE_CFLAGS = ("-O2", "-g", "-target", "bpf", "-Wall", "-Werror")
INSTALL_HINT = "apt-get install clang llvm libbpf-dev"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9_]+\.h$")


class CompileError(RuntimeError):
    """clang is missing or refused a program."""


def cache_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CNILAB_CACHE", "/var/cache/cnilab")) / "bpf"


@functools.lru_cache(maxsize=None)
def _clang_version(clang: str) -> str:
    out = subprocess.run([clang, "--version"], capture_output=True, text=True, check=True)
    return out.stdout


@functools.lru_cache(maxsize=None)
def _multiarch_include() -> str:
    """Where asm/types.h lives (/usr/include/x86_64-linux-gnu on Debian)."""
    gcc = shutil.which("gcc")
    if gcc:
        out = subprocess.run([gcc, "-print-multiarch"], capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return f"/usr/include/{out.stdout.strip()}"
    return f"/usr/include/{platform.machine()}-linux-gnu"


def _find_clang() -> str:
    clang = shutil.which("clang")
    if clang is None:
        raise CompileError(f"clang not found in PATH: the BPF datapath needs it ({INSTALL_HINT})")
    return clang


def cflags(src_dir: pathlib.Path) -> list[str]:
    """Flags common to every object of a tree (the per-compile -I for headers comes on top)."""
    return [*BASE_CFLAGS, "-I", _multiarch_include(), "-I", str(src_dir)]


_SOURCES: dict[tuple, "hashlib._Hash"] = {}


def _sources_hash(BPF_DIR: pathlib.Path, clang_version: str, flags: list[str]) -> "hashlib._Hash":
    """The digest of clang, the flags and every file under bpf/, before the headers.

    Kept while no source file changes (same sizes and times): a lab asks for a digest
    per hook of every node, and reading and hashing the sources each time is most of it.
    """
    files = sorted(p for p in BPF_DIR.rglob("*") if p.is_file())
    key = (str(BPF_DIR), clang_version, tuple(flags), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))
    if key not in _SOURCES:
        digest = hashlib.sha256()
        _feed(digest, "clang", clang_version.encode())
        _feed(digest, "flags", "\0".join(flags).encode())
        for path in files:
            _feed(digest, f"src:{path.relative_to(BPF_DIR).as_posix()}", path.read_bytes())
        _SOURCES[key] = digest
    return _SOURCES[key].copy()


def _feed(digest, tag: str, data: bytes) -> None:
    digest.update(tag.encode() + b"\0" + len(data).to_bytes(8, "big") + data)


def source_digest(src_dir: pathlib.Path, clang_version: str, flags: list[str], headers: dict[str, str]) -> str:
    digest = _sources_hash(src_dir, clang_version, flags)
    for name in sorted(headers):
        _feed(digest, f"hdr:{name}", headers[name].encode())
    return digest.hexdigest()


_LOCKS: dict[pathlib.Path, threading.Lock] = {}


def _lock(target: pathlib.Path) -> threading.Lock:
    """One maker per object in this process: when a hundred nodes (greenlets) want the same
    template at once, one compiles it and the others wait for it."""
    return _LOCKS.setdefault(target, threading.Lock())


def _store(target: pathlib.Path, headers: dict[str, str], make) -> pathlib.Path:
    """Make ``target`` with ``make(tmp_dir) -> object path`` and keep the headers beside it;
    atomic, so parallel callers never see half an object."""
    target_dir = target.parent
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target_dir.parent) as tmp:
        tmp_dir = pathlib.Path(tmp)
        for name, text in headers.items():
            (tmp_dir / name).write_text(text)
        obj = make(tmp_dir)
        for name in headers:
            os.replace(tmp_dir / name, target_dir / name)
        os.replace(obj, target)
    return target


@functools.lru_cache(maxsize=16)
def _read_template(path: pathlib.Path, mtime_ns: int) -> bytes:
    return path.read_bytes()


def _template_bytes(path: pathlib.Path) -> bytes:
    """A template object's bytes, read once per process (it is patched for every node)."""
    return _read_template(path, path.stat().st_mtime_ns)


@dataclasses.dataclass(frozen=True)
class SourceTree:
    """One CNI's BPF C sources: ``<program>.c`` files in ``src_dir``, and the rendered
    headers each program needs (``{"bpf_lxc": ("node_config.h", "ep_config.h")}``)."""

    src_dir: pathlib.Path
    required_headers: dict[str, tuple[str, ...]]

    @property
    def programs(self) -> tuple[str, ...]:
        return tuple(self.required_headers)

    def cflags(self) -> list[str]:
        return cflags(self.src_dir)

    def _check_inputs(self, program: str, headers: dict[str, str]) -> None:
        if program not in self.required_headers:
            raise ValueError(f"program: must be one of {', '.join(self.programs)}: {program!r}")
        for name in headers:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"headers: not a plain header file name: {name!r}")
        missing = [h for h in self.required_headers[program] if h not in headers]
        if missing:
            raise ValueError(f"headers: {program} needs {', '.join(missing)}")

    def target(self, program: str, headers: dict[str, str]) -> pathlib.Path:
        """Where the object for these inputs is (or will be) cached; computes, writes nothing."""
        self._check_inputs(program, headers)
        clang = _find_clang()
        return cache_root() / source_digest(self.src_dir, _clang_version(clang), self.cflags(), headers) / f"{program}.o"

    def build_object(self, program: str, headers: dict[str, str], template_headers: dict[str, str], config: dict[str, bytes]) -> pathlib.Path:
        """The object ``compile_object(program, headers)`` would give, made from the template.

        ``template_headers`` are ``headers`` rendered as the template (every CONFIG value
        zero, nothing naming the node or endpoint); ``config`` holds the values ``headers``
        give the object's CONFIG variables, as bytes.
        """
        from .template import patch

        target = self.target(program, headers)
        if target.is_file():
            return target
        template = self.compile_object(program, template_headers)
        data = patch(_template_bytes(template), config)

        def write(tmp_dir: pathlib.Path) -> pathlib.Path:
            obj = tmp_dir / f"{program}.o"
            obj.write_bytes(data)
            return obj

        with _lock(target):
            return target if target.is_file() else _store(target, headers, write)

    def compile_object(self, program: str, headers: dict[str, str]) -> pathlib.Path:
        """Return the path of ``<program>.o`` built from ``<src_dir>/<program>.c`` and ``headers``.

        Compiles only when no object for the same inputs is cached.  Safe against
        parallel callers: each compiles in its own temporary directory and moves
        the result into place with an atomic rename.
        """
        target = self.target(program, headers)
        if target.is_file():
            return target
        clang, flags = _find_clang(), self.cflags()
        src = self.src_dir / f"{program}.c"

        def build(tmp_dir: pathlib.Path) -> pathlib.Path:
            obj = tmp_dir / f"{program}.o"
            cmd = [clang, *flags, "-I", str(tmp_dir), "-c", str(src), "-o", str(obj)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise CompileError(f"clang failed on {program}.c:\n{result.stderr.strip()}\ncommand: {' '.join(cmd)}")
            return obj

        with _lock(target):
            return target if target.is_file() else _store(target, headers, build)
