"""`cnilab bench`: how long a lab takes, on each backend, printed as a table and saved as JSON.

For the seed VXLAN lab (a private copy, so a running lab of the user is never touched):
up from nothing (node image cached; the first run also with an empty BPF compile cache),
no-op up, verify (the whole suite), down. Medians over repeated runs.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from . import drive

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


def main(runs: int = 3, quick: bool = False, backends: list[str] | None = None, out: str = "build/bench.json") -> int:
    from .backends.base import BackendError, get_backend

    if quick:
        runs = 1
    results: dict[str, dict] = {}
    for backend in backends or ["netns", "docker"]:
        try:
            get_backend(backend).check()
        except BackendError as e:
            print(f"{backend}: skipped ({e})")
            continue
        if backend == "docker":
            from .image import ensure_node_image

            ensure_node_image()
        print(f"{backend}: {runs} runs of the seed lab (3 nodes, 3 pods) ...")
        t = lifecycle(backend, runs)
        results[backend] = {s: {"median_s": round(statistics.median(v), 2), "runs_s": [round(x, 2) for x in v]} for s, v in t.items() if v}

    names = {
        "up_cold_cache": "up from nothing, empty BPF cache",
        "up": "up from nothing (caches warm)",
        "noop_up": "no-op up",
        "verify": "verify (whole suite)",
        "down": "down",
    }
    cols = list(results)
    print()
    print(f"{'seed lab cilium_vxlan, median seconds':<40}" + "".join(f"{c:>10}" for c in cols))
    for s in STEPS:
        print(f"{names[s]:<40}" + "".join(f"{results[c][s]['median_s']:>10.2f}" if s in results[c] else f"{'-':>10}" for c in cols))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"lab": "cilium_vxlan", "runs": runs, "results": results}, indent=2))
    print(f"\nsaved {out}")
    if results:
        summary = "; ".join(f"{c}: up {results[c]['up']['median_s']}s, no-op {results[c]['noop_up']['median_s']}s" for c in cols)
        print(f"summary: {summary}")
    return 0
