"""Datapath performance: TCP throughput between pods over real packets, and the cost of
each BPF program per packet.

`throughput()` measures iperf3 TCP between pods, on every path a pod's traffic can take,
in one run:

- ``bpf_vxlan``: pods on two nodes of a private copy of the seed lab ``cilium_vxlan``
  (our from-container -> cilium_vxlan (flow-based) -> from-overlay -> bpf_redirect_peer);
- ``kernel_vxlan``: the classic kernel VXLAN path, built here and torn down here: two
  "node" namespaces on a bridge, each with a kernel vxlan device (``id 42 dstport 8472``,
  static all-zero FDB entry to the other node), and a pod namespace behind a veth, routed
  by the node's stack (as flannel's vxlan backend does);
- ``native_legacy``: pods on two nodes of a copy of ``cilium_kubeproxy`` (native routing,
  legacy host routing: every packet climbs the node's stack);
- ``native_bpf``: the same on a copy of ``cilium_kpr_ebpf`` (BPF host routing:
  bpf_redirect_neigh to eth0, bpf_redirect_peer into the pod);
- ``same_node``: two pods on one node of the VXLAN lab (the worker runs ``net`` and
  the DaemonSet's pod);
- ``underlay``: the baseline, node to node over the underlay (veth - bridge - veth,
  MTU 1500, no pod, no tunnel), in the kernel VXLAN namespaces.

Every figure is also given as a ratio to the baseline, and the run reports BPF VXLAN ÷
kernel VXLAN and BPF ÷ legacy host routing (per round, paths measured back to back, then
the median). TCP's retransmissions on these paths are spurious ones (every retransmitted
segment comes back DSACKed, nstat TcpExtTCPDSACKRecvSegs): veths hand packets to the
backlog of whichever CPU the sender runs on, and a sender moving between CPUs reorders
its own stream; nothing is dropped. Each path's MTU is checked against what it
implies (1450-byte routes in the pods of a VXLAN path, 1500 natively) and against the MSS
iperf3 negotiated.

All traffic stays inside namespaces made for the run: the labs' (cluster names
``cnilab-tput-*``, underlays 192.168.210.0/24 .. 192.168.214.0/24) and the kernel VXLAN
ones (``cnilab-tput-*``). Nothing touches the host's interfaces, routes or iptables.
iperf3 servers are processes started here, stopped by their PID.

`per_program()` runs each BPF program section through BPF_PROG_TEST_RUN (see
:func:`per_program`).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import os
import shlex
import signal
import statistics
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnilab import drive

PREFIX = "cnilab-tput-"
IPERF_PORT = 5201
VXLAN_MTU = 1450  # 1500 - 50 bytes of outer Ethernet, IP, UDP and VXLAN headers
NATIVE_MTU = 1500


class BenchError(RuntimeError):
    pass


# --- where a command runs ---------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """One end of a measurement: a network namespace holding ``ip``, and how to run a
    program in it. ``argv(words)`` returns an argv that *execs* the program there (no shell
    left in between), so the PID of the process started is the program's own."""

    label: str
    ip: str
    argv: Callable[[list[str]], list[str]]
    expected_mtu: int  # the path MTU a pod's (or node's) route implies

    def run(self, words: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(words), capture_output=True, text=True, timeout=timeout)


def netns_place(label: str, ns: str, ip: str, expected_mtu: int) -> Place:
    return Place(label, ip, lambda words: ["ip", "netns", "exec", ns, *words], expected_mtu)


def lab_pod_place(backend, lab_name: str, node: str, pod: str, ip: str, expected_mtu: int) -> Place:
    def argv(words: list[str]) -> list[str]:
        return backend.exec_argv(lab_name, node, f"exec ip netns exec {shlex.quote(pod)} {shlex.join(words)}")

    return Place(f"{lab_name}/{node.removeprefix(lab_name + '-')}/{pod}", ip, argv, expected_mtu)


# --- iperf3 -------------------------------------------------------------------------------


def _route_mtu(place: Place) -> int:
    """The MTU of the route ``place`` uses toward a peer: the default route's ``mtu`` in a
    pod, else the device's."""
    p = place.run(["ip", "-j", "route", "show", "default"])
    routes = json.loads(p.stdout or "[]") if p.returncode == 0 else []
    for r in routes:
        for m in r.get("metrics", []):
            if isinstance(m, dict) and "mtu" in m:
                return int(m["mtu"])
    dev = routes[0]["dev"] if routes else "eth0"
    p = place.run(["ip", "-j", "link", "show", dev])
    return int(json.loads(p.stdout)[0]["mtu"])


