"""A real kind + Cilium cluster (`pytest verify/ --kube-context kind-<cluster> [--lab LAB]`):
what to expect comes from its API objects (cnilab.kube.expect), a node's own state from
testinfra's `docker://<node>` host, the agent's view from `kubectl exec` into its Cilium
pod. Collected only with --kube-context or --kubeconfig; the lab suites beside this one
check cnilab's own labs (they are marked lab_only and deselected here)."""

from __future__ import annotations

import pytest
import testinfra


def _expected(config):
    if "_cnilab_kube_expected" not in config.__dict__:
        from cnilab.kube.expect import expected

        config._cnilab_kube_expected = expected(config.getoption("--kube-context"), config.getoption("--kubeconfig"))
    return config._cnilab_kube_expected


def _cross_node_pairs(e, limit: int = 6):
    pods = [p for p in e.pods if p.ip and p.node and not p.host_network and p.namespace != "kube-system"]
    return [(a, b) for a in pods for b in pods if a.node != b.node][:limit]


def pytest_generate_tests(metafunc):
    e = _expected(metafunc.config)
    if "node" in metafunc.fixturenames:
        metafunc.parametrize("node", sorted(e.nodes))
    if "pair" in metafunc.fixturenames:
        pairs = _cross_node_pairs(e)
        metafunc.parametrize("pair", pairs, ids=[f"{a.name}->{b.name}" for a, b in pairs])


def pytest_collection_modifyitems(config, items):
    """Without --lab nothing is declared to compare the agents' status with: that check is
    deselected (not skipped)."""
    if not config.getoption("--lab"):
        drop = [i for i in items if getattr(i, "originalname", "") == "test_agent_status_is_the_declared_one"]
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = [i for i in items if i not in drop]


@pytest.fixture(scope="session")
def expected(pytestconfig):
    return _expected(pytestconfig)


@pytest.fixture(scope="session")
def kube_args(pytestconfig) -> dict:
    return {"context": pytestconfig.getoption("--kube-context"), "kubeconfig": pytestconfig.getoption("--kubeconfig")}


@pytest.fixture
def node_host(node):
    """The kind node, as testinfra's own docker backend enters it."""
    return testinfra.get_host(f"docker://{node}")
