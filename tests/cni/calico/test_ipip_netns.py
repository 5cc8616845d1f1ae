"""The IP-in-IP stand-in end to end: two Calico-like nodes in network namespaces, pods behind
cali veths, BIRD's routes written by hand, tunl0 = ifb + bpf_ipip.o set up with exactly the lines
cnilab.cni.calico.ipip produces.

    pod1 (192.168.49.66)                                        pod2 (192.168.196.131)
      | cali9861acf9f07                                               | cali2b7e4f0a1c3
    node1  eth0 192.0.2.32 ---- underlay bridge (no address) ---- eth0 192.0.2.40  node2
    tunl0 192.168.49.64/32                                           tunl0 192.168.196.128/32
    192.168.196.128/26 via 192.0.2.40 dev tunl0 onlink   192.168.49.64/26 via 192.0.2.32 dev tunl0 onlink

Every namespace is made here (names start with cnilab-h2-) and removed afterwards; the addresses
(TEST-NET-1 for the underlay, the seed's pod addresses) exist only inside them.  The nodes' default
route (via 192.0.2.1, which nobody answers) is there for proxy ARP: without one, a node does not
answer its pods' ARP for 169.254.1.1.
"""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from cnilab.cni.calico import ipip

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("clang", "ip", "tc", "ping", "tcpdump")),
    reason="needs root (network namespaces, BPF), clang, ip, tc, ping and tcpdump",
)

_S = os.getpid() % 100000
UNDERLAY = f"cnilab-h2-u{_S}"
NODES = {
    "node1": {
        "ns": f"cnilab-h2-n1-{_S}", "pod_ns": f"cnilab-h2-p1-{_S}", "ip": "192.0.2.32", "tunnel": "192.168.49.64",
        "block": "192.168.49.64/26", "pod": "192.168.49.66", "cali": "cali9861acf9f07", "port": "n1",
    },
    "node2": {
        "ns": f"cnilab-h2-n2-{_S}", "pod_ns": f"cnilab-h2-p2-{_S}", "ip": "192.0.2.40", "tunnel": "192.168.196.128",
        "block": "192.168.196.128/26", "pod": "192.168.196.131", "cali": "cali2b7e4f0a1c3", "port": "n2",
    },
}  # fmt: skip
NAMESPACES = [UNDERLAY] + [n[k] for n in NODES.values() for k in ("ns", "pod_ns")]
POD1, POD2 = NODES["node1"]["pod"], NODES["node2"]["pod"]
MTU = 1440