def _stop(proc: subprocess.Popen) -> None:
    """Stop a server this module started: by its PID only, SIGTERM then SIGKILL."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def iperf3(client: Place, server: Place, seconds: float, port: int = IPERF_PORT) -> dict:
    """One iperf3 TCP test from ``client`` to ``server``; the receiver's rate and more."""
    srv = subprocess.Popen(
        server.argv(["iperf3", "-s", "-1", "-B", server.ip, "-p", str(port)]),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The server listens when ss sees its socket in the namespace.
        for _ in range(200):
            if srv.poll() is not None:
                raise BenchError(f"iperf3 server in {server.label} exited: {srv.stderr.read().strip()}")
            ss = server.run(["ss", "-Hltn", f"sport = :{port}"])
            if ss.stdout.strip():
                break
            time.sleep(0.025)
        else:
            raise BenchError(f"iperf3 server in {server.label} does not listen on port {port}")
        comm = Path(f"/proc/{srv.pid}/comm").read_text().strip()
        if comm != "iperf3":  # the PID we will stop must be the server itself
            raise BenchError(f"process {srv.pid} started for the server is {comm!r}, not iperf3")
        p = client.run(
            ["iperf3", "-c", server.ip, "-p", str(port), "-t", str(seconds), "-J"], timeout=seconds + 30
        )
        try:
            out = json.loads(p.stdout)
        except json.JSONDecodeError:
            raise BenchError(f"iperf3 client in {client.label} failed: {(p.stderr or p.stdout).strip()[-500:]}") from None
        if "error" in out:
            raise BenchError(f"iperf3 {client.label} -> {server.label}: {out['error']}")
        end = out["end"]
        return {
            "gbps": end["sum_received"]["bits_per_second"] / 1e9,
            "retransmits": end["sum_sent"].get("retransmits"),
            "mss": out["start"].get("tcp_mss_default"),
            "cpu_client_pct": round(end["cpu_utilization_percent"]["host_total"], 1),
            "cpu_server_pct": round(end["cpu_utilization_percent"]["remote_total"], 1),
        }
    finally:
        _stop(srv)


# --- the classic kernel VXLAN path ----------------------------------------------------------


@dataclass
class KernelVxlan:
    """Two nodes with kernel VXLAN (not flow-based) and one pod each, in namespaces named
    ``<prefix>-ul`` (the underlay bridge), ``<prefix>-node1/2``, ``<prefix>-pod1/2``.

    Node i: eth0 = <underlay>.i/24 on the bridge; vxlan0 (``id 42 dstport 8472 local
    <underlay>.i dev eth0 nolearning``, MTU 1450 from eth0's 1500) with 10.244.255.i/24 and
    ``bridge fdb append 00:00:00:00:00:00 dst <peer> dev vxlan0``; route to the other
    node's pod CIDR 10.244.j.0/24 via 10.244.255.j on vxlan0; lxc0 (veth) to its pod,
    10.244.i.1/32, route 10.244.i.10/32 dev lxc0; ip_forward on. Pod i: eth0 =
    10.244.i.10/32, ``default via 10.244.i.1 dev eth0 mtu 1450`` as Cilium's pods.
    """

    prefix: str = PREFIX + "kvx"
    underlay: str = "192.168.213.0/24"
    vni: int = 42

    def __post_init__(self) -> None:
        if not self.prefix.startswith(PREFIX):
            raise ValueError(f"KernelVxlan.prefix must start with {PREFIX!r}: {self.prefix!r}")

    @property
    def namespaces(self) -> list[str]:
        return [f"{self.prefix}-{n}" for n in ("pod1", "pod2", "node1", "node2", "ul")]

    def node_ip(self, i: int) -> str:
        base = self.underlay.rsplit(".", 1)[0]
        return f"{base}.{i}"

    @staticmethod
    def pod_ip(i: int) -> str:
        return f"10.244.{i}.10"

    def _ip(self, ns: str, batch: str) -> None:
        p = subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError(f"kernel VXLAN set-up in {ns}: {p.stderr.strip()}")

    def _do(self, *argv: str) -> None:
        p = subprocess.run(list(argv), capture_output=True, text=True)
        if p.returncode != 0:
            raise BenchError(f"kernel VXLAN set-up: {' '.join(argv)}: {p.stderr.strip()}")

    def up(self) -> None:
        self.down()  # a previous run's leftovers (names are this module's own)
        ul = f"{self.prefix}-ul"
        for ns in reversed(self.namespaces):
            self._do("ip", "netns", "add", ns)
        self._ip(ul, "link set lo up\nlink add br0 type bridge\nlink set br0 up\n")
        for i in (1, 2):
            j = 3 - i
            node, pod = f"{self.prefix}-node{i}", f"{self.prefix}-pod{i}"
            self._ip(ul, f"link add n{i} type veth peer name eth0 netns {node}\nlink set n{i} master br0 up\n")
            self._ip(
                node,
                "link set lo up\n"
                f"addr add {self.node_ip(i)}/24 dev eth0\nlink set eth0 up\n"
                f"link add vxlan0 type vxlan id {self.vni} dstport 8472 local {self.node_ip(i)} dev eth0 nolearning\n"
                f"addr add 10.244.255.{i}/24 dev vxlan0\nlink set vxlan0 up\n"
                f"route add 10.244.{j}.0/24 via 10.244.255.{j} dev vxlan0\n"
                f"link add lxc0 type veth peer name eth0 netns {pod}\n"
                f"addr add 10.244.{i}.1/32 dev lxc0\nlink set lxc0 up\n"
                f"route add {self.pod_ip(i)}/32 dev lxc0\n",
            )
            self._do("ip", "netns", "exec", node, "bridge", "fdb", "append", "00:00:00:00:00:00",
                     "dst", self.node_ip(j), "dev", "vxlan0")  # fmt: skip
            self._do("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            self._ip(
                pod,
                "link set lo up\n"
                f"addr add {self.pod_ip(i)}/32 dev eth0\nlink set eth0 up\n"
                f"route add 10.244.{i}.1 dev eth0 scope link\n"
                f"route add default via 10.244.{i}.1 dev eth0 mtu {VXLAN_MTU}\n",
            )

    def down(self) -> list[str]:
        """Remove this path's namespaces (only those, by name); returns what was removed."""
        have = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())
        removed = []
        for ns in self.namespaces:
            if ns in have:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
                removed.append(ns)
        return removed

    def pods(self) -> tuple[Place, Place]:
        return tuple(
            netns_place(f"{self.prefix}-pod{i}", f"{self.prefix}-pod{i}", self.pod_ip(i), VXLAN_MTU) for i in (1, 2)
        )

    def nodes(self) -> tuple[Place, Place]:
        return tuple(
            netns_place(f"{self.prefix}-node{i}", f"{self.prefix}-node{i}", self.node_ip(i), NATIVE_MTU) for i in (1, 2)
        )

    def check_mtus(self) -> list[str]:
        """The devices' MTUs as this path implies them; returns problems found."""
        problems = []
        for i in (1, 2):
            node = f"{self.prefix}-node{i}"
            links = {
                link["ifname"]: link["mtu"]
                for link in json.loads(subprocess.run(["ip", "-n", node, "-j", "link"], capture_output=True, text=True).stdout)
            }
            for dev, want in (("eth0", NATIVE_MTU), ("vxlan0", VXLAN_MTU), ("lxc0", NATIVE_MTU)):
                if links.get(dev) != want:
                    problems.append(f"{node} {dev} mtu {links.get(dev)}, expected {want}")
        return problems


