"""pytest options for verifying a real kind + Cilium cluster: ``--kube-context``, ``--kubeconfig``.

Loaded as the ``cnilab-kube`` pytest11 entry point. With either option given, the session
starts only when the cluster answers (its Nodes are listed); otherwise pytest exits with one
line and status 2. Tests marked ``lab_only`` (checks of what only cnilab's labs have) are
deselected against a real cluster. Fixtures: ``kube_context``, ``kube_expected`` (the
cluster's :class:`cnilab.kube.expect.ClusterExpect`).
"""

from __future__ import annotations

import re

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("cnilab-kube", "cnilab: verify a real kind + Cilium cluster")
    group.addoption("--kube-context", action="store", default=None,
                    help="kubeconfig context of a real kind + Cilium cluster (e.g. kind-<cluster>)")
    group.addoption("--kubeconfig", action="store", default=None,
                    help="the kubeconfig file (default: KUBECONFIG or ~/.kube/config)")


def _wanted(config) -> bool:
    return bool(config.getoption("--kube-context") or config.getoption("--kubeconfig"))


def pytest_configure(config):
    config.addinivalue_line("markers", "lab_only: a check of what only cnilab's labs have (deselected with --kube-context)")


def pytest_sessionstart(session):
    config = session.config
    if not _wanted(config):
        return
    from .expect import KubeUnavailable, load_client

    ctx, kubeconfig = config.getoption("--kube-context"), config.getoption("--kubeconfig")
    label = f"--kube-context {ctx}" if ctx else f"--kubeconfig {kubeconfig}"
    try:
        client = load_client(ctx, kubeconfig)
        client.CoreV1Api().list_node(limit=1, _request_timeout=5)
    except KubeUnavailable as e:
        pytest.exit(f"{label}: no reachable cluster: {e}", returncode=2)
    except Exception as e:  # urllib3's MaxRetryError, ApiException (401, 403), ...
        msg = " ".join(str(e).split())
        m = re.search(r"\[Errno -?\d+\][^\"')]*", msg)
        msg = m.group(0).strip() if m else (msg[:200] or type(e).__name__)
        pytest.exit(f"{label}: no reachable cluster: the API server did not answer: {msg}", returncode=2)


def pytest_collection_modifyitems(config, items):
    if not _wanted(config):
        return
    keep = [i for i in items if i.get_closest_marker("lab_only") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i.get_closest_marker("lab_only")])
        items[:] = keep


@pytest.fixture(scope="session")
def kube_context(pytestconfig):
    return pytestconfig.getoption("--kube-context")


@pytest.fixture(scope="session")
def kube_expected(pytestconfig):
    """The cluster's expected state from its API objects (needs --kube-context/--kubeconfig)."""
    if not _wanted(pytestconfig):
        pytest.fail("kube_expected needs --kube-context or --kubeconfig")
    from .expect import expected

    return expected(pytestconfig.getoption("--kube-context"), pytestconfig.getoption("--kubeconfig"))
