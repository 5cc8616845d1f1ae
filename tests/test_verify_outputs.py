"""What a verify run hands back, on a private lab: the closing summary line (checks,
nodes, pods, what failed), JUnit with one testcase per check, `cnilab verify LAB --json`,
and a broken object named as a failed check in all of them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from cnilab import drive
from cnilab.backends import get_backend
from cnilab.model import REPO_ROOT, load_lab

CLUSTER = "cnilab-t-vout"
SUMMARY = re.compile(
    r"^cnilab verify: lab (\S+) \((\w+), (\w+)\): (\d+) nodes, (\d+) pods, (\d+) checks: (\d+) passed, (\d+) skipped, (?:(\d+) failed|no failures)$",
    re.M,
)


def _cli_json(decl, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    p = subprocess.run(
        [sys.executable, "-m", "cnilab.cli", "verify", str(decl), "--json", "-q", "-p", "no:cacheprovider", *extra],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
    )  # fmt: skip
    try:
        return p, json.loads(p.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"stdout is not one JSON document (rc {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


def _check_name(testcase) -> str:
    """A JUnit testcase as a pytest node id: verify.cilium.test_routes + name -> verify/cilium/test_routes.py::name."""
    return testcase.get("classname").replace(".", "/") + ".py::" + testcase.get("name")


def test_summary_junit_json_and_a_broken_route(tmp_path):
    inv = drive.private_lab(tmp_path, "cilium_vxlan_small", CLUSTER, "172.28.12.0/24", "netns")
    decl = inv.with_suffix(".yaml")
    lab = load_lab(str(decl))
    try:
        up = drive.pyinfra(inv, "up.py")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]

        # The closing summary line, its counts those of the JUnit report, one testcase per check.
        junit = tmp_path / "verify.xml"
        run = drive.verify(decl, f"--junitxml={junit}")
        assert run.returncode == 0, run.stdout[-4000:]
        m = SUMMARY.search(run.stdout)
        assert m, f"no summary line:\n{run.stdout[-2000:]}"
        name, cni, backend, nodes, pods, checks, passed, skipped, failed = m.groups()
        assert (name, cni, backend) == (CLUSTER, "cilium", "netns")
        assert (int(nodes), int(pods)) == (len(lab.nodes), len(lab.pods))
        assert failed is None and m[0].endswith(", no failures") and int(passed) + int(skipped) == int(checks) > 0
        assert " failed" not in run.stdout  # as the whole-lab tests read a clean run
        cases = ET.parse(junit).getroot().findall(".//testcase")
        assert len(cases) == int(checks)
        assert len({_check_name(c) for c in cases}) == len(cases), "a check appears twice in the JUnit report"
        assert sum(1 for c in cases if c.find("skipped") is not None) == int(skipped)
        assert f"{passed} passed" in run.stdout  # pytest's own count agrees

        # --json: the same run as one document, each check by name.
        p, doc = _cli_json(decl)
        assert p.returncode == 0, p.stderr[-3000:]
        assert {k: doc[k] for k in ("lab", "cni", "backend", "nodes", "pods", "failed")} == {
            "lab": CLUSTER, "cni": "cilium", "backend": "netns", "nodes": len(lab.nodes), "pods": len(lab.pods), "failed": 0,
        }  # fmt: skip
        assert doc["checks"] == int(checks) == len(doc["results"]) == doc["passed"] + doc["skipped"]
        assert {r["check"] for r in doc["results"]} == {_check_name(c) for c in cases}
        assert all(r["outcome"] in ("passed", "skipped") for r in doc["results"])
        assert all(r.get("message") for r in doc["results"] if r["outcome"] == "skipped"), "a skip without its reason"

        # Break one object: the worker's route to the control plane's pod CIDR.
        worker = next(n for n in lab.nodes if n.name.endswith("-worker"))
        other = next(n for n in lab.nodes if n.name != worker.name)
        route = next(r for r in lab.cni.node_routes(worker.name) if r.dst == str(other.pod_cidr))
        argv = get_backend("netns").exec_argv(CLUSTER, worker.name, f"ip route del {route.dst}")
        gone = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert gone.returncode == 0, gone.stderr

        p, doc = _cli_json(decl)
        assert p.returncode == 1 == doc["exitstatus"], p.stderr[-3000:]
        check = "verify/cilium/test_routes.py::test_node_routes[worker]"
        failed = {r["check"]: r["message"] for r in doc["results"] if r["outcome"] == "failed"}
        assert check in failed, f"expected {check} to fail, failed: {sorted(failed)}"
        assert route.line() in failed[check] and "missing" in failed[check] and "\n" not in failed[check], failed[check]
        assert doc["failed"] == len(failed) and doc["passed"] + doc["skipped"] + doc["failed"] == doc["checks"]
        # pytest's own output (on stderr with --json) ends with the summary naming the failed check
        m = SUMMARY.search(p.stderr)
        assert m and int(m[9]) == len(failed), p.stderr[-3000:]
        assert f"  FAILED {check}: " in p.stderr, p.stderr[-3000:]
    finally:
        down = drive.pyinfra(inv, "down.py")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert drive.leftovers(CLUSTER) == {}, drive.leftovers(CLUSTER)
