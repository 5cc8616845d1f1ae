"""The structure the CNI seam promises, checked on the code itself: the core imports no
CNI plugin, no modules import each other in a circle, a wheel carries the templates and
the BPF sources, and `--dry` on a running lab builds and writes nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnilab.model import REPO_ROOT

PACKAGE = REPO_ROOT / "cnilab"
# The plugins themselves; everything else of the package is the core.
NOT_CORE = ("cnilab/cni/",)


def _module(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str] | None = None) -> set[str]:
    """Modules of the cnilab package that ``path`` imports (at any depth, relative ones
    resolved); ``from pkg import mod`` counts as importing pkg.mod, not pkg."""
    tree = ast.parse(path.read_text())
    me = _module(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cnilab")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("cnilab"):
                subs = {f"{mod}.{a.name}" for a in node.names}
                found = subs & known if known is not None else subs
                out |= found if found else {mod}
    return out


def _modules() -> dict[str, Path]:
    return {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_the_core_imports_no_cni_plugin():
    plugins = {p.parent.name for p in (PACKAGE / "cni").glob("*/__init__.py")}
    assert "cilium" in plugins
    offenders = []
    for mod, path in _modules().items():
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith(NOT_CORE):
            continue
        for imp in _imports(path):
            if any(imp == f"cnilab.cni.{p}" or imp.startswith(f"cnilab.cni.{p}.") for p in plugins):
                offenders.append(f"{rel} imports {imp}")
    assert not offenders, offenders


def test_the_core_reaches_no_plugin_around_the_registry():
    """Nor by a dynamic import: the core asks cnilab.cni.get_plugin for a plugin's parts."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel.startswith(NOT_CORE) or rel == "cnilab/cni/__init__.py":
            continue
        text = path.read_text()
        assert "import_module(" not in text or "cnilab.cni" not in text, f"{rel} imports a plugin module dynamically"


def test_no_import_circle():
    mods = _modules()
    graph = {m: {i for i in _imports(p, set(mods)) if i in mods and i != m} for m, p in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            circle = visit(m)
            assert circle is None, " -> ".join(circle)


def test_a_wheel_carries_templates_and_bpf_sources(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        capture_output=True, text=True,
    )
    assert p.returncode == 0, p.stderr
    (wheel,) = tmp_path.glob("cnilab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [
        f.relative_to(REPO_ROOT).as_posix()
        for f in list((PACKAGE / "templates").rglob("*.j2")) + list((PACKAGE / "cni").rglob("*.[ch]"))
    ]
    assert wanted and not [w for w in wanted if w not in names]


def test_dry_and_noop_runs_on_a_running_lab_build_and_write_nothing(tmp_path, monkeypatch):
    """`pyinfra --dry`, and an `up` with nothing to change (whose prepare stage reads every
    fact and diffs), on a running lab: no object compiled or patched, not even into the
    cache. Objects are built only when one must go to a node."""
    from cnilab import drive

    cluster = "cnxt-seam-dry"
    inv = drive.private_lab(tmp_path, "cilium_vxlan_small", cluster, "172.31.77.0/24", "netns")
    try:
        up = drive.pyinfra(inv, "up.py")
        assert up.returncode == 0, up.stderr[-2000:]
        cache = tmp_path / "cache"
        monkeypatch.setenv("CNILAB_CACHE", str(cache))
        for extra in (("--dry",), ()):
            p = drive.pyinfra(inv, "up.py", *extra)
            assert p.returncode == 0, p.stderr[-2000:]
            assert not cache.exists(), (extra, sorted(str(p) for p in cache.rglob("*")))
        assert drive.totals(p.stdout + p.stderr)["changed"] == 0, p.stderr[-1500:]
        # cnilab status reads what the nodes run from the nodes, not this machine's cache.
        st = subprocess.run([sys.executable, "-m", "cnilab.cli", "status", str(inv.with_suffix(".yaml"))],
                            capture_output=True, text=True, cwd=REPO_ROOT)  # fmt: skip
        assert st.returncode == 0, st.stderr
        assert st.stdout.count("Host Routing:            BPF") == 2, st.stdout
        assert not cache.exists()
    finally:
        monkeypatch.delenv("CNILAB_CACHE", raising=False)
        down = drive.pyinfra(inv, "down.py")
        assert down.returncode == 0, down.stderr[-2000:]
        assert drive.leftovers(cluster) == {}
