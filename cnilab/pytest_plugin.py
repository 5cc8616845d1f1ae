"""pytest plugin: `pytest verify/ --lab cilium_vxlan` runs the suites against a running lab.

Fixtures: `running_lab` (the lab and the backend running it), `lab` (its model);
verify/common/ runs for every lab, verify/<cni>/ for the labs of that CNI (where `lab`
is the plugin's view of the lab);
tests that take `node` run once per node, `pod` once per pod (ids are the short names
kind users know: control-plane, worker, worker2).

Loading it also registers the `cnilab://` testinfra backend, so a user's own testinfra
tests take `--hosts='cnilab://cilium_vxlan/*'` (cnilab/testinfra_backend.py).

With --lab, a run ends with one summary line, as `cilium connectivity test` does
(`cnilab verify: lab cilium_vxlan (cilium, netns): 3 nodes, 3 pods, 108 checks: 107
passed, 1 skipped, no failures`; else `..., 1 failed`), then one line per failed check; `--cnilab-json FILE` writes
the same as one JSON document (what `cnilab verify LAB --json` prints).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import testinfra_backend  # noqa: F401  (registers cnilab:// with testinfra)
from .model import DeclarationError, load_lab
from .verify import LabNotRunning, RunningLab, find_backend


def pytest_addoption(parser):
    group = parser.getgroup("cnilab")
    group.addoption("--lab", action="store", default=None, help="lab declaration to verify (name or path)")
    group.addoption(
        "--inventory", action="store", default=None, metavar="FILE",
        help="the pyinfra inventory of a multi-host lab: its nodes are reached on the machines it places them on",
    )  # fmt: skip
    group.addoption(
        "--cnilab-json", action="store", default=None, metavar="FILE",
        help="with --lab: write the run's results (lab, backend, counts, each check) to FILE as JSON",
    )  # fmt: skip


def lab_from_config(config):
    """The lab named by --lab, or None; used by suites that parametrize from the lab."""
    name = config.getoption("--lab")
    inv = inventory_from_config(config)
    if inv is not None and (not name or load_lab(name).name == inv.lab.name):
        return inv.lab
    if inv is not None:
        raise pytest.UsageError(f"--lab {name} is not the lab of --inventory {inv.path} ({inv.lab.decl_name})")
    if not name:
        return None
    cache = config.__dict__.setdefault("_cnilab_labs", {})
    if name not in cache:
        try:
            cache[name] = load_lab(name)
        except DeclarationError as e:
            raise pytest.UsageError(str(e)) from None
    return cache[name]


def inventory_from_config(config):
    """The lab inventory named by --inventory (a multi-host lab), or None."""
    path = config.getoption("--inventory", None)
    if not path:
        return None
    if "_cnilab_inventory" not in config.__dict__:
        from .inventory import InventoryError, read_inventory

        try:
            config._cnilab_inventory = read_inventory(path)
        except InventoryError as e:
            raise pytest.UsageError(str(e)) from None
    return config._cnilab_inventory


def _kube_mode(config) -> bool:
    return bool(config.getoption("--kube-context", None) or config.getoption("--kubeconfig", None))


def pytest_ignore_collect(collection_path, config):
    """verify/<cni>/ holds one CNI's checks: only the lab's own CNI's run (verify/common/ always);
    verify/kube/ a real cluster's, collected with --kube-context or --kubeconfig only."""
    if collection_path.is_dir() and collection_path.parent.name == "verify" and collection_path.name == "kube":
        return None if _kube_mode(config) else True
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
def running_lab(request, lab) -> RunningLab:
    results = request.config.stash.get(_RESULTS, None)
    inv = inventory_from_config(request.config)
    try:
        backend = find_backend(lab) if inv is None else _placed(inv, results)
    except LabNotRunning as e:
        if results is not None:
            results.aborted = str(e)
        pytest.exit(str(e), returncode=2)
    if results is not None:
        results.backend = backend.name
    return RunningLab(lab, backend)