def sh(ns: str, line: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    res = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", line], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise RuntimeError(f"[{ns}] {line}: {(res.stderr or res.stdout).strip()}")
    return res


def _our_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    names = {line.split()[0] for line in out.splitlines() if line.strip()}
    return [ns for ns in NAMESPACES if ns in names]


def _build(tmp: str) -> dict:
    for ns in NAMESPACES:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        sh(ns, "ip link set lo up")
    sh(UNDERLAY, "ip link add br0 type bridge && ip link set br0 up")
    template = ipip.compile(tmp)
    other = {"node1": NODES["node2"], "node2": NODES["node1"]}
    facts = {}
    for name, n in NODES.items():
        ns, peer = n["ns"], other[name]
        sh(ns, f"ip link add eth0 type veth peer name {n['port']} netns {UNDERLAY}")
        sh(UNDERLAY, f"ip link set {n['port']} master br0 up")
        sh(ns, f"ip addr add {n['ip']}/24 dev eth0 && ip link set eth0 up")
        sh(ns, "sysctl -qw net.ipv4.ip_forward=1")
        sh(ns, "ip route add default via 192.0.2.1 dev eth0")
        # The stand-in, verbatim from the module; its MAC left to ifb and read back.
        for line in ipip.tunl0_lines(n["tunnel"], mtu=MTU):
            sh(ns, line)
        tunl0_ifindex, tunl0_mac = ipip.parse_link(sh(ns, ipip.link_lines()[0]).stdout)
        eth0_ifindex, _ = ipip.parse_link(sh(ns, ipip.link_lines()[1]).stdout)
        cfg = ipip.IpipConfig(n["ip"], eth0_ifindex, tunl0_ifindex, tunl0_mac)
        obj = ipip.configure(template, f"{tmp}/{name}/bpf_ipip.o", cfg)
        for line in ipip.attach_lines(obj):
            sh(ns, line)
        # The pod, as Calico's CNI plugin leaves it.
        pod_ns, cali = n["pod_ns"], n["cali"]
        sh(pod_ns, f"ip link add eth0 type veth peer name {cali} netns {ns}")
        sh(ns, f"ip link set {cali} address ee:ee:ee:ee:ee:ee && ip link set {cali} up")
        sh(ns, f"sysctl -qw net.ipv4.conf.{cali}.proxy_arp=1 net.ipv4.neigh.{cali}.proxy_delay=0")
        sh(pod_ns, f"ip addr add {n['pod']}/32 dev eth0 && ip link set eth0 up")
        sh(pod_ns, "ip route add 169.254.1.1 dev eth0 scope link && ip route add default via 169.254.1.1 dev eth0")
        sh(ns, f"ip route add {n['pod']}/32 dev {cali} scope link")
        # What BIRD would install for the other node's block.
        sh(ns, f"ip route add {peer['block']} via {peer['ip']} dev tunl0 onlink")
        facts[name] = {"cfg": cfg, "obj": obj}
    return facts


@pytest.fixture(scope="module")
def lab():
    leftovers = _our_namespaces()
    assert not leftovers, f"namespaces of an earlier run still exist: {leftovers}"
    with tempfile.TemporaryDirectory(prefix="cnilab-h2-ipip-") as tmp:
        try:
            yield _build(tmp)
        finally:
            for ns in reversed(NAMESPACES):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            assert not _our_namespaces(), "a namespace could not be removed"


class Tcpdump:
    """tcpdump on one device of one namespace; stopped (its own PID only) on leaving."""

    def __init__(self, ns: str, dev: str, expr: str) -> None:
        self.cmd = ["ip", "netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-v", "-l", "-U", *expr.split()]
        self.proc: subprocess.Popen | None = None
        self.text = ""

    def __enter__(self) -> "Tcpdump":
        # ip netns exec execs tcpdump: the PID is tcpdump's own.
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready and "listening on" in self.proc.stderr.readline():
                return self
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"tcpdump did not start: {' '.join(self.cmd)}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.text, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.text, _ = self.proc.communicate()
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def records(self) -> list[str]:
        """One string per packet (tcpdump -v continues a packet on indented lines)."""
        out: list[str] = []
        for line in self.text.splitlines():
            if line[:1].isspace() and out:
                out[-1] += " " + line.strip()
            elif line.strip():
                out.append(line.strip())
        return out


def ping(ns: str, dst: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return sh(ns, " ".join(["ping", "-n", *args, dst]), check=False, timeout=timeout)


def _received(out: str) -> tuple[int, int]:
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_programs_are_attached_where_the_module_says(lab):
    n = NODES["node1"]["ns"]
    egress = sh(n, "tc filter show dev tunl0 egress").stdout
    ingress = sh(n, "tc filter show dev eth0 ingress").stdout
    assert re.search(r"bpf_ipip\.o:\[ipip-encap\] direct-action", egress), egress
    assert re.search(r"bpf_ipip\.o:\[ipip-decap\] direct-action", ingress), ingress
    link = json.loads(sh(n, "ip -j -d link show tunl0").stdout)[0]
    assert (link["mtu"], link["qdisc"], link["txqlen"], link["linkinfo"]["info_kind"]) == (MTU, "noqueue", 1000, "ifb")
    assert "NOARP" in link["flags"] and "UP" in link["flags"]
    route = sh(n, f"ip route show {NODES['node2']['block']}").stdout.strip()
    assert route == "192.168.196.128/26 via 192.0.2.40 dev tunl0 onlink", route


def test_pod_to_pod_ping_travels_as_protocol_4_between_the_nodes(lab):
    with Tcpdump(NODES["node2"]["ns"], "eth0", "ip proto 4") as dump:
        res = ping(NODES["node1"]["pod_ns"], POD2, "-c", "3", "-i", "0.2", "-W", "2")
        time.sleep(0.5)
    out = res.stdout
    assert _received(out) == (3, 3), out
    ttls = re.findall(r"from 192\.168\.196\.131: icmp_seq=\d+ ttl=(\d+)", out)
    assert ttls == ["62", "62", "62"], out  # 64, forwarded by node2 and node1, as in seed 003

    records = dump.records()
    request = re.compile(
        r"IP \(tos 0x0, ttl 63, id 0, offset 0, flags \[DF\], proto IPIP \(4\), length 104\) "
        r"192\.0\.2\.32 > 192\.0\.2\.40: IP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[DF\], proto ICMP \(1\), length 84\) "
        r"192\.168\.49\.66 > 192\.168\.196\.131: ICMP echo request"
    )
    # The kernel answers echo requests without DF, and the outer header copies that.
    reply = re.compile(
        r"IP \(tos 0x0, ttl 63, id 0, offset 0, flags \[none\], proto IPIP \(4\), length 104\) "
        r"192\.0\.2\.40 > 192\.0\.2\.32: IP \(tos 0x0, ttl 63, id \d+, offset 0, flags \[none\], proto ICMP \(1\), length 84\) "
        r"192\.168\.196\.131 > 192\.168\.49\.66: ICMP echo reply"
    )
    assert sum(bool(request.search(r)) for r in records) == 3, "\n".join(records)
    assert sum(bool(reply.search(r)) for r in records) == 3, "\n".join(records)


def test_first_packet_survives_unresolved_underlay_neighbours_both_ways(lab):
    """bpf_redirect_neigh with NULL next hop: a packet waiting for ARP is not lost."""
    for pod_ns, dst in ((NODES["node2"]["pod_ns"], POD1), (NODES["node1"]["pod_ns"], POD2)):
        for n in NODES.values():
            sh(n["ns"], "ip neigh flush dev eth0")
        res = ping(pod_ns, dst, "-c", "3", "-i", "0.2", "-W", "2")
        assert _received(res.stdout) == (3, 3), res.stdout
        assert "icmp_seq=1 ttl=62" in res.stdout, res.stdout


def test_mtu_boundary_is_tunl0s(lab):
    """1412 + 28 = 1440 fits tunl0 (1460 on eth0); 1413 does not.  The pod keeps the veth's
    1500, so the refusal comes from node1 forwarding to tunl0 (frag-needed, mtu 1440)."""
    pod_ns = NODES["node1"]["pod_ns"]
    ok = ping(pod_ns, POD2, "-M", "do", "-s", "1412", "-c", "2", "-i", "0.2", "-W", "2")
    assert ok.returncode == 0 and _received(ok.stdout) == (2, 2), ok.stdout + ok.stderr
    assert "1420 bytes from 192.168.196.131" in ok.stdout, ok.stdout
    big = ping(pod_ns, POD2, "-M", "do", "-s", "1413", "-c", "2", "-i", "0.2", "-W", "2")
    text = big.stdout + big.stderr
    assert big.returncode != 0, text
    assert re.search(r"mtu ?= ?1440", text), text


def test_node_to_remote_pod_uses_the_tunnel_address(lab):
    n1 = NODES["node1"]["ns"]
    src = json.loads(sh(n1, f"ip -j route get {POD2}").stdout)[0]["prefsrc"]
    assert src == "192.168.49.64"
    res = ping(n1, POD2, "-c", "2", "-i", "0.2", "-W", "2")
    assert _received(res.stdout) == (2, 2), res.stdout
    assert "ttl=63" in res.stdout, res.stdout  # the reply crosses one router: node2


@pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")
def test_tcp_bulk_transfer_keeps_flowing(lab):
    """GSO super-packets through encap and decap (fib tot_len = 0, FIXED_GSO): TCP does not stall."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", NODES["node2"]["pod_ns"], "iperf3", "-s", "-1", "-B", POD2, "-p", "5201"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            if ":5201" in sh(NODES["node2"]["pod_ns"], "ss -ltn").stdout:
                break
            time.sleep(0.1)
        res = sh(NODES["node1"]["pod_ns"], f"iperf3 -c {POD2} -p 5201 -t 2 -J", check=False, timeout=60)
        result = json.loads(res.stdout)
        assert "error" not in result, result.get("error")
        received = result["end"]["sum_received"]["bytes"]
        assert received > 50 * 2**20, f"only {received} bytes in 2 s"
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=10)
