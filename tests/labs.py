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


def round_trip(inv, cluster: str) -> dict[str, int]:
    """What a user does with a lab, checked: up, verify, up again (changes nothing), down,
    nothing left. Returns the first up's totals."""
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, f"up failed:\n{dump(up)}"
        first = totals(up.stdout + up.stderr)
        v = verify(inv.with_suffix(".yaml"))
        assert v.returncode == 0, f"verify failed:\n{v.stdout[-6000:]}"
        assert " passed" in v.stdout and " failed" not in v.stdout
        again = pyinfra(inv, "up.py")
        t = totals(again.stdout + again.stderr)
        assert again.returncode == 0 and (t["changed"], t["error"]) == (0, 0), f"second up changed something: {t}\n{again.stderr[-4000:]}"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, f"down failed:\n{dump(down)}"
    assert leftovers(cluster) == {}, f"the lab left things behind: {leftovers(cluster)}"
    return first
