"""Every declaration under inventories/, on the backend it names (issue 4's "done when"):
up -> verify -> up again (no changes) -> down -> nothing left. Each runs as a private
copy (its own cluster name and underlay), so a lab the user runs is never touched."""

from __future__ import annotations

import pytest

from cnilab.model import REPO_ROOT, load_lab
from labs import check_skips, docker_available, expected_skips, private_lab, round_trip

DECLARATIONS = sorted(p.stem for p in (REPO_ROOT / "inventories").glob("*.yaml"))


def _param(i: int, seed: str):
    backend = load_lab(seed).decl.backend
    marks = [pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers")] if backend == "docker" else []
    return pytest.param(seed, backend, f"cnilab-t-e{i}", f"172.{20 + i}.0.0/24", id=seed, marks=marks)


@pytest.mark.parametrize("seed,backend,cluster,underlay", [_param(i, s) for i, s in enumerate(DECLARATIONS)])
def test_declared_lab_up_verify_idempotent_down(tmp_path, seed, backend, cluster, underlay):
    round_trip(private_lab(tmp_path, seed, cluster, underlay, backend), cluster)


def _junit(tmp_path, skips):
    cases = "".join(f'<testcase classname="verify.x" name="{n}"><skipped type="pytest.skip" message="{m}"/></testcase>' for n, m in skips)
    f = tmp_path / "verify.xml"
    f.write_text(f'<testsuites><testsuite name="pytest">{cases}<testcase classname="verify.x" name="test_ok"/></testsuite></testsuites>')
    return f


def test_a_skip_the_declaration_does_not_explain_fails_the_lab(tmp_path):
    # seed 000 is a tunnel lab: the native-routing wire check may skip; a masquerade check may not
    lab = load_lab("cilium_vxlan")
    check_skips(lab, "80 passed, 1 skipped in 4.00s", _junit(tmp_path, [("test_native_routing_crosses_unencapsulated", "a tunnel lab")]))
    bad = [("test_native_routing_crosses_unencapsulated", "a tunnel lab"), ("test_pod_to_world_takes_the_node_address[net]", "not deployed")]
    with pytest.raises(AssertionError, match=r"test_pod_to_world_takes_the_node_address\[net\]: not deployed"):
        check_skips(lab, "79 passed, 2 skipped in 4.00s", _junit(tmp_path, bad))
    with pytest.raises(AssertionError, match="disagree"):
        check_skips(lab, "80 passed in 4.00s", _junit(tmp_path, bad[:1]))
    # a lab without Services may skip the Services probes; a Calico lab has no Cilium modes
    assert "test_service_answers_from_a_backend" in expected_skips(load_lab("calico_ipip"))
    assert "test_pod_to_pod_cross_node" in expected_skips(load_lab("cilium_vxlan_small"))
