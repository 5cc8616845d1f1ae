"""pytest plugin: `pytest verify/ --lab cilium_vxlan` runs the suites against a running lab.

Fixtures: `running_lab` (the lab and the backend running it), `lab` (its model);
verify/common/ runs for every lab, verify/<cni>/ for the labs of that CNI (where `lab`
is the plugin's view of the lab);
tests that take `node` run once per node, `pod` once per pod (ids are the short names
kind users know: control-plane, worker, worker2).

Loading it also registers the `cnilab://` testinfra backend, so a user's own testinfra
tests take `--hosts='cnilab://cilium_vxlan/*'` (cnilab/testinfra_backend.py).
"""

from __future__ import annotations

import pytest

from . import testinfra_backend  # noqa: F401  (registers cnilab:// with testinfra)
from .model import DeclarationError, load_lab
from .verify import LabNotRunning, RunningLab, find_backend


def pytest_addoption(parser):
    group = parser.getgroup("cnilab")
    group.addoption("--lab", action="store", default=None, help="lab declaration to verify (name or path)")


def lab_from_config(config):
    """The lab named by --lab, or None; used by suites that parametrize from the lab."""
    name = config.getoption("--lab")
    if not name:
        return None
    cache = config.__dict__.setdefault("_cnilab_labs", {})
    if name not in cache:
        try:
            cache[name] = load_lab(name)
        except DeclarationError as e:
            raise pytest.UsageError(str(e)) from None
    return cache[name]


def pytest_ignore_collect(collection_path, config):
    """verify/<cni>/ holds one CNI's checks: only the lab's own CNI's run (verify/common/ always)."""
    lab = lab_from_config(config)
    if lab is None or not collection_path.is_dir() or collection_path.parent.name != "verify":
        return None
    if collection_path.name in ("common", lab.plugin.verify_suite):
        return None
    from .cni import plugin_names

    return True if collection_path.name in plugin_names() else None


def _short(lab, node_name: str) -> str:
    return node_name.removeprefix(f"{lab.name}-")


def pytest_generate_tests(metafunc):
    lab = lab_from_config(metafunc.config)
    if lab is None:
        return
    if "node" in metafunc.fixturenames:
        metafunc.parametrize("node", [n.name for n in lab.nodes], ids=[_short(lab, n.name) for n in lab.nodes])
    if "pod" in metafunc.fixturenames:
        metafunc.parametrize("pod", [p.name for p in lab.pods], ids=[p.name for p in lab.pods])


@pytest.fixture(scope="session")
def lab(request):
    lab = lab_from_config(request.config)
    if lab is None:
        pytest.skip("no lab given: run with --lab <declaration>")
    return lab


@pytest.fixture(scope="session")
def running_lab(lab) -> RunningLab:
    try:
        return RunningLab(lab, find_backend(lab))
    except LabNotRunning as e:
        pytest.exit(str(e), returncode=2)
