"""Helpers for tests that drive whole labs: a private copy of a seed declaration, the
pyinfra and pytest commands a user runs, and a look at what a lab left on the machine."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cnilab.drive import private_lab, pyinfra, totals, verify  # noqa: F401  (re-exported for the tests)


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
