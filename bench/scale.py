"""How a lab scales with its node count: `python -m bench.scale [--sizes 3,10,30,100]`.

For each size N, a VXLAN Cilium lab like inventories/cilium_vxlan.yaml is generated on the
fly on namespace nodes: kind's control-plane and N-1 workers (the control-plane untainted),
the DaemonSet `evescn` and its NodePort Service, and a Deployment `net` of N replicas, so
every node runs two pods. Each lab is named `cnilab-scale-<N>` on the underlay
192.168.220.0/24; sizes run one after another. Measured per size:

- up: `pyinfra deploys/up.py` from nothing, and the BPF objects it had to make (new
  entries in the compile cache) and, of those, the ones clang compiled (the templates);
- no-op up: a second up, which must change nothing;
- check: the tunnel map of every node against the model, and real pings between a fixed
  sample of pods on different nodes (from the pods' own namespaces);
- down: `pyinfra deploys/down.py`, after which nothing of the lab may be left;
- memory: the pyinfra process's peak RSS (its own rusage, children included), and the
  kernel's share of the running lab: the growth of unreclaimable slab, per-CPU and vmalloc
  memory from before up to the lab up, and the drop of MemAvailable (both noisy on a
  shared machine);
- per-node cost: the least-squares line of up time against N, and the marginal seconds
  per node between consecutive sizes (a linear cost keeps them about equal).

`scale()` returns a JSON-able dict; the command prints a table and saves build/bench_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from cnilab import drive
from cnilab.model import REPO_ROOT

SIZES = (3, 10, 30, 100)
UNDERLAY = "192.168.220.0/24"
PAIRS = 20  # cross-node pod pairs pinged per size
NET_IMAGE = "harbor.dayuan1997.com/devops/nettool:0.9"


def cluster_name(n: int) -> str:
    return f"cnilab-scale-{n}"


def declaration(n: int, underlay: str = UNDERLAY) -> dict:
    """The seed VXLAN lab (kube-proxy replacement, BPF masquerade) on n nodes, two pods each."""
    if n < 2:
        raise ValueError("a scale lab needs at least 2 nodes (pods on different nodes)")
    data = yaml.safe_load((REPO_ROOT / "inventories" / "cilium_vxlan.yaml").read_text())
    data["kind"]["name"] = cluster_name(n)
    data["kind"]["nodes"] = [{"role": "control-plane"}] + [{"role": "worker"} for _ in range(n - 1)]
    # Pods on the control-plane too: the DaemonSet puts one on every node, then the
    # Deployment's n replicas go one per node (fewest pods first).
    data["untaintControlPlane"] = True
    data["workloads"] = [w for w in data["workloads"] if w["kind"] != "Pod"] + [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "net", "labels": {"run": "net"}},
            "spec": {
                "replicas": n,
                "selector": {"matchLabels": {"run": "net"}},
                "template": {
                    "metadata": {"labels": {"run": "net"}},
                    "spec": {"containers": [{"name": "net", "image": NET_IMAGE}]},
                },
            },
        }
    ]
    data["backend"] = "netns"
    data["underlay"] = underlay
    return data


def write_lab(directory: Path, n: int, underlay: str = UNDERLAY) -> Path:
    """The declaration and its pyinfra inventory; returns the inventory path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = cluster_name(n)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(declaration(n, underlay), sort_keys=False))
    inv = directory / f"{name}.py"
    inv.write_text(drive.INVENTORY_PY)
    return inv


# --- measuring ------------------------------------------------------------------------------


def _pyinfra(inventory: Path, deploy: str, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess, int]:
    """pyinfra run as drive.pyinfra does; returns (seconds, process, peak RSS in KiB of its tree)."""
    argv = [sys.executable, "-m", "pyinfra", "-y", str(inventory), str(REPO_ROOT / "deploys" / deploy)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        deadline = t + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        done = subprocess.CompletedProcess(argv, p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    return seconds, done, usage.ru_maxrss


def _check(step: str, p: subprocess.CompletedProcess) -> None:
    if p.returncode != 0:
        raise RuntimeError(f"{step} failed (exit {p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")


def meminfo_kib() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0])
    return out


