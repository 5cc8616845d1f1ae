"""What crosses the underlay between nodes.

Tunnel labs (seed 000's capture): a cross-node ping leaves the source node's eth0 as UDP
8472 whose VNI is the source pod's security identity, and the inner frame keeps the pod's
own MACs (pod eth0 -> its lxc), in both directions. Native-routing labs (seed 004): the
same ping crosses as plain IP between the pods' own addresses, nothing encapsulated."""

import base64
import io

import pytest

from cnilab.verify import cross_node_pair
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import bind_layers
from scapy.utils import PcapReader

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)

bind_layers(UDP, VXLAN, dport=8472)  # Cilium's port; scapy knows only 4789


def _capture(running_lab, src, dst, capture_filter: str, dev: str = "eth0") -> list:
    """The first two frames on the source node's `dev` matching the filter, around one ping."""
    cmd = (
        f"f=$(mktemp -d); timeout 10 tcpdump --immediate-mode -U -pn -i {dev} -c 2 -w $f/cap.pcap '{capture_filter}' 2>$f/err & pid=$!; "
        "for i in $(seq 100); do grep -q listening $f/err && break; sleep 0.05; done; "
        f"ip netns exec {src.name} ping -c1 -W2 {dst.ip} >/dev/null; wait $pid; base64 -w0 $f/cap.pcap; rm -rf $f"
    )
    out = running_lab.host(src.node).run(cmd)
    assert out.rc == 0, f"capture on {src.node} failed: {out.stderr}"
    frames = list(PcapReader(io.BytesIO(base64.b64decode(out.stdout))))
    assert len(frames) == 2, f"expected an echo request and reply on {src.node} {dev}, got {len(frames)} frames"
    return frames


def test_native_routing_crosses_unencapsulated(running_lab, lab):
    if lab.mode.tunnelled:
        pytest.skip("a tunnel lab")
    pair = cross_node_pair(lab)
    if pair is None:
        pytest.skip("no two pods on different nodes")
    src, dst = pair
    dev = lab.routing_dev  # eth1 where the nodes' InternalIPs are on a second NIC (seed 001)
    frames = _capture(running_lab, src, dst, f"host {src.ip} or udp port 8472", dev)
    got = [(f[IP].src, f[IP].dst, f.haslayer(UDP) and f[UDP].dport == 8472) for f in frames]
    want = [(str(src.ip), str(dst.ip), False), (str(dst.ip), str(src.ip), False)]
    assert got == want, f"on {src.node} {dev}: expected {want} (plain IP between the pods), got {got}"


def test_vxlan_vni_is_the_source_identity_and_inner_macs_are_the_pods(running_lab, lab):
    if not lab.mode.tunnelled:
        pytest.skip("not a tunnel lab")
    pair = cross_node_pair(lab)
    if pair is None:
        pytest.skip("no two pods on different nodes")
    src, dst = pair
    # The capture filter cannot see inside VXLAN: the first 2 encapsulated frames after
    # tcpdump listens are the echo request and its reply.
    frames = _capture(running_lab, src, dst, "udp port 8472")
    src_node, dst_node = lab.node(src.node), lab.node(dst.node)
    want = [
        # (outer src, outer dst, vni, inner src MAC, inner dst MAC, inner src IP, inner dst IP)
        (str(src_node.ip), str(dst_node.ip), src.identity, src.mac, src.lxc_mac, str(src.ip), str(dst.ip)),
        (str(dst_node.ip), str(src_node.ip), dst.identity, dst.mac, dst.lxc_mac, str(dst.ip), str(src.ip)),
    ]
    got = []
    for f in frames:
        assert f.haslayer(VXLAN), f"not VXLAN on port 8472: {f.summary()}"
        inner = f[VXLAN].payload
        got.append(
            (f[IP].src, f[IP].dst, f[VXLAN].vni, inner[Ether].src, inner[Ether].dst, inner[IP].src, inner[IP].dst)
        )
    assert got == want, "on the wire:\n" + "\n".join(f" expected {w}\n got      {g}" for w, g in zip(want, got))
