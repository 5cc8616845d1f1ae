"""Helpers for tests that drive whole labs: a private copy of a seed declaration, the
pyinfra and pytest commands a user runs, and a look at what a lab left on the machine."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
INVENTORY_PY = 'from pathlib import Path\nnodes = [f"@cnilab/{Path(__file__).with_suffix(\'.yaml\')}"]\n'


def private_lab(tmp_path: Path, seed: str, cluster: str, underlay: str, backend: str) -> Path:
    """A copy of inventories/<seed>.yaml under another cluster name and underlay, so a test
    never touches a lab the user has running. Returns the inventory .py path."""
    data = yaml.safe_load((REPO / "inventories" / f"{seed}.yaml").read_text())
    data["kind"]["name"] = cluster
    data["underlay"] = underlay
    data["backend"] = backend
    (tmp_path / f"{cluster}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    inv = tmp_path / f"{cluster}.py"
    inv.write_text(INVENTORY_PY)
    return inv


def pyinfra(inventory: Path, deploy: str, *extra: str) -> subprocess.CompletedProcess:
    p = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), str(REPO / "deploys" / deploy), *extra],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )  # fmt: skip
    return p


def totals(output: str) -> dict[str, int]:
    """pyinfra's closing `Grand total` line: ops, success (changes), error, no change."""
    m = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    assert m, f"no results table in pyinfra's output:\n{output[-3000:]}"
    num = lambda s: 0 if s == "-" else int(s)  # noqa: E731
    return {"ops": int(m[1]), "changed": num(m[2]), "error": num(m[3]), "unchanged": num(m[4])}


def verify(declaration: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "verify"), "--lab", str(declaration), "-q", "-p", "no:cacheprovider", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=900,
    )  # fmt: skip


def _out(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def leftovers(cluster: str) -> dict[str, list[str]]:
    """Everything on this machine that carries the lab's name: namespaces, mounts, state,
    containers, networks, processes. Empty lists when the lab left nothing."""
    found: dict[str, list[str]] = {}
    found["netns"] = [n for n in _out("ip", "netns", "list").split() if n.startswith(cluster)]
    found["mounts"] = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if f"/cnilab/{cluster}" in line]
    found["state"] = [str(p) for p in [Path("/run/cnilab") / cluster] if p.exists()]
    found["containers"] = _out("docker", "ps", "-a", "--filter", f"label=cnilab.lab={cluster}", "--format", "{{.Names}}").split()
    found["networks"] = _out("docker", "network", "ls", "--filter", f"label=cnilab.lab={cluster}", "--format", "{{.Name}}").split()
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "cnilab-responder" in cmd and cluster in _netns_of(pid):
                procs.append(f"{pid} {cmd}")
    found["processes"] = procs
    return {k: v for k, v in found.items() if v}


def _netns_of(pid: str) -> str:
    return _out("ip", "netns", "identify", pid)


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def dump(p: subprocess.CompletedProcess) -> str:
    return json.dumps({"rc": p.returncode, "stdout": p.stdout[-4000:], "stderr": p.stderr[-4000:]}, indent=1)