def _placed(inv, results):
    """A multi-host lab's backend over its machines; `cnilab://<lab>/...` resolves to it.
    A machine that does not answer is named once here; its nodes' checks fail naming them."""
    from .machines import MachineUnreachable
    from .testinfra_backend import register_lab

    backend = inv.backend()
    for name in inv.placement.used():
        try:
            inv.placement.machine(name).check()
        except MachineUnreachable as e:
            nodes = ", ".join(n.removeprefix(f"{inv.lab.name}-") for n in inv.placement.nodes_on(name))
            if results is not None:
                results.unreachable.append(f"{e}: nodes {nodes} unreachable")
    if not backend.lab_nodes(inv.lab.name):
        raise LabNotRunning(f"lab {inv.lab.decl_name} ({inv.lab.name}) is not running on the machines of {inv.path}: "
                            f"bring it up with `pyinfra -y {inv.path} deploys/up.py`")
    for arg in (inv.lab.decl_name, inv.lab.name):
        register_lab(arg, inv.lab.name, backend, inv.lab)
    return backend


# The results of a verify run: one outcome per check, for the closing summary and --cnilab-json.


def _one_line(report) -> str:
    """A failed or skipped check's message on one line: the assertion's first line."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The check's own message, its lines joined (pytest's `assert ...` explanation dropped).
    for i, line in enumerate(lines[1:], 1):
        if line.startswith("assert "):
            lines = lines[:i]
            break
    return " ".join(lines).removeprefix("AssertionError: ")


class VerifyResults:
    """Each check's outcome (passed, skipped, failed), its phase's failure counted once."""

    def __init__(self, config):
        self.config = config
        self.lab = lab_from_config(config)
        self.backend: str | None = None
        self.aborted: str | None = None
        self.unreachable: list[str] = []  # one line per machine of a multi-host lab that did not answer
        self.checks: dict[str, dict] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        check = self.checks.setdefault(report.nodeid, {"check": report.nodeid, "outcome": "passed"})
        if check["outcome"] == "failed":
            return  # a teardown error after a failed call: the first failure stands
        if report.failed:
            check["outcome"] = "failed"
            check["message"] = _one_line(report) if report.when == "call" else f"error in {report.when}: {_one_line(report)}"
        elif report.skipped and check["outcome"] != "failed":
            check["outcome"] = "skipped"
            check["message"] = _one_line(report)

    def counts(self) -> dict[str, int]:
        outcomes = [c["outcome"] for c in self.checks.values()]
        return {"checks": len(outcomes), **{k: outcomes.count(k) for k in ("passed", "skipped", "failed")}}

    def name(self) -> str:
        return self.lab.decl_name

    def document(self, exitstatus: int) -> dict:
        lab = self.lab
        doc = {
            "lab": self.name(),
            "cluster": lab.name,
            "cni": lab.plugin.name,
            "backend": self.backend,
            "nodes": len(lab.nodes),
            "pods": len(lab.pods),
            **self.counts(),
            "exitstatus": int(exitstatus),
            "results": list(self.checks.values()),
        }
        if self.aborted:
            doc["aborted"] = self.aborted
        if self.unreachable:
            doc["unreachable"] = self.unreachable
        return doc

    def lines(self) -> list[str]:
        c, lab = self.counts(), self.lab
        head = (
            f"cnilab verify: lab {self.name()} ({lab.plugin.name}, {self.backend or 'not running'}): "
            f"{len(lab.nodes)} nodes, {len(lab.pods)} pods, {c['checks']} checks: "
            f"{c['passed']} passed, {c['skipped']} skipped, " + (f"{c['failed']} failed" if c["failed"] else "no failures")
        )
        out = [head, *(f"  UNREACHABLE {line}" for line in self.unreachable)]
        for check in self.checks.values():
            if check["outcome"] == "failed":
                message = check.get("message", "")
                message = message if len(message) <= 300 else message[:297] + "..."
                out.append(f"  FAILED {check['check']}: {message}")
        return out


_RESULTS = pytest.StashKey[VerifyResults]()


def pytest_configure(config):
    if (config.getoption("--lab", None) or config.getoption("--inventory", None)) and lab_from_config(config) is not None:
        results = VerifyResults(config)
        config.stash[_RESULTS] = results
        config.pluginmanager.register(results, "cnilab-verify-results")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(_RESULTS, None)
    if results is None or results.aborted:
        return  # a lab that is not running: pytest.exit's own line says so, once
    terminalreporter.write_sep("=", "cnilab verify")
    for line in results.lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    results = session.config.stash.get(_RESULTS, None)
    target = session.config.getoption("--cnilab-json", None)
    if results is None or not target:
        return
    Path(target).write_text(json.dumps(results.document(exitstatus), indent=2) + "\n")