# What the kernel allocates for namespaces, devices, BPF maps and programs (not page cache,
# not user memory): unreclaimable slab, per-CPU areas, vmalloc.
KERNEL_KEYS = ("SUnreclaim", "Percpu", "VmallocUsed")


def _cache_root() -> Path:
    from cnilab.bpf.compile import cache_root

    return cache_root()


def _cache_entries() -> tuple[set[str], set[str]]:
    """The compile cache's entries: every object directory, and those clang compiled (the
    templates; the others are templates with a node's or endpoint's values written in)."""
    root = _cache_root()
    entries = {p.name for p in root.iterdir() if not p.name.startswith(".")} if root.is_dir() else set()
    templates = {e for e in entries if "as the template" in _read(root / e / "node_config.h")}
    return entries, templates


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def sample_pairs(lab, count: int = PAIRS, seed: str | None = None) -> list[tuple[str, str]]:
    """A fixed sample of (source pod, target pod) on different nodes; the first pair goes
    from the control-plane to the last node, so both ends of the node list are probed."""
    rng = random.Random(seed or lab.name)
    pods = lab.pods
    first = next(p for p in pods if p.node == lab.nodes[0].name), next(p for p in pods if p.node == lab.nodes[-1].name)
    pairs = [(first[0].name, first[1].name)]
    total = sum(1 for a in pods for b in pods if a.node != b.node) if len(pods) < 200 else None
    limit = min(count, total) if total is not None else count
    seen = set(pairs)
    while len(pairs) < limit:
        a, b = rng.choice(pods), rng.choice(pods)
        if a.node != b.node and (a.name, b.name) not in seen:
            seen.add((a.name, b.name))
            pairs.append((a.name, b.name))
    return pairs


def check_lab(declaration_path: Path, pairs: int = PAIRS, workers: int = 8, backend=None) -> dict:
    """The tunnel map of every node as the model wants it, and pings across a sample of
    cross-node pod pairs. Returns counts and the failures (empty lists when all is well).
    `backend`: a multi-host lab's (cnilab.inventory); else the one running it here."""
    from cnilab.cni.cilium import maps
    from cnilab.facts.bpf import MapEntries
    from cnilab.model import load_lab
    from cnilab.verify import find_backend

    lab = load_lab(declaration_path).cni
    backend = backend or find_backend(lab)

    def run_in(node: str, command: str) -> subprocess.CompletedProcess:
        p = backend.run_in(lab.name, node, command, check=False)
        return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))

    def tunnel(node: str) -> str | None:
        p = run_in(node, MapEntries().command(map_name=maps.TUNNEL_MAP))
        raw = MapEntries().process(p.stdout.splitlines()) if p.returncode == 0 else None
        if raw is None:
            return f"{node}: {maps.TUNNEL_MAP} is not pinned ({p.stderr.strip()})"
        got = {maps.TunnelEntry.unpack(k, v) for k, v in raw.items()}
        want = set(lab.tunnel_entries(node))
        if got != want:
            return f"{node}: tunnel map missing {sorted(map(str, want - got))[:3]}, unexpected {sorted(map(str, got - want))[:3]}"
        return None

    def ping(pair: tuple[str, str]) -> str | None:
        src, dst = lab.pod(pair[0]), lab.pod(pair[1])
        cmd = f"ip netns exec {shlex.quote(src.name)} ping -c1 -W2 {dst.ip}"
        p = run_in(src.node, cmd)
        return None if p.returncode == 0 else f"{src.name} -> {dst.name} ({dst.ip}): {(p.stdout + p.stderr).strip()[-200:]}"

    sample = sample_pairs(lab, pairs)
    with ThreadPoolExecutor(workers) as pool:
        tunnel_errors = [e for e in pool.map(tunnel, [n.name for n in lab.nodes]) if e]
        ping_errors = [e for e in pool.map(ping, sample) if e]
    return {
        "tunnel_maps_checked": len(lab.nodes),
        "tunnel_map_errors": tunnel_errors,
        "pings": len(sample),
        "ping_errors": ping_errors,
    }


