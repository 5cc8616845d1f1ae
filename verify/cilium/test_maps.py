"""The pinned maps: tunnel map, endpoint map, ipcache (seed 000: `cilium bpf tunnel list`)."""

import pytest
import readers

from cnilab.cni.cilium import maps

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def _entries(running_lab, node, name, cls):
    raw = readers.map_entries(running_lab.host(node), name)
    assert raw is not None, f"{node}: {maps.PIN_DIR}/{name} is not pinned"
    return {cls.unpack(k, v) for k, v in raw.items()}


def test_tunnel_map_holds_every_other_node(running_lab, lab, node):
    got = _entries(running_lab, node, maps.TUNNEL_MAP, maps.TunnelEntry)
    want = set(lab.tunnel_entries(node))
    assert got == want, (
        f"{node} cilium_tunnel_map:\n expected:\n{maps.format_tunnel_list(sorted(want, key=str))}"
        f" got:\n{maps.format_tunnel_list(sorted(got, key=str))}"
    )


def test_tunnel_map_never_holds_the_node_itself(running_lab, lab, node):
    own = str(lab.node(node).pod_cidr.network_address)
    got = _entries(running_lab, node, maps.TUNNEL_MAP, maps.TunnelEntry)
    assert own not in {e.prefix for e in got}, f"{node} tunnels its own pod CIDR {own}"


def test_endpoint_map(running_lab, lab, node):
    links = readers.links(running_lab.host(node))
    missing = sorted(e.lxc for e in lab.endpoint_entries(node) if e.lxc and e.lxc not in links)
    assert not missing, f"{node}: no {', '.join(missing)} for the endpoints behind them"
    want = {e.entry(links[e.lxc]["ifindex"] if e.lxc else 0) for e in lab.endpoint_entries(node)}
    got = _entries(running_lab, node, maps.ENDPOINTS_MAP, maps.EndpointEntry)
    assert got == want, f"{node} cilium_lxc:\n missing: {sorted(want - got, key=str)}\n unexpected: {sorted(got - want, key=str)}"


def test_ipcache(running_lab, lab, node):
    want = set(lab.ipcache_entries(node))
    got = _entries(running_lab, node, maps.IPCACHE_MAP, maps.IpcacheEntry)
    assert got == want, f"{node} cilium_ipcache:\n missing: {sorted(want - got, key=str)}\n unexpected: {sorted(got - want, key=str)}"
