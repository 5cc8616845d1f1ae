"""The tunnel device of the pool's mode: tunl0 (with the IP-in-IP programs on its hooks
where the stand-in carries it), vxlan.calico with Felix's neighbours and FDB entries, or
none at all without encapsulation."""

import json

import pytest

from cnilab.cni.calico import ipip
from cnilab.cni.calico.plan import TUNL0, VXLAN_DEV, VXLAN_PORT, VXLAN_VNI

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _link(host, dev):
    out = host.run("ip -j -d addr show dev %s", dev)
    return json.loads(out.stdout)[0] if out.rc == 0 and out.stdout.strip() else None


def _filters(host, dev, direction):
    out = host.run("tc -j filter show dev %s %s", dev, direction)
    return [f["options"]["bpf_name"] for f in json.loads(out.stdout or "[]") if f.get("kind") == "bpf" and "options" in f]


def test_tunnel_device(running_lab, lab, node):
    host = running_lab.host(node)
    n = lab.node(node)
    devices = {d: _link(host, d) for d in (TUNL0, VXLAN_DEV)}
    present = sorted(d for d, link in devices.items() if link)
    want = [lab.mode.tunnel] if lab.mode.tunnel else []
    assert present == want, f"{node}: tunnel devices {present}, expected {want}"
    if not want:
        return
    link = devices[lab.mode.tunnel]
    if lab.mode.tunnel == TUNL0:
        kind = link.get("linkinfo", {}).get("info_kind")
        want_kind = "ipip" if _kernel_has_ipip(host) else "ifb"
        assert kind == want_kind, f"{node}: tunl0 is {kind}, expected {want_kind} (the kernel's ipip, else the lab's stand-in)"
    addrs = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a["family"] == "inet"]
    assert addrs == [f"{n.tunnel_ip}/32"], f"{node} {lab.mode.tunnel}: addresses {addrs}, expected the tunnel address only"
    assert link["mtu"] == lab.mode.mtu, f"{node} {lab.mode.tunnel}: mtu {link['mtu']}, expected {lab.mode.mtu}"
    if lab.mode.tunnel == VXLAN_DEV:
        data = link["linkinfo"]["info_data"]
        got = (data.get("id"), data.get("port"), data.get("local"), data.get("learning"), link["address"])
        want_v = (VXLAN_VNI, VXLAN_PORT, str(n.ip), False, n.vxlan_mac)
        assert got == want_v, f"{node} vxlan.calico (id, port, local, learning, mac): expected {want_v}, got {got}"


def _kernel_has_ipip(host) -> bool:
    return host.file("/sys/module/ipip").exists


def test_ipip_programs_on_their_hooks(running_lab, lab, node):
    """The stand-in's programs where the kernel has no ipip; none where tunl0 is the kernel's."""
    host = running_lab.host(node)
    got = {(d, direction): _filters(host, d, direction) for d, direction in ((TUNL0, "egress"), ("eth0", "ingress"))}
    if lab.mode.tunnel == TUNL0 and not _kernel_has_ipip(host):
        want = {
            (TUNL0, "egress"): [f"{ipip.OBJECT_NAME}:[{ipip.ENCAP_SECTION}]"],
            ("eth0", "ingress"): [f"{ipip.OBJECT_NAME}:[{ipip.DECAP_SECTION}]"],
        }
    else:
        want = {(TUNL0, "egress"): [], ("eth0", "ingress"): []}
    assert got == want, f"{node}: BPF filters {got}, expected {want}"


def test_vxlan_neighbours_and_fdb(running_lab, lab, node):
    host = running_lab.host(node)
    if lab.mode.tunnel != VXLAN_DEV:
        assert _link(host, VXLAN_DEV) is None
        return
    neigh = json.loads(host.run("ip -j neigh show dev %s nud permanent", VXLAN_DEV).stdout or "[]")
    fdb = json.loads(host.run("bridge -j fdb show dev %s", VXLAN_DEV).stdout or "[]")
    got_n = sorted((e["dst"], e["lladdr"]) for e in neigh)
    got_f = sorted((e["mac"], e["dst"]) for e in fdb if e.get("dst"))
    assert got_n == sorted(lab.vxlan_neighbours(node)), f"{node}: neighbours {got_n}, expected {sorted(lab.vxlan_neighbours(node))}"
    assert got_f == sorted(lab.vxlan_fdb(node)), f"{node}: fdb {got_f}, expected {sorted(lab.vxlan_fdb(node))}"
