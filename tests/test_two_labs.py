"""Two labs side by side on one machine: both verify; tearing one down leaves the other
intact and passing (issue: the seed lab beside a smaller one, another name and subnet)."""

from __future__ import annotations

import pytest

from labs import docker_available, dump, leftovers, private_lab, pyinfra, verify

BACKENDS = [
    pytest.param("netns", id="netns"),
    pytest.param("docker", id="docker", marks=pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_labs_side_by_side(tmp_path, backend):
    big = private_lab(tmp_path / "big", "cilium_vxlan", f"cnilab-t-big-{backend[:2]}", "192.168.208.0/24", backend)
    small = private_lab(tmp_path / "small", "cilium_vxlan_small", f"cnilab-t-small-{backend[:2]}", "192.168.209.0/24", backend)
    try:
        for inv in (big, small):
            up = pyinfra(inv, "up.py")
            assert up.returncode == 0, dump(up)
        for inv in (big, small):
            v = verify(inv.with_suffix(".yaml"))
            assert v.returncode == 0, v.stdout[-5000:]
        down = pyinfra(small, "down.py")
        assert down.returncode == 0, dump(down)
        assert leftovers(f"cnilab-t-small-{backend[:2]}") == {}
        v = verify(big.with_suffix(".yaml"))
        assert v.returncode == 0, f"the remaining lab broke when the other went down:\n{v.stdout[-5000:]}"
    finally:
        for inv in (small, big):
            pyinfra(inv, "down.py")
    assert leftovers(f"cnilab-t-big-{backend[:2]}") == {}