# --- lab paths ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabSpec:
    seed: str
    cluster: str
    underlay: str


@dataclass
class RunningLab:
    spec: LabSpec
    inventory: Path
    lab: object = None  # cnilab.model.lab.Lab
    backend: object = None

    def pod(self, pod) -> Place:
        return lab_pod_place(self.backend, self.lab.name, pod.node, pod.name, str(pod.ip), self.lab.tunnel_mtu)

    def cross_node_pair(self) -> tuple[Place, Place]:
        from cnilab.verify import cross_node_pair

        pair = cross_node_pair(self.lab)
        if pair is None:
            raise BenchError(f"{self.spec.cluster}: no two pods on different nodes")
        return self.pod(pair[0]), self.pod(pair[1])

    def same_node_pair(self) -> tuple[Place, Place]:
        for a in self.lab.pods:
            for b in self.lab.pods:
                if a is not b and a.node == b.node:
                    return self.pod(a), self.pod(b)
        raise BenchError(f"{self.spec.cluster}: no node runs two pods")

    def check_mtus(self) -> list[str]:
        """Per node: eth0 1500; with VXLAN cilium_vxlan 1500 and routes to other nodes' pod
        CIDRs with mtu 1450; natively those routes have no mtu (1500)."""
        problems = []
        for node in self.lab.nodes:
            argv = self.backend.exec_argv(self.lab.name, node.name, "ip -j link; echo; ip -j route")
            links_out, routes_out = subprocess.run(argv, capture_output=True, text=True).stdout.split("\n", 1)
            links = {link["ifname"]: link["mtu"] for link in json.loads(links_out)}
            want = {"eth0": NATIVE_MTU} | ({"cilium_vxlan": NATIVE_MTU} if self.lab.mode.tunnelled else {})
            for dev, mtu in want.items():
                if links.get(dev) != mtu:
                    problems.append(f"{node.name} {dev} mtu {links.get(dev)}, expected {mtu}")
            routes = {r["dst"]: r for r in json.loads(routes_out)}
            for other in self.lab.nodes:
                if other is node:
                    continue
                r = routes.get(str(other.pod_cidr), {})
                mtu = next((m["mtu"] for m in r.get("metrics", []) if isinstance(m, dict) and "mtu" in m), NATIVE_MTU)
                if mtu != self.lab.tunnel_mtu:
                    problems.append(f"{node.name} route {other.pod_cidr} mtu {mtu}, expected {self.lab.tunnel_mtu}")
        return problems


def _lab_up(spec: LabSpec, tmp: Path, log) -> RunningLab:
    from cnilab.backends import get_backend
    from cnilab.model import load_lab

    inv = drive.private_lab(tmp, spec.seed, spec.cluster, spec.underlay, "netns")
    running = RunningLab(spec, inv)
    t = time.perf_counter()
    p = drive.pyinfra(inv, "up.py")
    if p.returncode != 0:
        raise BenchError(f"up of {spec.cluster} (copy of {spec.seed}) failed:\n{(p.stdout + p.stderr)[-3000:]}")
    running.lab = load_lab(inv.with_suffix(".yaml")).cni
    running.backend = get_backend("netns")
    log(f"  {spec.cluster} (copy of {spec.seed}, underlay {spec.underlay}) up in {time.perf_counter() - t:.1f}s")
    return running


def _lab_down(inv: Path, log) -> str | None:
    p = drive.pyinfra(inv, "down.py")
    if p.returncode != 0:
        return f"down of {inv.stem} failed:\n{(p.stdout + p.stderr)[-2000:]}"
    log(f"  {inv.stem} down")
    return None


# --- the measurement ----------------------------------------------------------------------

VXLAN_LAB = LabSpec("cilium_vxlan", PREFIX + "vxlan", "192.168.210.0/24")
LEGACY_LAB = LabSpec("cilium_kubeproxy", PREFIX + "kubeproxy", "192.168.211.0/24")
BPF_HR_LAB = LabSpec("cilium_kpr_ebpf", PREFIX + "kpr-ebpf", "192.168.212.0/24")

# path -> (what it is, the lab it needs or None for the kernel VXLAN namespaces)
PATHS: dict[str, tuple[str, LabSpec | None]] = {
    "underlay": ("baseline: node to node on the underlay (veth-bridge-veth), no tunnel", None),
    "kernel_vxlan": ("classic kernel VXLAN (id 42 dstport 8472, static FDB), pods routed by the node's stack", None),
    "bpf_vxlan": ("our BPF VXLAN: cilium_vxlan lab, pods on two nodes", VXLAN_LAB),
    "same_node": ("our BPF local delivery: cilium_vxlan lab, two pods on one node", VXLAN_LAB),
    "native_legacy": ("native routing, legacy host routing: cilium_kubeproxy lab, pods on two nodes", LEGACY_LAB),
    "native_bpf": ("native routing, BPF host routing: cilium_kpr_ebpf lab, pods on two nodes", BPF_HR_LAB),
}
BASELINE = "underlay"