def one_size(n: int, directory: Path, log=print, noop: bool = True) -> dict:
    inv = write_lab(directory, n)
    decl = inv.with_suffix(".yaml")
    name = cluster_name(n)
    from cnilab.model import load_lab

    lab = load_lab(decl).cni
    row: dict = {"nodes": n, "pods": len(lab.pods), "cluster": name}
    stale = drive.leftovers(name)
    if stale:
        raise RuntimeError(f"{name} is already on this machine ({stale}): take it down first (deploys/down.py)")
    mem0 = meminfo_kib()
    cached0 = _cache_entries()
    load0 = os.getloadavg()[0]
    down = None
    try:
        t, p, rss = _pyinfra(inv, "up.py")
        _check("up", p)
        row["up_s"] = round(t, 2)
        row["up_ops"] = drive.totals(p.stdout + p.stderr)
        row["pyinfra_max_rss_mib"] = round(rss / 1024, 1)
        entries, templates = _cache_entries()
        row["objects_built"] = len(entries - cached0[0])
        # clang runs: the objects in the new template entries (bpf_host and bpf_overlay
        # of one mode share an entry, as they share node_config.h).
        row["objects_compiled"] = sum(len(list((_cache_root() / e).glob("*.o"))) for e in templates - cached0[1])
        mem1 = meminfo_kib()
        row["mem_available_drop_mib"] = round((mem0["MemAvailable"] - mem1["MemAvailable"]) / 1024, 1)
        row["kernel_mib"] = round(sum(mem1.get(k, 0) - mem0.get(k, 0) for k in KERNEL_KEYS) / 1024, 1)
        log(
            f"  {n} nodes: up {t:.1f}s ({row['objects_built']} new BPF objects, {row['objects_compiled']} of them compiled), "
            f"pyinfra peak RSS {row['pyinfra_max_rss_mib']} MiB"
        )
        if noop:
            t, p, rss = _pyinfra(inv, "up.py")
            _check("no-op up", p)
            changed = drive.totals(p.stdout + p.stderr)["changed"]
            if changed:
                raise RuntimeError(f"the second up changed {changed} things")
            row["noop_up_s"] = round(t, 2)
            row["pyinfra_max_rss_mib"] = max(row["pyinfra_max_rss_mib"], round(rss / 1024, 1))
            log(f"  {n} nodes: no-op up {t:.1f}s")
        t0 = time.perf_counter()
        checked = check_lab(decl)
        row["check_s"] = round(time.perf_counter() - t0, 2)
        row["check"] = checked
        log(
            f"  {n} nodes: check {row['check_s']:.1f}s: {checked['tunnel_maps_checked']} tunnel maps, "
            f"{checked['pings']} cross-node pings, {len(checked['tunnel_map_errors']) + len(checked['ping_errors'])} failures"
        )
    finally:
        t, down, rss = _pyinfra(inv, "down.py")
        row["down_s"] = round(t, 2)
        row["pyinfra_max_rss_mib"] = max(row.get("pyinfra_max_rss_mib", 0), round(rss / 1024, 1))
        row["leftovers"] = drive.leftovers(name)
        row["load_avg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    _check("down", down)
    log(f"  {n} nodes: down {row['down_s']:.1f}s, left behind: {row['leftovers'] or 'nothing'}")
    if row["leftovers"]:
        raise RuntimeError(f"down left {row['leftovers']}")
    if row["check"]["tunnel_map_errors"] or row["check"]["ping_errors"]:
        raise RuntimeError(f"the lab of {n} nodes does not work: {row['check']}")
    return row


def fit(xs: list[float], ys: list[float]) -> dict:
    """Least squares y = a + b x, with R², and the marginal slope between consecutive points."""
    k = len(xs)
    mx, my = sum(xs) / k, sum(ys) / k
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    marginal = [round((ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]), 3) for i in range(k - 1)]
    return {
        "intercept_s": round(a, 2),
        "s_per_node": round(b, 3),
        "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else 1.0,
        "marginal_s_per_node": marginal,
        # Superlinear growth shows as a marginal cost still rising between the largest
        # sizes. (Between the smallest ones it rises anyway: a few nodes leave both CPUs
        # idle part of the time, and fixed costs weigh more.)
        "linear": len(marginal) < 2 or marginal[-1] <= 1.5 * max(marginal[-2], 0.05),
    }


