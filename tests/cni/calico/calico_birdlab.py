"""Two real BIRD 2 nodes in two throw-away network namespaces, running our rendered configs.

Only used by tests (and to regenerate fixtures/bird2_show_protocols_*.txt: run this file as
root). Everything it creates is named ``cnilab-h1-<pid>-*``, uses addresses from 192.0.2.0/24
(TEST-NET-1) inside those namespaces only, and is removed in ``close()`` (call it in finally):
the bird processes are stopped by their own PIDs, the namespaces (and the veth/ifb devices in
them) deleted, the run directory with sockets, pid files and configs removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from cnilab.cni.calico.bird import Block, BirdInput, ClusterNode, Pool, mesh_peers, render_bird2

POOL = IPv4Network("192.0.2.128/25")
SUBNET = IPv4Network("192.0.2.0/25")
NODES = (
    ClusterNode("h1a", IPv4Address("192.0.2.1")),
    ClusterNode("h1b", IPv4Address("192.0.2.2")),
)
BLOCKS = {"h1a": IPv4Network("192.0.2.128/28"), "h1b": IPv4Network("192.0.2.144/28")}


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@dataclass
class BirdPair:
    ipip_mode: str = "Never"
    tag: str = field(default_factory=lambda: f"cnilab-h1-{os.getpid()}")
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)

    @property
    def rundir(self) -> Path:
        return Path("/tmp") / self.tag

    def ns(self, node: str) -> str:
        return f"{self.tag}-{node}"

    def socket(self, node: str) -> str:
        return str(self.rundir / f"{node}.ctl")

    def config(self, node: str) -> BirdInput:
        me = next(n for n in NODES if n.name == node)
        return BirdInput(
            node=node,
            ip=me.ip,
            pools=(Pool(POOL, ipip_mode=self.ipip_mode),),
            blocks=(Block(BLOCKS[node]),),
            peers=mesh_peers(node, NODES),
            subnet=SUBNET,
            control_socket=self.socket(node),
        )

    def start(self) -> None:
        self.rundir.mkdir(mode=0o700)
        a, b = (n.name for n in NODES)
        for node in (a, b):
            _run("ip", "netns", "add", self.ns(node))
            self.namespaces.append(self.ns(node))
        # Create the veth pair inside the first namespace with its peer straight in the second:
        # it never exists in the host's namespace.
        _run("ip", "-n", self.ns(a), "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", self.ns(b))
        for n in NODES:
            ns = self.ns(n.name)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "addr", "add", f"{n.ip}/{SUBNET.prefixlen}", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            if self.ipip_mode != "Never":
                # tunl0 stand-in (calico.md §6.2): the kernel here has no ipip module.
                _run("ip", "-n", ns, "link", "add", "tunl0", "type", "ifb")
                _run("ip", "-n", ns, "link", "set", "tunl0", "up")
            cfg = self.rundir / f"{n.name}.conf"
            cfg.write_text(render_bird2(self.config(n.name)))
            pid = self.rundir / f"{n.name}.pid"
            # -f: stay in the foreground so the Popen PID is bird's own (ip netns exec execs it).
            self.procs[n.name] = subprocess.Popen(
                ["ip", "netns", "exec", ns, "bird", "-f", "-s", self.socket(n.name), "-P", str(pid), "-c", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def birdc(self, node: str, *command: str) -> str:
        return _run("birdc", "-s", self.socket(node), *command)

    def routes(self, node: str) -> str:
        return _run("ip", "-n", self.ns(node), "route", "show")

    def wait_established(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"bird of {name} exited with {proc.returncode}")
            try:
                if all("Established" in self.birdc(n.name, "show", "protocols") for n in NODES):
                    return
            except subprocess.CalledProcessError:
                pass  # socket not there yet
            time.sleep(0.5)
        raise TimeoutError("BGP sessions did not reach Established")

    def wait_for(self, node: str, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            routes = self.routes(node)
            if text in routes or time.monotonic() > deadline:
                return routes
            time.sleep(0.5)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        self.namespaces.clear()
        shutil.rmtree(self.rundir, ignore_errors=True)


def capture(out_dir: Path) -> None:
    """Regenerate the show-protocols fixture from a live pair (mesh, no encapsulation)."""
    pair = BirdPair()
    try:
        pair.start()
        pair.wait_established()
        time.sleep(1)  # let the kernel/static protocols settle so every row is 'up'
        for n in NODES:
            (out_dir / f"bird2_show_protocols_{n.name}.txt").write_text(pair.birdc(n.name, "show", "protocols"))
    finally:
        pair.close()


if __name__ == "__main__":
    capture(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "fixtures")
