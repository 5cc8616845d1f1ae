"""The Calico bench, for real on one lab: figures come out (lifecycle, BGP convergence,
pod and underlay throughput) and the lab leaves nothing."""

from __future__ import annotations

import json

from bench import calico as bench_calico
from labs import leftovers


def test_calico_bench_reports_figures_and_leaves_nothing(monkeypatch):
    monkeypatch.setitem(bench_calico.LABS, "calico_bgp", ("cnilab-t-bcalico", "172.28.3.0/24"))
    lines = []
    result = bench_calico.calico(runs=1, seconds=1, seeds=("calico_bgp",), log=lines.append)
    json.dumps(result)  # JSON-able, as `cnilab bench` saves it
    r = result["calico_bgp"]
    assert all(len(r[k]) == 1 and r[k][0] > 0 for k in ("up", "noop_up", "verify", "down")), r
    # BIRD's connect delay alone is 2 s; a minute is the bench's own limit.
    assert 0 < r["bgp_convergence"] < 60, r
    tp = r["throughput"]
    # The ratio is of the unrounded rates: within rounding of the rounded ones.
    assert tp["underlay_gbps"] > 0 and tp["pod_gbps"] > 0 and abs(tp["ratio"] - tp["pod_gbps"] / tp["underlay_gbps"]) < 0.011, tp
    assert "calico_bgp" in bench_calico.format_table(result) and lines
    assert leftovers("cnilab-t-bcalico") == {}
