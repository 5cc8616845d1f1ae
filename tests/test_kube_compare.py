"""A real cluster's outputs against what its API objects and its declaration imply
(cnilab/kube/compare.py), on the seeds' captured outputs; and which verify suites run
against a real cluster (verify/kube/) and which are cnilab's labs' own (lab_only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnilab.kube.agent import parse_status, parse_tunnel_list
from cnilab.kube.compare import routes_missing, status_differences, tunnel_differences
from cnilab.kube.expect import ClusterObjects, expected_from
from cnilab.kube.models import custom_objects, deserialize
from cnilab.model import REPO_ROOT, load_lab

F = Path(__file__).parent / "fixtures" / "kube"
W = "cilium-kubeproxy-replacement-ebpf-vxlan-worker"


@pytest.fixture(scope="module")
def expected():
    return expected_from(ClusterObjects(
        nodes=deserialize((F / "nodes.json").read_text(), "V1NodeList"),
        cilium_nodes=custom_objects((F / "ciliumnodes.json").read_text()),
        pods=deserialize((F / "pods.json").read_text(), "V1PodList"),
        services=deserialize((F / "services.json").read_text(), "V1ServiceList"),
    ))  # fmt: skip


def test_seed_000_worker_routes_are_the_expected_ones(expected):
    ip_route = (F / "seed000_worker_ip_route.txt").read_text()
    assert routes_missing(expected.routes[W], ip_route) == []
    broken = "\n".join(line for line in ip_route.splitlines() if not line.startswith("10.0.1.0/24"))
    assert routes_missing(expected.routes[W], broken) == [
        "route missing: 10.0.1.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194 mtu 1450"
    ]


def test_seed_000_worker_tunnel_list_is_the_expected_one(expected):
    listed = parse_tunnel_list((F / "seed000_worker_tunnel_list.txt").read_text())
    assert tunnel_differences(expected.tunnels[W], listed) == []
    assert tunnel_differences(expected.tunnels[W], listed[1:]) == [f"tunnel entry missing: {listed[0]}"]


@pytest.mark.parametrize(
    "status, lab, differences",
    [
        ("seed000_cilium_status.txt", "cilium_vxlan", []),
        ("seed004b_cilium_status.txt", "cilium_kpr", []),
        ("seed004c_cilium_status.txt", "cilium_kpr_ebpf", []),
        ("seed004a_cilium_status.txt", "cilium_kpr", ["KubeProxyReplacement: Disabled, declared strict"]),
        ("seed004b_cilium_status.txt", "cilium_kpr_ebpf", ["Masquerading: IPTables, declared bpf.masquerade: true"]),
    ],
)
def test_cilium_status_against_the_declared_values(status, lab, differences):
    values = load_lab(lab).decl.cni.values
    assert status_differences(parse_status((F / status).read_text()), values) == differences


def _marked_lab_only(path: Path) -> bool:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in node.targets):
            return "lab_only" in ast.unparse(node.value)
    return False


def test_the_lab_suites_mark_themselves_lab_only_and_the_cluster_suite_does_not():
    lab_suites = [p for d in ("common", "cilium", "calico") for p in (REPO_ROOT / "verify" / d).glob("test_*.py")]
    assert len(lab_suites) >= 15
    assert [p.name for p in lab_suites if not _marked_lab_only(p)] == []
    kube = list((REPO_ROOT / "verify" / "kube").glob("test_*.py"))
    assert kube and not any(_marked_lab_only(p) for p in kube)