def throughput(
    log=print,
    seconds: float = 3,
    rounds: int = 1,
    paths: list[str] | None = None,
    labs: dict[str, LabSpec] | None = None,
    kernel_vxlan: KernelVxlan | None = None,
) -> dict:
    """iperf3 TCP throughput on each path (PATHS), in Gbit/s and as ratios to the underlay
    baseline. ``rounds`` > 1 measures every path that many times, paths interleaved (so a
    burst of load on the machine hits them alike), and reports medians. ``labs`` replaces
    the lab a path uses (by seed name), ``kernel_vxlan`` the kernel VXLAN namespaces: the
    test suite runs a reduced copy under other names beside a running benchmark."""
    from cnilab.backends import get_backend

    get_backend("netns").check()
    paths = list(paths or PATHS)
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise ValueError(f"unknown paths {unknown}: known {list(PATHS)}")
    specs = {seed: spec for seed, spec in ((s.seed, s) for s in (VXLAN_LAB, LEGACY_LAB, BPF_HR_LAB))}
    specs.update(labs or {})
    kvx = kernel_vxlan or KernelVxlan()
    need_labs = []
    for p in paths:
        spec = PATHS[p][1]
        if spec is not None and specs[spec.seed] not in need_labs:
            need_labs.append(specs[spec.seed])
    need_kvx = any(PATHS[p][1] is None for p in paths)
    for spec in need_labs:
        if not spec.cluster.startswith(PREFIX):
            raise ValueError(f"lab cluster names must start with {PREFIX!r}: {spec.cluster!r}")

    result: dict = {
        "tool": "iperf3 TCP, one stream, receiver's rate",
        "seconds": seconds,
        "rounds": rounds,
        "baseline": BASELINE,
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "paths": {},
    }
    running: dict[str, RunningLab] = {}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix=PREFIX) as tmp:
        try:
            if need_kvx:
                kvx.up()
                log(f"  kernel VXLAN namespaces {kvx.prefix}-* up (underlay {kvx.underlay})")
            for spec in need_labs:
                running[spec.seed] = _lab_up(spec, Path(tmp), log)

            places: dict[str, tuple[Place, Place]] = {}
            mtu_problems: dict[str, list[str]] = {}
            for p in paths:
                spec = PATHS[p][1]
                if p == "underlay":
                    places[p] = kvx.nodes()
                    mtu_problems[p] = kvx.check_mtus()
                elif p == "kernel_vxlan":
                    places[p] = kvx.pods()
                    mtu_problems[p] = kvx.check_mtus()
                else:
                    lab = running[spec.seed]
                    places[p] = lab.same_node_pair() if p == "same_node" else lab.cross_node_pair()
                    mtu_problems[p] = lab.check_mtus()

            runs: dict[str, list[dict]] = {p: [] for p in paths}
            for r in range(rounds):
                for p in paths:
                    client, server = places[p]
                    m = iperf3(client, server, seconds)
                    m["route_mtu"] = _route_mtu(client)
                    runs[p].append(m)
                    log(f"  round {r + 1}/{rounds} {p:<14} {m['gbps']:6.2f} Gbit/s  retr {m['retransmits']}  mss {m['mss']}")

            for p in paths:
                client, server = places[p]
                gbps = [m["gbps"] for m in runs[p]]
                mss = runs[p][-1]["mss"]
                mtu = runs[p][-1]["route_mtu"]
                problems = list(mtu_problems[p])
                if mtu != client.expected_mtu:
                    problems.append(f"{client.label}: route mtu {mtu}, expected {client.expected_mtu}")
                # MSS = MTU - 40 (IP + TCP headers), iperf3 reports it less 12 bytes of timestamps.
                if mss and not (client.expected_mtu - 52 <= mss <= client.expected_mtu - 40):
                    problems.append(f"mss {mss} does not fit mtu {client.expected_mtu}")
                result["paths"][p] = {
                    "what": PATHS[p][0],
                    "client": f"{client.label} {client.ip}",
                    "server": f"{server.label} {server.ip}",
                    "gbps": round(statistics.median(gbps), 3),
                    "runs_gbps": [round(g, 3) for g in gbps],
                    "retransmits": [m["retransmits"] for m in runs[p]],
                    "cpu_client_pct": [m["cpu_client_pct"] for m in runs[p]],
                    "cpu_server_pct": [m["cpu_server_pct"] for m in runs[p]],
                    "mss": mss,
                    "path_mtu": mtu,
                    "mtu_ok": not problems,
                    "mtu_problems": problems,
                }
        finally:
            for lab in reversed(list(running.values())):
                err = _lab_down(lab.inventory, log)
                if err:
                    errors.append(err)
            # A lab whose up failed half-way is removed too.
            for spec in need_labs:
                if spec.seed not in running:
                    inv = Path(tmp) / f"{spec.cluster}.py"
                    if inv.exists():
                        err = _lab_down(inv, log)
                        if err:
                            errors.append(err)
            if need_kvx:
                kvx.down()
                log(f"  kernel VXLAN namespaces {kvx.prefix}-* removed")
    if errors:
        raise BenchError("\n".join(errors))

    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    res = result["paths"]
    base = res.get(BASELINE, {}).get("gbps")
    for p in res.values():
        p["ratio_to_baseline"] = round(p["gbps"] / base, 3) if base else None
    # Paths of one round ran back to back, so a ratio is taken within each round (a burst of
    # load elsewhere on the machine hits both sides alike) and the median of those reported.
    ratios, per_round = {}, {}
    for name, (a, b) in {
        "bpf_vxlan / kernel_vxlan": ("bpf_vxlan", "kernel_vxlan"),
        "bpf_host_routing / legacy_host_routing": ("native_bpf", "native_legacy"),
        "bpf_vxlan / native_bpf": ("bpf_vxlan", "native_bpf"),
    }.items():
        if a in res and b in res:
            rounds_ratio = [x / y for x, y in zip(res[a]["runs_gbps"], res[b]["runs_gbps"], strict=True)]
            ratios[name] = round(statistics.median(rounds_ratio), 3)
            per_round[name] = [round(r, 3) for r in rounds_ratio]
    result["ratios_per_round"] = per_round
    result["ratios"] = ratios
    return result


