"""Multi-host scale: `python -m bench.multihost [--nodes 100] [--machines 4]`.

The scale lab (bench/scale.py: VXLAN, kube-proxy replacement, 2 pods per node) of N nodes,
first on one machine of the SSH test bed, then spread over M machines, in one run: up,
no-op up, check (every node's tunnel map, 20 cross-node pod pings), down, and the per-node
cost of up. Every machine is reached the same way (pyinfra's SSH connector), so the two
rows differ only in the number of machines. All the test-bed machines share this box's
CPUs, so spreading cannot make a lab faster here; the point is that the per-node cost does
not grow with the number of machines (the ratio of the two per-node costs near 1).

Starts its own test bed (`scripts/ssh-testbed`) and takes it down; refuses to run while
one is up (it is someone's).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from cnilab import drive, testbed
from cnilab.inventory import read_inventory
from cnilab.model import REPO_ROOT

from . import scale

UNDERLAY = "192.168.221.0/24"


def _write(directory: Path, nodes: int, machines: int) -> Path:
    name = f"cnilab-mh{machines}-{nodes}"
    data = scale.declaration(nodes, UNDERLAY)
    data["kind"]["name"] = name
    decl = directory / f"{name}.yaml"
    decl.write_text(yaml.safe_dump(data, sort_keys=False))
    inv = directory / f"{name}.py"
    inv.write_text(
        "from cnilab.placement import lab_group, testbed_machines\n"
        f"nodes = lab_group({str(decl)!r}, testbed_machines()[:{machines}], backend='netns')\n"
    )
    return inv


def _leftovers(inv) -> dict:
    lab = inv.lab
    found = {}
    for name in inv.placement.used():
        out = inv.placement.machine(name).sh(f"ip netns list | grep -c '^{lab.name}-' || true; ls /run/cnilab 2>/dev/null || true")
        left = [x for x in out.stdout.decode().split() if x != "0"]
        if left:
            found[name] = left
    return found


def one(directory: Path, nodes: int, machines: int, log=print) -> dict:
    inv_path = _write(directory, nodes, machines)
    inv = read_inventory(inv_path)
    row: dict = {"nodes": nodes, "machines": machines, "pods": len(inv.lab.pods),
                 "nodes_per_machine": {m: len(inv.placement.nodes_on(m)) for m in inv.placement.used()}}
    down = None
    try:
        t, p, rss = scale._pyinfra(inv_path, "up.py")
        scale._check("up", p)
        row["up_s"] = round(t, 2)
        row["pyinfra_max_rss_mib"] = round(rss / 1024, 1)
        log(f"  {nodes} nodes on {machines} machine(s): up {t:.1f}s")
        t, p, rss = scale._pyinfra(inv_path, "up.py")
        scale._check("no-op up", p)
        changed = drive.totals(p.stdout + p.stderr)["changed"]
        if changed:
            raise RuntimeError(f"the second up changed {changed} things")
        row["noop_up_s"] = round(t, 2)
        log(f"  {nodes} nodes on {machines} machine(s): no-op up {t:.1f}s")
        t0 = time.perf_counter()
        row["check"] = scale.check_lab(inv_path.with_suffix(".yaml"), backend=inv.backend())
        row["check_s"] = round(time.perf_counter() - t0, 2)
        c = row["check"]
        log(f"  {nodes} nodes on {machines} machine(s): check {row['check_s']:.1f}s, "
            f"{len(c['tunnel_map_errors']) + len(c['ping_errors'])} failures")
    finally:
        t, down, rss = scale._pyinfra(inv_path, "down.py")
        row["down_s"] = round(t, 2)
        row["leftovers"] = _leftovers(inv)
    scale._check("down", down)
    log(f"  {nodes} nodes on {machines} machine(s): down {row['down_s']:.1f}s, left behind: {row['leftovers'] or 'nothing'}")
    if row["leftovers"]:
        raise RuntimeError(f"down left {row['leftovers']}")
    if row["check"]["tunnel_map_errors"] or row["check"]["ping_errors"]:
        raise RuntimeError(f"the lab of {nodes} nodes over {machines} machines does not work: {row['check']}")
    row["up_s_per_node"] = round(row["up_s"] / nodes, 3)
    return row


def multihost(nodes: int = 100, machines: int = 4, log=print) -> dict:
    if testbed.machines():
        raise RuntimeError("a test bed is up (someone's): `scripts/ssh-testbed down` first")
    t0 = time.perf_counter()
    tb = testbed.up(machines, log=lambda m: None)
    rows = []
    try:
        log(f"multihost: test bed of {machines} machines up in {time.perf_counter() - t0:.1f}s")
        with tempfile.TemporaryDirectory(prefix="cnilab-mh-") as tmp:
            for k in (1, machines):
                rows.append(one(Path(tmp), nodes, k, log=log))
    finally:
        testbed.down(log=lambda m: None)
    one_m, many = rows
    return {
        "lab": f"scale lab (bench/scale.py), {nodes} netns nodes, 2 pods per node",
        "testbed_machines": [m.name for m in tb.machines],
        "rows": rows,
        "per_node_cost_ratio": round(many["up_s_per_node"] / one_m["up_s_per_node"], 2),
    }


def format_table(result: dict) -> str:
    lines = ["| machines | nodes | up s | s/node | no-op up s | check s | down s |", "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['machines']} | {r['nodes']} | {r['up_s']} | {r['up_s_per_node']} | {r['noop_up_s']} | {r['check_s']} | {r['down_s']} |")
    lines.append(f"per-node cost over {result['rows'][-1]['machines']} machines ÷ on 1: {result['per_node_cost_ratio']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.multihost", description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--machines", type=int, default=4)
    ap.add_argument("--json", default="build/bench_multihost.json")
    a = ap.parse_args(argv)
    result = multihost(a.nodes, a.machines)
    print(format_table(result))
    out = REPO_ROOT / a.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
