"""Every declaration under inventories/, on the backend it names (issue 4's "done when"):
up -> verify -> up again (no changes) -> down -> nothing left. Each runs as a private
copy (its own cluster name and underlay), so a lab the user runs is never touched."""

from __future__ import annotations

import pytest

from cnilab.model import REPO_ROOT, load_lab
from labs import docker_available, private_lab, round_trip

DECLARATIONS = sorted(p.stem for p in (REPO_ROOT / "inventories").glob("*.yaml"))


def _param(i: int, seed: str):
    backend = load_lab(seed).decl.backend
    marks = [pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")] if backend == "docker" else []
    return pytest.param(seed, backend, f"cnilab-t-e{i}", f"172.{20 + i}.0.0/24", id=seed, marks=marks)


@pytest.mark.parametrize("seed,backend,cluster,underlay", [_param(i, s) for i, s in enumerate(DECLARATIONS)])
def test_declared_lab_up_verify_idempotent_down(tmp_path, seed, backend, cluster, underlay):
    round_trip(private_lab(tmp_path, seed, cluster, underlay, backend), cluster)