def format_throughput(result: dict) -> str:
    base = result["baseline"]
    lines = [
        f"iperf3 TCP, 1 stream, {result['seconds']} s x {result['rounds']} round(s), median Gbit/s "
        f"(load average {result['loadavg_before'][0]} -> {result['loadavg_after'][0]} on {result['cpus']} CPUs)",
        f"{'path':<15}{'Gbit/s':>8}{'÷ ' + base:>12}{'MTU':>6}{'MSS':>6}{'retr':>8}  runs",
    ]
    for name, p in result["paths"].items():
        ratio = f"{p['ratio_to_baseline']:.2f}" if p["ratio_to_baseline"] is not None else "-"
        retr = statistics.median(r for r in p["retransmits"] if r is not None) if any(r is not None for r in p["retransmits"]) else "-"
        mtu = f"{p['path_mtu']}" + ("" if p["mtu_ok"] else "!")
        lines.append(
            f"{name:<15}{p['gbps']:>8.2f}{ratio:>12}{mtu:>6}{p['mss'] or '-':>6}{retr:>8}  "
            + " ".join(f"{g:.2f}" for g in p["runs_gbps"])
        )
    for name, p in result["paths"].items():
        lines.append(f"  {name}: {p['what']}; {p['client']} -> {p['server']}")
        for problem in p["mtu_problems"]:
            lines.append(f"    MTU problem: {problem}")
    for k, v in result["ratios"].items():
        lines.append(f"{k}: {v:.2f} (median of the rounds' ratios: {' '.join(f'{r:.2f}' for r in result['ratios_per_round'][k])})")
    return "\n".join(lines)


# --- per program: BPF_PROG_TEST_RUN ----------------------------------------------------------

# Interface indexes the programs are compiled with. BPF_PROG_TEST_RUN does not carry out
# a redirect (the verdict is returned), so they need not exist; they only need to differ.
_IFINDEX = {"eth0": 2, "cilium_net": 3, "cilium_host": 4, "cilium_vxlan": 5}
_MOCK_DEFINE = "\n#define TEST_MOCK_TUNNEL_KEY 1\n"
TTL_REPEAT = 254  # a frame sent with TTL 255 is routed 254 times before its TTL runs out


@dataclass(frozen=True)
class Sizes:
    hot_repeat: int = 100_000  # runs per call for frames the program leaves unchanged
    hot_calls: int = 5
    ttl_calls: int = 200  # calls of TTL_REPEAT runs for routed frames
    single_runs: int = 1000  # separate runs (repeat 1)


QUICK = Sizes(hot_repeat=10_000, hot_calls=3, ttl_calls=20, single_runs=100)
# Two ClusterIPs in the service CIDR, each the other's only backend: every run of a
# repeated test is a ClusterIP hit (a real ClusterIP's translated packet no longer is).
RING_VIPS = ("10.96.250.1", "10.96.250.2")
RING_PORT = 8080


@dataclass
class _Node:
    """A node of a seed lab as the datapath sees it, with the objects compiled for it."""

    lab: object
    node: object
    cfg: object  # NodeBpfConfig
    client: object  # the pod whose bpf_lxc.o is under test
    local_peer: object | None
    remote: object | None
    objects: dict
    mock_overlay: Path | None


def _prepare(seed: str, events: bool) -> _Node:
    """The node of ``seed`` running the most pods, its programs compiled from the model
    (with synthetic interface indexes), the pod under test ``net`` if it runs there.
    ``events``: every notification on (debug messages, monitor aggregation none), else
    off (no debug messages, aggregation maximum: a trace only when conntrack reports)."""
    from cnilab.cni.cilium.sources import compile_object
    from cnilab.cni.cilium.bpfconfig import EndpointBpfConfig
    from cnilab.cni.cilium.headers import render_ep_config, render_node_config
    from cnilab.cni.cilium.datapath import node_config
    from cnilab.model import load_lab

    lab = load_lab(seed).cni
    node = max(lab.nodes, key=lambda n: (len(lab.pods_on(n.name)), -n.index))
    pods = sorted(lab.pods_on(node.name), key=lambda p: p.name != "net")
    links = {
        "eth0": {"ifindex": _IFINDEX["eth0"], "mac": node.mac},
        "cilium_net": {"ifindex": _IFINDEX["cilium_net"], "mac": node.net_mac},
        "cilium_host": {"ifindex": _IFINDEX["cilium_host"], "mac": node.host_mac},
    }
    if lab.mode.tunnelled:
        links["cilium_vxlan"] = {"ifindex": _IFINDEX["cilium_vxlan"], "mac": node.vxlan_mac}
    for i, p in enumerate(lab.pods_on(node.name)):
        links[p.lxc] = {"ifindex": 10 + 2 * i, "mac": p.lxc_mac}
    cfg = dataclasses.replace(node_config(lab, node.name, links), debug=events, monitor_aggregation=0 if events else 4)
    client = pods[0]
    ep = EndpointBpfConfig(
        lxc_id=client.lxc_id, pod_name=client.name, ip=str(client.ip), mac=client.mac, node_mac=client.lxc_mac,
        ifindex=links[client.lxc]["ifindex"], identity=client.identity, ifname=client.lxc,
    )  # fmt: skip
    node_h = render_node_config(cfg)
    objects = {
        "bpf_lxc": compile_object("bpf_lxc", {"node_config.h": node_h, "ep_config.h": render_ep_config(cfg, ep)}),
        "bpf_host": compile_object("bpf_host", {"node_config.h": node_h}),
    }
    mock = None
    if lab.mode.tunnelled:
        objects["bpf_overlay"] = compile_object("bpf_overlay", {"node_config.h": node_h})
        mock = compile_object("bpf_overlay", {"node_config.h": node_h + _MOCK_DEFINE})
    remote = next((p for p in lab.pods if p.node != node.name), None)
    return _Node(lab, node, cfg, client, pods[1] if len(pods) > 1 else None, remote, objects, mock)


