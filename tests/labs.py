"""Helpers for tests that drive whole labs: a private copy of a seed declaration, the
pyinfra and pytest commands a user runs, and a look at what a lab left on the machine."""

from __future__ import annotations

import json
import subprocess

from cnilab.drive import leftovers, private_lab, pyinfra, totals, verify  # noqa: F401  (re-exported for the tests)


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def dump(p: subprocess.CompletedProcess) -> str:
    return json.dumps({"rc": p.returncode, "stdout": p.stdout[-4000:], "stderr": p.stderr[-4000:]}, indent=1)
