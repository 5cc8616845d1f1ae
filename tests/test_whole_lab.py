"""The seed 000 lab from nothing to nothing, as a user drives it, on each backend:
up -> verify -> up again (no changes) -> down -> nothing left on the machine."""

from __future__ import annotations

import pytest

from labs import docker_available, dump, leftovers, private_lab, pyinfra, round_trip, totals

BACKENDS = [
    pytest.param("netns", "cnilab-t-ns", "192.168.201.0/24", id="netns"),
    pytest.param(
        "docker", "cnilab-t-dk", "192.168.202.0/24", id="docker",
        marks=pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers"),
    ),
]  # fmt: skip


@pytest.mark.parametrize("backend,cluster,underlay", BACKENDS)
def test_seed_lab_up_verify_idempotent_down(tmp_path, backend, cluster, underlay):
    inv = private_lab(tmp_path, "cilium_vxlan", cluster, underlay, backend)
    first = round_trip(inv, cluster)
    assert first["error"] == 0 and first["changed"] > 0, first

    # down on a lab that is gone changes nothing and makes nothing
    again = pyinfra(inv, "down.py")
    assert again.returncode == 0 and totals(again.stdout + again.stderr)["changed"] == 0, dump(again)
    assert leftovers(cluster) == {}


@pytest.mark.skipif(not docker_available(), reason="the declaration names docker: connecting needs a daemon")
def test_down_finds_the_lab_on_whichever_backend_runs_it(tmp_path):
    # Declared for Docker, brought up on namespaces with --data; a plain `down` still finds it.
    cluster = "cnilab-t-where"
    inv = private_lab(tmp_path, "cilium_vxlan_small", cluster, "192.168.210.0/24", "docker")
    try:
        up = pyinfra(inv, "up.py", "--data", "backend=netns")
        assert up.returncode == 0, dump(up)
        assert leftovers(cluster).get("netns"), "the lab did not come up on namespaces"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, dump(down)
    assert leftovers(cluster) == {}, leftovers(cluster)
