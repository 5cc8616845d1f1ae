"""Node and pod routes, line for line as Cilium installs them (seed 000: `ip r s`)."""

import pytest
import readers

from cnilab.model.lab import Route

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _lines(routes: list[dict], devs: set[str]) -> set[str]:
    return {
        Route(r["dst"], r["dev"], r["via"], r["src"], r["scope"], r["mtu"]).line()
        for r in routes
        if r["dev"] in devs and r["proto"] != "kernel"
    }


def test_node_routes(running_lab, lab, node):
    wanted = lab.node_routes(node) + lab.world_routes()
    want = {r.line() for r in wanted}
    devs = {r.dev for r in wanted}
    got = _lines(readers.routes(running_lab.host(node)), devs)
    assert got == want, f"{node}:\n missing: {sorted(want - got)}\n unexpected: {sorted(got - want)}"


def test_pod_routes(running_lab, lab, pod):
    p = lab.pod(pod)
    want = {r.line() for r in lab.pod_routes(pod)}
    got = _lines(readers.routes(running_lab.host(p.node), netns=pod), {"eth0"})
    assert got == want, f"pod {pod}:\n missing: {sorted(want - got)}\n unexpected: {sorted(got - want)}"


def test_nodes_have_no_route_out_of_the_lab(running_lab, lab, node):
    routes = readers.routes(running_lab.host(node))
    default = [r for r in routes if r["dst"] == "default"]
    assert not default, f"{node} has a default route out of the lab: {default}"
