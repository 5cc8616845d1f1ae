"""`cnilab bench`: the project's figures, printed as tables and saved as one JSON file.

- lifecycle: for the seed VXLAN lab (a private copy, so a running lab of the user is never
  touched) on each backend: up from nothing (node image cached; the first run also with an
  empty BPF compile cache), no-op up, verify (the whole suite), down; medians of runs;
- scale: labs of 3, 10, 30 and 100 namespace nodes (bench/scale.py);
- throughput: iperf3 between pods on every datapath, as ratios (bench/datapath.py);
- per-program: ns per packet of each BPF program (bench/datapath.py);
- calico: the Calico labs' lifecycle, BGP convergence and throughput per mode (bench/calico.py);
- multihost: the scale lab of 100 nodes on one SSH test-bed machine, then over 4 (bench/multihost.py).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from cnilab import drive

LABS = {"netns": ("cnilab-bench-ns", "192.168.206.0/24"), "docker": ("cnilab-bench-dk", "192.168.207.0/24")}
STEPS = ("up_cold_cache", "up", "noop_up", "verify", "down")


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t, result


def _check(step: str, p) -> None:
    if p.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")


def lifecycle(backend: str, runs: int, log=print) -> dict[str, list[float]]:
    cluster, underlay = LABS[backend]
    times: dict[str, list[float]] = {s: [] for s in STEPS}
    with tempfile.TemporaryDirectory(prefix="cnilab-bench-") as tmp:
        inv = drive.private_lab(Path(tmp), "cilium_vxlan", cluster, underlay, backend)
        decl = inv.with_suffix(".yaml")
        for run in range(runs + 1):
            cold = run == 0
            if cold:
                # An empty compile cache: every object compiled with clang.
                os.environ["CNILAB_CACHE"] = str(Path(tmp) / "cache")
            try:
                t, p = _timed(drive.pyinfra, inv, "up.py")
                _check("up", p)
                times["up_cold_cache" if cold else "up"].append(t)
                if not cold:
                    t, p = _timed(drive.pyinfra, inv, "up.py")
                    _check("no-op up", p)
                    if drive.totals(p.stdout + p.stderr)["changed"]:
                        raise RuntimeError("the second up changed something")
                    times["noop_up"].append(t)
                    t, p = _timed(drive.verify, decl)
                    _check("verify", p)
                    times["verify"].append(t)
            finally:
                t, p = _timed(drive.pyinfra, inv, "down.py")
                if cold:
                    os.environ.pop("CNILAB_CACHE", None)
            _check("down", p)
            times["down"].append(t)
            log(f"  {backend} run {run + 1}/{runs + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in times.items() if v))
    return times


LIFECYCLE_NAMES = {
    "up_cold_cache": "up from nothing, empty BPF cache",
    "up": "up from nothing (caches warm)",
    "noop_up": "no-op up",
    "verify": "verify (whole suite)",
    "down": "down",
}
PARTS = ("lifecycle", "scale", "throughput", "per-program", "calico", "multihost")
FULL_SIZES = (3, 10, 30, 100)
QUICK_SIZES = (3, 10)


def run_lifecycle(runs: int, backends: list[str] | None) -> dict:
    from cnilab.backends import BackendError, get_backend

    results: dict[str, dict] = {}
    for backend in backends or ["netns", "docker"]:
        try:
            get_backend(backend).check()
        except BackendError as e:
            print(f"{backend}: skipped ({e})")
            continue
        if backend == "docker":
            from cnilab.image import ensure_node_image

            ensure_node_image()
        print(f"{backend}: {runs} runs of the seed lab (3 nodes, 3 pods) ...")
        t = lifecycle(backend, runs)
        results[backend] = {s: {"median_s": round(statistics.median(v), 2), "runs_s": [round(x, 2) for x in v]} for s, v in t.items() if v}
    return results


def format_lifecycle(results: dict) -> str:
    cols = list(results)
    lines = [f"{'seed lab cilium_vxlan, median seconds':<40}" + "".join(f"{c:>10}" for c in cols)]
    for s in STEPS:
        lines.append(f"{LIFECYCLE_NAMES[s]:<40}" + "".join(f"{results[c][s]['median_s']:>10.2f}" if s in results[c] else f"{'-':>10}" for c in cols))
    return "\n".join(lines)


def summary(out: dict) -> str:
    """One line: the figures the aims are about."""
    parts = []
    for backend, r in out.get("lifecycle", {}).items():
        parts.append(f"{backend} up {r['up']['median_s']}s, no-op {r['noop_up']['median_s']}s")
    sc = out.get("scale")
    if sc and sc.get("sizes"):
        biggest = sc["sizes"][-1]
        fit = sc.get("fit", {}).get("up_s") or {}
        parts.append(f"{biggest['nodes']} nodes up {biggest['up_s']}s" + (f" ({fit['s_per_node']} s/node, R² {fit['r2']})" if fit else ""))
    tp = out.get("throughput")
    if tp and "bpf_vxlan / kernel_vxlan" in tp.get("ratios", {}):
        parts.append(f"BPF VXLAN ÷ kernel VXLAN {tp['ratios']['bpf_vxlan / kernel_vxlan']:.2f}")
    pp = out.get("per_program")
    if pp:
        rows = [r for lab in pp["labs"].values() for r in lab["rows"] if r["section"] == "from-container" and r["hot_ns"]]
        if rows:
            parts.append(f"from-container {rows[0]['hot_ns']:.0f} ns/packet ({rows[0]['what']})")
    ca = out.get("calico")
    if ca:
        conv = [r["bgp_convergence"] for r in ca.values() if "bgp_convergence" in r]
        ratios = ", ".join(f"{seed.removeprefix('calico_')} {r['throughput']['ratio']:.2f}" for seed, r in ca.items())
        parts.append(f"Calico BGP convergence {max(conv)}s, pod ÷ underlay {ratios}")
    mh = out.get("multihost")
    if mh:
        one, many = mh["rows"][0], mh["rows"][-1]
        parts.append(f"{many['nodes']} nodes over {many['machines']} machines up {many['up_s']}s "
                     f"({many['up_s_per_node']} s/node; on 1 machine {one['up_s_per_node']}, ratio {mh['per_node_cost_ratio']})")
    return "summary: " + "; ".join(parts)


def main(runs: int = 3, quick: bool = False, backends: list[str] | None = None, out: str = "build/bench.json",
         parts: list[str] | None = None) -> int:  # fmt: skip
    """`cnilab bench`: every part in turn, each printed as it ends, all saved to `out`.
    `quick` runs a reduced set (one lifecycle run, 3 and 10 nodes, short iperf3 runs,
    fewer BPF repeats) in a few minutes."""
    from . import datapath as bench_datapath
    from . import scale as bench_scale

    parts = parts or list(PARTS)
    if quick:
        runs = 1
    t0 = time.perf_counter()
    result: dict = {"quick": quick, "runs": runs, "loadavg_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}

    def save() -> None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2))

    if "lifecycle" in parts:
        print("== lab lifecycle ==")
        result["lifecycle"] = run_lifecycle(runs, backends)
        print(format_lifecycle(result["lifecycle"]) + "\n")
        save()
    if "scale" in parts:
        print("== scale on namespace nodes ==")
        result["scale"] = bench_scale.scale(sizes=QUICK_SIZES if quick else FULL_SIZES, noop=not quick)
        print(bench_scale.format_table(result["scale"]) + "\n")
        save()
    if "throughput" in parts:
        print("== datapath throughput ==")
        result["throughput"] = bench_datapath.throughput(seconds=2 if quick else 3, rounds=1 if quick else 3)
        print(bench_datapath.format_throughput(result["throughput"]) + "\n")
        save()
    if "per-program" in parts:
        print("== BPF programs, per packet ==")
        sizes = bench_datapath.QUICK if quick else bench_datapath.Sizes()
        result["per_program"] = bench_datapath.per_program(log=lambda line: None, sizes=sizes)
        print(bench_datapath.format_per_program(result["per_program"]) + "\n")
        save()
    if "calico" in parts:
        from . import calico as bench_calico

        print("== Calico labs (namespace nodes) ==")
        result["calico"] = bench_calico.calico(runs=1 if quick else runs, seconds=2 if quick else 3)
        print(bench_calico.format_table(result["calico"]) + "\n")
        save()
    if "multihost" in parts:
        from . import multihost as bench_multihost

        print("== multi-host: the scale lab on 1 machine, then on 4 (SSH test bed) ==")
        result["multihost"] = bench_multihost.multihost(nodes=30 if quick else 100, machines=4)
        print(bench_multihost.format_table(result["multihost"]) + "\n")
        save()
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    save()
    print(f"saved {out} ({result['seconds']} s)")
    print(summary(result))
    return 0


def cli(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="cnilab bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="lifecycle runs per backend (median)")
    ap.add_argument("--quick", action="store_true", help="a reduced set in a few minutes")
    ap.add_argument("--backend", action="append", choices=["netns", "docker"], help="lifecycle on this backend only")
    ap.add_argument("--only", action="append", choices=list(PARTS))
    ap.add_argument("--json", default="build/bench.json")
    a = ap.parse_args(argv)
    return main(a.runs, a.quick, a.backend, a.json, a.only)
