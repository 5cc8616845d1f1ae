"""Calico labs in figures: `python -m bench --only calico`.

- lifecycle: each Calico declaration (a private copy on namespace nodes): up from nothing,
  no-op up, verify (the whole suite), down;
- BGP convergence: in a running BGP lab, every BIRD stopped and the routes BIRD owns removed
  from every kernel, then every BIRD started at once: seconds until every expected route is
  back in every kernel (BIRD's `connect delay time 2` is most of it);
- throughput: iperf3 TCP from a pod to a pod on another node, per mode, as a ratio to the same
  two nodes talking over the underlay.
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from cnilab import drive

from .datapath import BenchError, Place, iperf3, lab_pod_place

LABS = {
    "calico_ipip": ("cnilab-bench-cip", "172.27.1.0/24"),
    "calico_bgp": ("cnilab-bench-cbgp", "172.27.2.0/24"),
    "calico_vxlan": ("cnilab-bench-cvx", "172.27.3.0/24"),
    "calico_rr": ("cnilab-bench-crr", "172.27.4.0/24"),
}


def _timed(fn, *args):
    t = time.perf_counter()
    p = fn(*args)
    if p.returncode != 0:
        raise BenchError(f"{fn.__name__} failed:\n{(p.stdout + p.stderr)[-3000:]}")
    return time.perf_counter() - t, p


def _node_place(backend, lab, node) -> Place:
    return Place(f"{lab.name}/{node.k8s_name}", str(node.ip), lambda words: backend.exec_argv(lab.name, node.name, f"exec {shlex.join(words)}"), 1500)


def convergence(backend, lab) -> float:
    """Seconds from starting every node's BIRD (routes BIRD owns gone) to every route back."""
    from cnilab.cni.calico.plan import BIRD_CONFIG, BIRD_PIDFILE, BIRD_SOCKET

    c = lab.cni

    def run(node, command):
        p = subprocess.run(backend.exec_argv(lab.name, node, command), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise BenchError(f"{node}: {command}: {p.stderr.strip()}")
        return p.stdout

    for n in c.nodes:
        run(n.name, f"p=$(cat {BIRD_PIDFILE}) && kill $p && while [ -e /proc/$p ] && [ \"$(cut -d' ' -f3 /proc/$p/stat)\" != Z ]; do sleep 0.02; done; "
                    "ip route flush proto bird")  # fmt: skip
    start = [backend.exec_argv(lab.name, n.name, f"bird -c {BIRD_CONFIG} -s {BIRD_SOCKET} -P {BIRD_PIDFILE}") for n in c.nodes]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(argv) for argv in start]
    for p in procs:
        p.wait(timeout=30)
    want = {n.name: {r.line() for r in c.bird_routes(n.name)} for n in c.nodes}
    deadline = t0 + 60
    while time.perf_counter() < deadline:
        done = all(want[n] <= {line.rstrip() for line in run(n, "ip -4 route show").splitlines()} for n in want)
        if done:
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise BenchError(f"{lab.name}: routes not back in every kernel after 60 s")


def one_lab(seed: str, runs: int, seconds: float, log=print) -> dict:
    from cnilab.backends import get_backend
    from cnilab.model import load_lab
    from cnilab.verify import cross_node_pair

    cluster, underlay = LABS[seed]
    out: dict = {"up": [], "noop_up": [], "verify": [], "down": []}
    backend = get_backend("netns")
    with tempfile.TemporaryDirectory(prefix="cnilab-bench-") as tmp:
        inv = drive.private_lab(Path(tmp), seed, cluster, underlay, "netns")
        lab = load_lab(inv.with_suffix(".yaml"))
        for run in range(runs):
            try:
                t, _ = _timed(drive.pyinfra, inv, "up.py")
                out["up"].append(t)
                t, p = _timed(drive.pyinfra, inv, "up.py")
                if drive.totals(p.stdout + p.stderr)["changed"]:
                    raise BenchError(f"{seed}: the second up changed something")
                out["noop_up"].append(t)
                t, _ = _timed(drive.verify, inv.with_suffix(".yaml"))
                out["verify"].append(t)
                if run == runs - 1:
                    if lab.cni.mode.bird:
                        out["bgp_convergence"] = round(convergence(backend, lab), 2)
                    a, b = cross_node_pair(lab.cni)
                    pods = [lab_pod_place(backend, lab.name, p.node, p.name, str(p.ip), lab.cni.mode.mtu) for p in (a, b)]
                    nodes = [_node_place(backend, lab, lab.cni.node(p.node)) for p in (a, b)]
                    under = iperf3(nodes[0], nodes[1], seconds)
                    pod = iperf3(pods[0], pods[1], seconds)
                    out["throughput"] = {"underlay_gbps": round(under["gbps"], 2), "pod_gbps": round(pod["gbps"], 2),
                                         "ratio": round(pod["gbps"] / under["gbps"], 2), "pod_retransmits": pod["retransmits"]}  # fmt: skip
            finally:
                t, _ = _timed(drive.pyinfra, inv, "down.py")
                out["down"].append(t)
        left = drive.leftovers(cluster)
        if left:
            raise BenchError(f"{seed}: the lab left {left}")
    log(f"  {seed}: up {statistics.median(out['up']):.2f}s, convergence {out.get('bgp_convergence', '-')}s, "
        f"pod/underlay {out['throughput']['ratio']}")  # fmt: skip
    return out


def calico(runs: int = 1, seconds: float = 2, seeds: tuple[str, ...] = tuple(LABS), log=print) -> dict:
    return {seed: one_lab(seed, runs, seconds, log) for seed in seeds}


def format_table(result: dict) -> str:
    rows = [("lab", "up s", "no-op s", "verify s", "down s", "BGP convergence s", "pod Gbit/s", "underlay Gbit/s", "ratio")]
    for seed, r in result.items():
        med = lambda k: f"{statistics.median(r[k]):.2f}"  # noqa: E731
        tp = r["throughput"]
        rows.append((seed, med("up"), med("noop_up"), med("verify"), med("down"), str(r.get("bgp_convergence", "-")),
                     f"{tp['pod_gbps']:.2f}", f"{tp['underlay_gbps']:.2f}", f"{tp['ratio']:.2f}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
