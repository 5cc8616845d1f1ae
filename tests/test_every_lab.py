"""Every declaration under inventories/, on the backend it names (issue 4's "done when"):
up -> verify -> up again (no changes) -> down -> nothing left. Each runs as a private
copy (its own cluster name and underlay), so a lab the user runs is never touched."""

from __future__ import annotations

import pytest

from cnilab.model import REPO_ROOT, load_lab
from labs import docker_available, dump, leftovers, private_lab, pyinfra, totals, verify

DECLARATIONS = sorted(p.stem for p in (REPO_ROOT / "inventories").glob("*.yaml"))


def _param(i: int, seed: str):
    backend = load_lab(seed).decl.backend
    marks = [pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")] if backend == "docker" else []
    return pytest.param(seed, backend, f"cnilab-t-e{i}", f"192.168.{230 + i}.0/24", id=seed, marks=marks)


@pytest.mark.parametrize("seed,backend,cluster,underlay", [_param(i, s) for i, s in enumerate(DECLARATIONS)])
def test_declared_lab_up_verify_idempotent_down(tmp_path, seed, backend, cluster, underlay):
    inv = private_lab(tmp_path, seed, cluster, underlay, backend)
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, f"up failed:\n{dump(up)}"
        v = verify(inv.with_suffix(".yaml"))
        assert v.returncode == 0, f"verify failed:\n{v.stdout[-6000:]}"
        assert " passed" in v.stdout and " failed" not in v.stdout
        again = pyinfra(inv, "up.py")
        t = totals(again.stdout + again.stderr)
        assert again.returncode == 0 and (t["changed"], t["error"]) == (0, 0), f"second up: {t}\n{again.stderr[-3000:]}"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, f"down failed:\n{dump(down)}"
    assert leftovers(cluster) == {}, f"{seed} left things behind: {leftovers(cluster)}"