def scale(sizes=SIZES, log=print, noop: bool = True) -> dict:
    """Bring up, check and take down a lab of each size in turn; the figures as a dict."""
    from cnilab.backends import get_backend

    get_backend("netns").check()
    sizes = sorted(set(int(n) for n in sizes))
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnilab-scale-") as tmp:
        for n in sizes:
            log(f"scale: {n} nodes, {2 * n} pods ...")
            rows.append(one_size(n, Path(tmp), log=log, noop=noop))
    result: dict = {
        "lab": "cilium_vxlan (VXLAN, kube-proxy replacement, BPF masquerade), netns nodes, 2 pods per node",
        "underlay": UNDERLAY,
        "cpus": os.cpu_count(),
        "cache": str(Path(os.environ.get("CNILAB_CACHE", "/var/cache/cnilab"))),
        "sizes": rows,
    }
    if len(rows) >= 2:
        xs = [r["nodes"] for r in rows]
        result["fit"] = {k: fit(xs, [r[k] for r in rows]) for k in ("up_s", "down_s") if all(k in r for r in rows)}
        if noop:
            result["fit"]["noop_up_s"] = fit(xs, [r["noop_up_s"] for r in rows])
    return result


def format_table(result: dict) -> str:
    cols = [
        ("nodes", "nodes", "{}"),
        ("pods", "pods", "{}"),
        ("up_s", "up s", "{:.1f}"),
        ("objects_built", "objects", "{}"),
        ("objects_compiled", "compiled", "{}"),
        ("noop_up_s", "no-op s", "{:.1f}"),
        ("check_s", "check s", "{:.1f}"),
        ("down_s", "down s", "{:.1f}"),
        ("up_per_node", "up s/node", "{:.2f}"),
        ("pyinfra_max_rss_mib", "pyinfra MiB", "{:.0f}"),
        ("kernel_mib", "kernel MiB", "{:.0f}"),
        ("mem_available_drop_mib", "MemAvail -MiB", "{:.0f}"),
        ("load", "load 1m", "{}"),
    ]
    lines = ["".join(f"{h:>14}" for _, h, _ in cols)]
    for r in result["sizes"]:
        r = dict(r, up_per_node=r["up_s"] / r["nodes"], load="/".join(f"{x:.1f}" for x in r["load_avg_1m"]))
        lines.append("".join(f"{(fmt.format(r[k]) if k in r else '-'):>14}" for k, _, fmt in cols))
    for k, f in result.get("fit", {}).items():
        lines.append(
            f"{k}: {f['intercept_s']} s + {f['s_per_node']} s/node (R² {f['r2']}), marginal s/node between sizes "
            f"{f['marginal_s_per_node']}: {'linear' if f['linear'] else 'growing faster than linear'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="node counts, comma separated (default %(default)s)")
    ap.add_argument("--no-noop", action="store_true", help="skip the second (no-op) up")
    ap.add_argument("--json", default="build/bench_scale.json")
    a = ap.parse_args(argv)
    result = scale([int(x) for x in a.sizes.split(",") if x], noop=not a.no_noop)
    print()
    print(format_table(result))
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nsaved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