def _fill_maps(sb, n: _Node) -> None:
    from cnilab.cni.cilium import maps
    from cnilab.cni.cilium.lb import Backend, Service

    links_ifindex = {p.lxc: 10 + 2 * i for i, p in enumerate(n.lab.pods_on(n.node.name))}
    services = n.lab.lb_services()
    if services:
        a, b = RING_VIPS
        nxt = len(services) + 1
        services += [
            Service(a, RING_PORT, "TCP", None, (Backend(b, RING_PORT),), nxt),
            Service(b, RING_PORT, "TCP", None, (Backend(a, RING_PORT),), nxt + 1),
        ]
    entries = {
        maps.ENDPOINTS_MAP: [e.entry(links_ifindex.get(e.lxc, 0)) for e in n.lab.endpoint_entries(n.node.name)],
        maps.TUNNEL_MAP: n.lab.tunnel_entries(n.node.name),
        maps.IPCACHE_MAP: n.lab.ipcache_entries(n.node.name),
    }
    if services:
        lb = maps.lb_entries(services)
        for name in (maps.LB_BACKENDS_MAP, maps.LB_REVNAT_MAP, maps.LB_SERVICES_MAP):
            entries[name] = lb[name]
    for name, items in entries.items():
        for e in items:
            sb.update_map(name, e.pack_key(), e.pack_value())


def _tcp(src: str, sport: int, dst: str, dport: int, src_mac: str, dst_mac: str, ttl: int = 64, payload: int = 1398) -> bytes:
    """A full-sized TCP segment of an established flow (ACK, 1398 bytes: MSS under a 1450 route)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    return bytes(
        Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=ttl, id=1)
        / TCP(sport=sport, dport=dport, flags="PA", seq=1000, ack=2000, window=502) / (b"x" * payload)
    )  # fmt: skip


def _vxlan(outer_src: str, outer_dst: str, src_mac: str, dst_mac: str, vni: int, inner: bytes) -> bytes:
    """``inner`` in VXLAN on port 8472, as a node's eth0 carries it (zero UDP checksum)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    return bytes(
        Ether(src=src_mac, dst=dst_mac) / IP(src=outer_src, dst=outer_dst, ttl=64, id=2)
        / UDP(sport=50000, dport=8472, chksum=0) / VXLAN(flags=0x08, vni=vni) / Ether(inner)
    )  # fmt: skip


@dataclass
class _Case:
    section: str  # the program section, as `tc filter show` names it
    what: str
    program: str  # function name
    frame: bytes
    hot: str | None  # "repeat" (the frame comes out unchanged), "ttl" (routed: 254 runs), None (stateful)
    expect: Callable[[int, bytes], str | None]  # (retval, data out) -> problem or None
    mock: bool = False  # from-overlay: the received tunnel key comes from a map


def _mode(lab) -> str:
    routing = "VXLAN" if lab.mode.tunnelled else "native routing"
    return f"{routing}, {lab.mode.host_routing} host routing"


