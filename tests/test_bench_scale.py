"""The scale bench, for real at small sizes: it brings labs up, checks and takes them down,
reports its figures, and leaves nothing behind."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from bench import scale as bench_scale
from cnilab.model import build_lab, parse_declaration
from labs import leftovers


def test_the_generated_lab_has_two_pods_on_every_node():
    lab = build_lab(parse_declaration(bench_scale.declaration(7)), "scale").cni
    assert lab.name == "cnilab-scale-7" and str(lab.underlay) == bench_scale.UNDERLAY
    assert [n.role for n in lab.nodes] == ["control-plane"] + ["worker"] * 6
    assert Counter(p.node for p in lab.pods) == {n.name: 2 for n in lab.nodes}
    assert lab.mode.tunnelled and lab.decl.backend == "netns"
    pairs = bench_scale.sample_pairs(lab)
    assert len(pairs) == bench_scale.PAIRS == len(set(pairs))
    assert all(lab.pod(a).node != lab.pod(b).node for a, b in pairs)
    assert lab.pod(pairs[0][0]).node == lab.nodes[0].name and lab.pod(pairs[0][1]).node == lab.nodes[-1].name


def test_fit_tells_linear_from_faster_growth():
    assert bench_scale.fit([10, 30, 100], [5, 11, 32])["linear"]
    grows = bench_scale.fit([10, 30, 100], [5, 11, 60])
    assert not grows["linear"] and grows["marginal_s_per_node"] == [0.3, 0.7]


@pytest.mark.skipif(os.geteuid() != 0, reason="namespace nodes need root")
def test_scale_bench_reports_figures_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines: list[str] = []
    result = bench_scale.scale(sizes=(2, 4), log=lines.append)
    json.dumps(result)  # JSON-able, as `cnilab bench` saves it

    rows = {r["nodes"]: r for r in result["sizes"]}
    assert set(rows) == {2, 4}
    for n, r in rows.items():
        assert r["pods"] == 2 * n
        for key in ("up_s", "noop_up_s", "check_s", "down_s", "pyinfra_max_rss_mib"):
            assert r[key] > 0, (key, r)
        assert r["up_ops"]["error"] == 0 and r["up_ops"]["changed"] > 0
        assert r["check"]["tunnel_maps_checked"] == n
        assert r["check"]["pings"] == min(bench_scale.PAIRS, 2 * n * (2 * n - 2))
        assert r["check"]["tunnel_map_errors"] == [] and r["check"]["ping_errors"] == []
        assert r["leftovers"] == {}
        assert leftovers(bench_scale.cluster_name(n)) == {}
    assert result["fit"]["up_s"]["s_per_node"] is not None
    table = bench_scale.format_table(result)
    assert "up s/node" in table and "up_s:" in table
    assert any("4 nodes: down" in line for line in lines)
