"""Driving a lab the way a user does (the pyinfra and pytest commands), for tests and benchmarks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from .model import REPO_ROOT

INVENTORY_PY = 'from pathlib import Path\nnodes = [f"@cnilab/{Path(__file__).with_suffix(\'.yaml\')}"]\n'


def private_lab(directory: Path, seed: str, cluster: str, underlay: str, backend: str) -> Path:
    """A copy of inventories/<seed>.yaml under another cluster name and underlay (so it never
    touches a lab the user runs), with its pyinfra inventory. Returns the inventory path."""
    data = yaml.safe_load((REPO_ROOT / "inventories" / f"{seed}.yaml").read_text())
    data["kind"]["name"] = cluster
    data["underlay"] = underlay
    data.pop("nodeAddresses", None)  # the seed's addresses are in its own underlay
    data["backend"] = backend
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{cluster}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    inv = directory / f"{cluster}.py"
    inv.write_text(INVENTORY_PY)
    return inv


def pyinfra(inventory: Path, deploy: str, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), str(REPO_ROOT / "deploys" / deploy), *extra],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout,
    )  # fmt: skip


def totals(output: str) -> dict[str, int]:
    """pyinfra's closing `Grand total` line: ops, changed, error, unchanged."""
    m = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", output)
    if not m:
        raise AssertionError(f"no results table in pyinfra's output:\n{output[-3000:]}")
    num = lambda s: 0 if s == "-" else int(s)  # noqa: E731
    return {"ops": int(m[1]), "changed": num(m[2]), "error": num(m[3]), "unchanged": num(m[4])}


def verify(declaration: Path, *extra: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO_ROOT / "verify"), "--lab", str(declaration), "-q", "-p", "no:cacheprovider", *extra],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout,
    )  # fmt: skip


def command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def leftovers(cluster: str) -> dict[str, list[str]]:
    """Everything on this machine that carries the lab's name: namespaces, mounts, state,
    containers, networks, processes. Empty lists when the lab left nothing."""
    found: dict[str, list[str]] = {}
    mine = lambda name: name == cluster or name.startswith(f"{cluster}-")  # noqa: E731  (not cnilab-x-10 for cnilab-x-1)
    found["netns"] = [n for n in command_output("ip", "netns", "list").split() if mine(n)]
    found["mounts"] = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if f"/cnilab/{cluster}/" in line or line.split()[4].endswith(f"/cnilab/{cluster}")]
    found["state"] = [str(p) for p in [Path("/run/cnilab") / cluster] if p.exists()]
    found["containers"] = command_output("docker", "ps", "-a", "--filter", f"label=cnilab.lab={cluster}", "--format", "{{.Names}}").split()
    found["networks"] = command_output("docker", "network", "ls", "--filter", f"label=cnilab.lab={cluster}", "--format", "{{.Name}}").split()
    procs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "cnilab-responder" in cmd and any(mine(n) for n in _netns_of(pid).split()):
                procs.append(f"{pid} {cmd}")
    found["processes"] = procs
    return {k: v for k, v in found.items() if v}


def _netns_of(pid: str) -> str:
    return command_output("ip", "netns", "identify", pid)