def _cases(n: _Node) -> list[_Case]:
    from scapy.layers.inet import IP

    from cnilab.cni.cilium.maps import TC_ACT_OK, TC_ACT_REDIRECT

    lab, node, c = n.lab, n.node, n.client
    tunnelled = lab.mode.tunnelled
    cases: list[_Case] = []

    def verdict(want: int, check: Callable[[bytes], str | None] | None = None):
        def f(ret: int, data: bytes) -> str | None:
            if ret != want:
                return f"verdict {ret}, expected {want}"
            return check(data) if check else None

        return f

    def dst_is(*ips: str):
        return lambda data: None if IP(data[14:]).dst in ips else f"destination {IP(data[14:]).dst}, expected {' or '.join(ips)}"

    def src_is(ip: str):
        return lambda data: None if IP(data[14:]).src == ip else f"source {IP(data[14:]).src}, expected {ip}"

    from_pod = dict(src_mac=c.mac, dst_mac=c.lxc_mac)
    if n.remote is not None:
        r = n.remote
        frame = _tcp(str(c.ip), 40000, str(r.ip), 5201, **from_pod, ttl=255)
        if tunnelled:
            cases.append(_Case("from-container", "encapsulation to a pod on another node", "cil_from_container",
                               frame, "repeat", verdict(TC_ACT_REDIRECT, lambda d: None if d == frame else "frame changed")))
        elif lab.mode.host_routing == "bpf":
            cases.append(_Case("from-container", "to a pod on another node (bpf_redirect_neigh)",
                               "cil_from_container", frame, "ttl", verdict(TC_ACT_REDIRECT)))
    if n.local_peer is not None:
        p = n.local_peer
        cases.append(_Case("from-container", "local delivery to a pod on this node", "cil_from_container",
                           _tcp(str(c.ip), 40000, str(p.ip), 5201, **from_pod, ttl=255), "ttl",
                           verdict(TC_ACT_REDIRECT, dst_is(str(p.ip)))))
    svc = next(iter(lab.lb_services()), None)
    if svc is not None:
        backends = [b.ip for b in svc.backends]
        cases.append(_Case("from-container", f"to ClusterIP {svc.vip}:{svc.port} (load balancer)",
                           "cil_from_container", _tcp(str(c.ip), 40001, svc.vip, svc.port, **from_pod), None,
                           verdict(TC_ACT_REDIRECT, dst_is(*backends))))
        a, b = RING_VIPS
        # Translated to the other ClusterIP, which is no pod: to the stack, or with BPF
        # host routing out of eth0 (TTL-1, so repeated as routed frames are).
        cases.append(_Case("from-container", "ClusterIP hit, ring of two services (each run translated)",
                           "cil_from_container", _tcp(str(c.ip), 40002, a, RING_PORT, **from_pod, ttl=255), "ttl",
                           verdict(TC_ACT_REDIRECT if lab.mode.host_routing == "bpf" else TC_ACT_OK, dst_is(b))))
    if tunnelled and n.remote is not None:
        r, rnode = n.remote, lab.node(n.remote.node)
        inner = _tcp(str(r.ip), 5201, str(c.ip), 40000, src_mac=r.mac, dst_mac=r.lxc_mac, ttl=255, payload=0)
        cases.append(_Case("from-overlay", "decapsulated, to a local pod", "cil_from_overlay", inner, "ttl",
                           verdict(TC_ACT_REDIRECT, dst_is(str(c.ip))), mock=True))
        cases.append(_Case("to-overlay", "count and pass", "cil_to_overlay",
                           _tcp(str(c.ip), 40000, str(r.ip), 5201, **from_pod), "repeat", verdict(TC_ACT_OK)))
        wire = _vxlan(str(rnode.ip), str(node.ip), rnode.mac, node.mac, r.identity, inner)
        if lab.mode.netdev_programs:
            cases.append(_Case("from-netdev", "a VXLAN packet for this node (to the stack)", "cil_from_netdev",
                               wire, "repeat", verdict(TC_ACT_OK, lambda d: None if d == wire else "frame changed")))
            out = _vxlan(str(node.ip), str(rnode.ip), node.mac, rnode.mac, c.identity,
                         _tcp(str(c.ip), 40000, str(r.ip), 5201, **from_pod))
            cases.append(_Case("to-netdev", "a VXLAN packet leaving (not masqueraded)", "cil_to_netdev",
                               out, "repeat", verdict(TC_ACT_OK, lambda d: None if d == out else "frame changed")))
    cases.append(_Case("to-host", "count and pass", "cil_to_host",
                       _tcp(str(c.ip), 40000, str(node.router_ip), 80, **from_pod), "repeat", verdict(TC_ACT_OK)))
    cases.append(_Case("from-host", "the node to a local pod (via its lxc)", "cil_from_host",
                       _tcp(str(node.router_ip), 40000, str(c.ip), 80, node.host_mac, node.net_mac, ttl=255), "ttl",
                       verdict(TC_ACT_REDIRECT, dst_is(str(c.ip)))))
    if lab.mode.netdev_programs:
        world = lab.world
        if svc is not None and svc.node_port:
            cases.append(_Case("from-netdev", f"NodePort {node.ip}:{svc.node_port} from the world",
                               "cil_from_netdev",
                               _tcp(str(world.underlay_ip), 45000, str(node.ip), svc.node_port, world.mac, node.mac),
                               None, lambda ret, d: None if IP(d[14:]).dst in backends else f"destination {IP(d[14:]).dst}"))
        if lab.mode.host_routing == "bpf" and not tunnelled and n.remote is not None:
            r, rnode = n.remote, lab.node(n.remote.node)
            cases.append(_Case("from-netdev", "from a pod on another node to a local pod (bpf_redirect_peer)",
                               "cil_from_netdev", _tcp(str(r.ip), 5201, str(c.ip), 40000, rnode.mac, node.mac, ttl=255),
                               "ttl", verdict(TC_ACT_REDIRECT, dst_is(str(c.ip)))))
        if lab.mode.masquerade == "bpf":
            cases.append(_Case("to-netdev", f"masquerade, a pod to the world {world.ip}", "cil_to_netdev",
                               _tcp(str(c.ip), 40003, str(world.ip), 80, node.mac, world.mac), None,
                               verdict(TC_ACT_OK, src_is(str(node.ip)))))
    return cases


def _batch(sb, tmp: Path, program: str, frame: bytes, lines: int, repeat: int) -> list[int]:
    """``lines`` BPF_PROG_TEST_RUNs of ``program`` on ``frame`` (each from the original
    frame) in one bpftool process; the mean ns per run of each."""
    data = tmp / "frame"
    data.write_bytes(frame)
    cmd = f"prog run pinned {sb.programs[program]} data_in {data}" + (f" repeat {repeat}" if repeat > 1 else "")
    (tmp / "batch").write_text((cmd + "\n") * lines)
    out = sb.bpftool("batch", "file", str(tmp / "batch"), json_out=True)
    return [int(o["output"]["duration"]) for o in out]


