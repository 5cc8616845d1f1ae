"""What a cross-node ping looks like on the underlay, and what it sees (seed 003): in IP-in-IP
mode genuine protocol-4 packets between the node addresses around the pod's packet, without
encapsulation the pods' own addresses, in VXLAN mode UDP 4789 with VNI 4096; the reply
arrives with TTL 62 (two routers: both nodes); and the tunnel's MTU is the boundary."""

import base64
import io
import threading
import time

import pytest

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.vxlan import VXLAN
from scapy.utils import PcapReader

from cnilab.cni.calico.plan import TUNL0, VXLAN_DEV, VXLAN_PORT, VXLAN_VNI
from cnilab.verify import cross_node_pair

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _pair(lab):
    pair = cross_node_pair(lab)
    assert pair is not None, "a Calico lab has pods on at least two nodes"
    return pair


def _capture(running_lab, src, dst) -> list:
    """The echo request and reply on the destination node's eth0: any IPv4 but BGP (the
    filter must not assume the encapsulation it is there to check)."""
    cmd = (
        "f=$(mktemp -d); timeout 10 tcpdump --immediate-mode -U -pn -i eth0 -c 4 -w $f/cap.pcap "
        "'ip and not (tcp port 179)' 2>$f/err & pid=$!; "
        "for i in $(seq 100); do grep -q listening $f/err && break; sleep 0.05; done; "
        "wait $pid; base64 -w0 $f/cap.pcap; rm -rf $f"
    )
    host = running_lab.host(dst.node)
    # The capture waits on the destination node while the source pod pings.
    result = {}
    t = threading.Thread(target=lambda: result.update(out=host.run(cmd)))
    t.start()
    # Ping until the capture has four frames (two exchanges): the first pings may precede
    # tcpdump's start, and a capture may begin between a request and its reply.
    deadline = time.monotonic() + 12
    while t.is_alive() and time.monotonic() < deadline:
        running_lab.host(src.node).run("ip netns exec %s ping -c1 -W1 %s", src.name, str(dst.ip))
        t.join(0.3)
    t.join(15)
    out = result["out"]
    assert out.rc == 0, f"capture on {dst.node} failed: {out.stderr}"
    frames = list(PcapReader(io.BytesIO(base64.b64decode(out.stdout))))
    # The first frame from the source's side, and the one after it.
    outer_src = str((running_lab.lab.node(src.node).ip) if running_lab.lab.mode.tunnel else src.ip)
    first = next((i for i, f in enumerate(frames) if f.haslayer(IP) and f[IP].src == outer_src), None)
    pair = frames[first : first + 2] if first is not None else []
    assert len(pair) == 2, f"expected an echo request from {outer_src} and its reply on {dst.node} eth0, got {[f.summary() for f in frames]}"
    return pair


def test_what_crosses_the_underlay(running_lab, lab):
    src, dst = _pair(lab)
    s_node, d_node = lab.node(src.node), lab.node(dst.node)
    frames = _capture(running_lab, src, dst)
    got, want = [], []
    for f, (a, b, na, nb) in zip(frames, ((src, dst, s_node, d_node), (dst, src, d_node, s_node))):
        if lab.mode.tunnel == TUNL0:
            want.append((str(na.ip), str(nb.ip), 4, str(a.ip), str(b.ip)))
            got.append((f[IP].src, f[IP].dst, f[IP].proto, f[IP].payload.src if f[IP].proto == 4 else None,
                        f[IP].payload.dst if f[IP].proto == 4 else None))  # fmt: skip
        elif lab.mode.tunnel == VXLAN_DEV:
            want.append((str(na.ip), str(nb.ip), VXLAN_PORT, VXLAN_VNI, str(a.ip), str(b.ip)))
            inner = f[VXLAN].payload[IP] if f.haslayer(VXLAN) else None
            got.append((f[IP].src, f[IP].dst, f[UDP].dport if f.haslayer(UDP) else None,
                        f[VXLAN].vni if f.haslayer(VXLAN) else None, inner.src if inner else None, inner.dst if inner else None))  # fmt: skip
        else:
            want.append((str(a.ip), str(b.ip), 1))
            got.append((f[IP].src, f[IP].dst, f[IP].proto))
    assert got == want, f"on {dst.node} eth0 ({lab.mode.encapsulation}):\n expected {want}\n got      {got}"


def test_reply_ttl_counts_two_routers(running_lab, lab):
    src, dst = _pair(lab)
    out = running_lab.host(src.node).run("ip netns exec %s ping -c1 -W2 %s", src.name, str(dst.ip))
    assert out.rc == 0 and " ttl=62 " in out.stdout, f"{src.name} -> {dst.ip}: expected a reply with ttl=62:\n{out.stdout}{out.stderr}"


def test_mtu_is_the_boundary(running_lab, lab):
    src, dst = _pair(lab)
    host = running_lab.host(src.node)
    fits = lab.mode.mtu - 28  # IP and ICMP headers
    ok = host.run("ip netns exec %s ping -c1 -W2 -M do -s %s %s", src.name, str(fits), str(dst.ip))
    assert ok.rc == 0, f"{lab.mode.mtu}-byte packets should cross: {ok.stdout}{ok.stderr}"
    big = host.run("ip netns exec %s ping -c1 -W2 -M do -s %s %s", src.name, str(fits + 1), str(dst.ip))
    assert big.rc != 0 and f"mtu={lab.mode.mtu}" in (big.stdout + big.stderr), (
        f"{lab.mode.mtu + 1}-byte packets with DF should be refused at mtu {lab.mode.mtu}: {big.stdout}{big.stderr}"
    )
