"""Helpers for tests that drive whole labs: a private copy of a seed declaration, the
pyinfra and pytest commands a user runs, and a look at what a lab left on the machine."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from cnilab.drive import leftovers, private_lab, pyinfra, totals, verify  # noqa: F401  (re-exported for the tests)
from cnilab.model import load_lab


def docker_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def dump(p: subprocess.CompletedProcess) -> str:
    return json.dumps({"rc": p.returncode, "stdout": p.stdout[-4000:], "stderr": p.stderr[-4000:]}, indent=1)


def round_trip(inv, cluster: str) -> dict[str, int]:
    """What a user does with a lab, checked: up, verify (no failure, and no skip its
    declaration does not explain), up again (changes nothing), down, nothing left. Returns
    the first up's totals."""
    try:
        up = pyinfra(inv, "up.py")
        assert up.returncode == 0, f"up failed:\n{dump(up)}"
        first = totals(up.stdout + up.stderr)
        junit = inv.with_name(f"{inv.stem}-verify.xml")
        v = verify(inv.with_suffix(".yaml"), f"--junitxml={junit}")
        assert v.returncode == 0, f"verify failed:\n{v.stdout[-6000:]}"
        assert " passed" in v.stdout and " failed" not in v.stdout
        check_skips(load_lab(inv.with_suffix(".yaml")), v.stdout, junit)
        again = pyinfra(inv, "up.py")
        t = totals(again.stdout + again.stderr)
        assert again.returncode == 0 and (t["changed"], t["error"]) == (0, 0), f"second up changed something: {t}\n{again.stderr[-4000:]}"
    finally:
        down = pyinfra(inv, "down.py")
    assert down.returncode == 0, f"down failed:\n{dump(down)}"
    assert leftovers(cluster) == {}, f"the lab left things behind: {leftovers(cluster)}"
    return first


# Skips a whole-lab verify may make, each for a reason its declaration gives: the check has
# nothing to probe in this lab (test function -> why). Any other skip fails the test: a
# check whose feature the lab declares must pass or fail, never skip.
def expected_skips(lab) -> dict[str, str]:
    pods = lab.pods
    same = any(a.node == b.node and a.name != b.name for a in pods for b in pods)
    cross = any(a.node != b.node for a in pods for b in pods)
    out: dict[str, str] = {}
    if not same:
        out["test_pod_to_pod_same_node"] = "no two pods share a node"
    if not cross:
        out["test_pod_to_pod_cross_node"] = "no two pods on different nodes"
        out["test_a_cross_node_ping_is_tracked_on_both_nodes"] = "no two pods on different nodes"
    if not pods:
        out["test_node_to_pod"] = "no pods"
    if not lab.services:
        out["test_service_answers_from_a_backend"] = "no Services declared (empty parameter set)"
    mode = getattr(lab.cni, "mode", None) if lab.decl.cni.plugin == "cilium" else None
    if mode is not None:
        if mode.tunnelled or not cross:
            out["test_native_routing_crosses_unencapsulated"] = "a tunnel lab" if mode.tunnelled else "no cross-node pair"
        if not mode.tunnelled or not cross:
            out["test_vxlan_vni_is_the_source_identity_and_inner_macs_are_the_pods"] = "not a tunnel lab" if not mode.tunnelled else "no cross-node pair"
        if not cross or (mode.tunnelled and mode.host_routing == "legacy"):
            out["test_pod_traffic_climbs_the_stack_only_with_legacy_host_routing"] = (
                "no cross-node pair" if not cross else "legacy host routing with a tunnel: encapsulation is decided in BPF before the stack")
        if mode.masquerade != "bpf" or mode.tunnelled or not any(p.node != lab.nodes[0].name for p in pods):
            out["test_pod_to_the_control_plane_keeps_its_address"] = "not BPF masquerade in native routing, or no pod off the control plane"
        from cnilab.cni.cilium.monitor_expect import applies

        why = applies(lab.cni) or (None if cross else "no two pods on different nodes")
        if why:
            out["test_a_cross_node_ping_reads_as_seed_000"] = why
        if mode.masquerade is None:
            out["test_pod_to_world_takes_the_node_address"] = "masquerade disabled"
            out["test_the_nat_is_where_the_mode_puts_it"] = "masquerade disabled"
    return out


def skipped_checks(junit: Path) -> list[tuple[str, str]]:
    """(test id, skip message) of every skipped testcase in pytest's JUnit report."""
    found = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        skip = case.find("skipped")
        if skip is not None:
            found.append((f"{case.get('classname')}::{case.get('name')}", skip.get("message", "")))
    return found


def check_skips(lab, stdout: str, junit: Path) -> None:
    """Every skip of a verify run is one `expected_skips` allows; the closing summary line
    counts as many skips as the JUnit report lists."""
    skipped = skipped_checks(junit)
    m = re.search(r"(\d+) skipped", stdout.strip().splitlines()[-1])
    assert (int(m[1]) if m else 0) == len(skipped), f"summary and JUnit report disagree on skips: {stdout.strip().splitlines()[-1]!r} vs {skipped}"
    allowed = expected_skips(lab)
    unexpected = [(t, msg) for t, msg in skipped if t.split("::")[-1].split("[")[0] not in allowed]
    assert not unexpected, "verify skipped checks it should have run:\n" + "\n".join(f"  {t}: {msg}" for t, msg in unexpected)


def break_and_heal(inv, node: str, command: str) -> None:
    """Break a running lab with ``command`` in ``node``, then check that verify notices, that
    `up` changes something, and that verify passes again."""
    from cnilab.backends import get_backend
    from cnilab.model import load_lab

    lab = load_lab(inv.with_suffix(".yaml"))
    backend = get_backend(lab.decl.backend)
    p = subprocess.run(backend.exec_argv(lab.name, node, command), capture_output=True, text=True)
    assert p.returncode == 0, f"could not break the lab with {command!r}: {p.stderr}"
    broken = verify(inv.with_suffix(".yaml"))
    assert broken.returncode != 0, f"verify did not notice: {command}"
    up = pyinfra(inv, "up.py")
    assert up.returncode == 0, dump(up)
    assert totals(up.stdout + up.stderr)["changed"] > 0
    healed = verify(inv.with_suffix(".yaml"))
    assert healed.returncode == 0, f"after up, verify still fails:\n{healed.stdout[-5000:]}"