def _reader(sb) -> subprocess.Popen:
    """A `cnilab monitor`-like reader of the sandbox's cilium_events (output discarded): with
    one, notifications are copied into its rings, as on a node being monitored."""
    return subprocess.Popen(
        ["nsenter", f"--target={sb._holder.pid}", "--mount", "--", "bpftool", "map", "event_pipe", "pinned",
         sb.map_path("cilium_events")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _measure(n: _Node, sizes: Sizes, log, events: bool) -> list[dict]:
    from cnilab.bpf.testrun import Sandbox

    rows = []
    readers = []
    with tempfile.TemporaryDirectory(prefix=PREFIX + "bpf-") as tmpdir, Sandbox() as sb, Sandbox() as mock_sb:
        tmp = Path(tmpdir)
        for obj in n.objects.values():
            sb.load(obj)
        _fill_maps(sb, n)
        if events:
            readers.append(_reader(sb))
        if n.mock_overlay:
            mock_sb.load(n.mock_overlay)
            _fill_maps(mock_sb, n)
            # The tunnel key bpf_skb_get_tunnel_key would return: the remote node, VNI = the sender's identity.
            key = bytearray(44)
            struct.pack_into("<II", key, 0, n.remote.identity, int(ipaddress.IPv4Address(str(n.lab.node(n.remote.node).ip))))
            mock_sb.update_map("test_tunnel_key", (0).to_bytes(4, "little"), bytes(key))
            if events:
                readers.append(_reader(mock_sb))
        time.sleep(0.2 if readers else 0)  # the readers' rings open
        try:
            rows = _measure_cases(n, sizes, log, sb, mock_sb, tmp)
        finally:
            for r in readers:
                _stop(r)
    return rows


def _measure_cases(n: _Node, sizes: Sizes, log, sb, mock_sb, tmp: Path) -> list[dict]:
    rows = []
    for case in _cases(n):
        box = mock_sb if case.mock else sb
        first = box.run(case.program, case.frame)  # a flow's first packet: creates its CT / NAT entries
        problem = case.expect(first.retval, first.data)
        if problem:
            raise BenchError(f"{case.section} ({case.what}): {problem}")
        single = _batch(box, tmp, case.program, case.frame, sizes.single_runs, 1)
        hot = None
        if case.hot == "repeat":
            hot = statistics.median(_batch(box, tmp, case.program, case.frame, sizes.hot_calls, sizes.hot_repeat))
        elif case.hot == "ttl":
            hot = statistics.median(_batch(box, tmp, case.program, case.frame, sizes.ttl_calls, TTL_REPEAT))
        row = {
            "section": case.section,
            "what": case.what,
            "object": Path(str(box.programs[case.program])).parent.name.rsplit("-", 1)[0],
            "verdict": {0: "OK", 2: "SHOT", 7: "REDIRECT"}.get(first.retval, str(first.retval)),
            "hot_ns": round(hot, 1) if hot is not None else None,
            "hot_method": {"repeat": f"repeat {sizes.hot_repeat} x {sizes.hot_calls}, median",
                           "ttl": f"repeat {TTL_REPEAT} (TTL 255) x {sizes.ttl_calls}, median"}.get(case.hot),
            "single_ns": statistics.median(single),
            "first_packet_ns": first.duration_ns,
            "mock_tunnel_key": case.mock,
            "frame_bytes": len(case.frame),
        }
        rows.append(row)
        log(f"    {row['section']:<15} {row['what']:<62} hot {row['hot_ns'] if hot is not None else '-':>6}  "
            f"single {row['single_ns']:>6}")
    return rows


def per_program(log=print, seeds: tuple[str, ...] = ("cilium_vxlan", "cilium_kpr_ebpf"), sizes: Sizes = Sizes()) -> dict:
    """ns per packet of each BPF program section, through BPF_PROG_TEST_RUN in a private
    bpffs (cnilab.bpf.testrun.Sandbox), objects compiled for a node of each seed lab from
    its model, maps filled as `up` fills them. Frames are full-sized TCP segments (VXLAN
    packets for the netdev hooks of the tunnel).

    Two figures per case:

    - ``hot_ns``: the kernel's mean over many runs in one call (``repeat``), caches warm.
      Only where every run sees what a packet of the flow would: a program that leaves the
      frame unchanged (repeat 100000), or one that routes it (TTL-1 per run: a frame sent
      with TTL 255 is repeated 254 times). A translated frame (ClusterIP, NodePort,
      masquerade) is not what the next packet looks like, so these get none -- except
      ClusterIP measured on a ring of two ClusterIPs that are each other's backend, where
      every run is a ClusterIP hit.
    - ``single_ns``: the median of 1000 separate runs (repeat 1) of the same frame after
      the flow's first packet, i.e. a packet of an established flow, caches as bpftool
      leaves them between runs; it includes the harness's own per-call cost, shown by the
      count-and-pass programs (to-overlay, to-host), whose work is next to nothing.

    from-overlay runs in a build with TEST_MOCK_TUNNEL_KEY: BPF_PROG_TEST_RUN cannot hand a
    program tunnel metadata, so the received key comes from a map lookup instead of
    bpf_skb_get_tunnel_key.
    """
    t = time.perf_counter()
    result = {"kernel": os.uname().release, "sizes": dataclasses.asdict(sizes), "labs": {}}
    for seed in seeds:
        for events in (False, True):
            n = _prepare(seed, events)
            node = n.node.name.removeprefix(n.lab.name + "-")
            label = f"{seed}, events {'on' if events else 'off'}"
            log(f"  {label} ({_mode(n.lab)}): node {node}, pod under test {n.client.name}")
            result["labs"][label] = {"mode": _mode(n.lab), "node": node, "pod": n.client.name, "events": events,
                                     "rows": _measure(n, sizes, log, events)}
    result["seconds"] = round(time.perf_counter() - t, 1)
    return result


def format_per_program(result: dict) -> str:
    lines = [
        f"BPF_PROG_TEST_RUN, ns per packet (kernel {result['kernel']}). hot: mean of runs repeated in one call, "
        f"caches warm; single: median of {result['sizes']['single_runs']} separate runs, harness cost included"
    ]
    for seed, lab in result["labs"].items():
        lines.append(f"{seed} ({lab['mode']}), node {lab['node']}, pod under test {lab['pod']}")
        lines.append(f"  {'section':<16}{'case':<64}{'verdict':>9}{'hot':>7}{'single':>8}")
        for r in lab["rows"]:
            hot = f"{r['hot_ns']:.0f}" if r["hot_ns"] is not None else "-"
            what = r["what"] + (" [mock key]" if r["mock_tunnel_key"] else "")
            lines.append(f"  {r['section']:<16}{what:<64}{r['verdict']:>9}{hot:>7}{r['single_ns']:>8.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.datapath", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", choices=("throughput", "per-program", "all"), default="all")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--paths", nargs="*", choices=list(PATHS))
    ap.add_argument("--out", default="build/bench_datapath.json")
    args = ap.parse_args(argv)
    out: dict = {}
    if args.what in ("throughput", "all"):
        print("throughput:")
        out["throughput"] = throughput(seconds=args.seconds, rounds=args.rounds, paths=args.paths)
        print(format_throughput(out["throughput"]))
    if args.what in ("per-program", "all"):
        print("per program:")
        # Progress: the labs only (the table below has every row).
        out["per_program"] = per_program(log=lambda line: None if line.startswith("    ") else print(line))
        print(format_per_program(out["per_program"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
