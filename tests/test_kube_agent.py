"""The Cilium agent's outputs, parsed: the seeds' real `cilium status` and `cilium bpf tunnel list`."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnilab.kube.agent import exec_argv, parse_status, parse_tunnel_list
from cnilab.kube.expect import TunnelEntry

F = Path(__file__).parent / "fixtures" / "kube"


def test_tunnel_list_of_seed_000_worker():
    assert parse_tunnel_list((F / "seed000_worker_tunnel_list.txt").read_text()) == [
        TunnelEntry("10.0.1.0", "172.18.0.4"), TunnelEntry("10.0.0.0", "172.18.0.2")]


def test_tunnel_list_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="not a `cilium bpf tunnel list` line"):
        parse_tunnel_list("TUNNEL       VALUE\nError: cannot open map\n")
    assert parse_tunnel_list("TUNNEL       VALUE\n") == []


@pytest.mark.parametrize("fixture, kpr, devices, host_routing, masq, ipam", [
    # seed 000: VXLAN, kube-proxy replacement strict, BPF host routing and masquerade (aligned columns)
    ("seed000_cilium_status.txt", "Strict", [("eth0", "172.18.0.2", False)], "BPF",
     ("BPF", ("eth0",), "10.0.0.0/24", True, False), (3, 254, ("10.0.0.0/24",))),
    # seed 004 (a), (b), (c): whitespace collapsed in the copy
    ("seed004a_cilium_status.txt", "Disabled", [], "Legacy",
     ("IPTables", (), None, True, False), (3, 254, ("10.0.0.0/24",))),
    ("seed004b_cilium_status.txt", "Strict", [("eth0", "172.18.0.3", True)], "Legacy",
     ("IPTables", (), None, True, False), (2, 254, ("10.0.0.0/24",))),
    ("seed004c_cilium_status.txt", "Strict", [("eth0", "172.18.0.2", True)], "BPF",
     ("BPF", ("eth0",), "10.0.0.0/8", True, False), (5, 254, ("10.0.1.0/24",))),
])
def test_cilium_status_of_the_seeds(fixture, kpr, devices, host_routing, masq, ipam):
    st = parse_status((F / fixture).read_text())
    k = st.kube_proxy_replacement
    assert k.mode == kpr and k.enabled == (kpr != "Disabled")
    assert [(d.name, d.ip, d.direct_routing) for d in k.devices] == devices
    assert st.host_routing == host_routing
    m = st.masquerading
    assert (m.mode, m.devices, m.native_cidr, m.ipv4, m.ipv6) == masq
    assert (st.ipam.used, st.ipam.total, st.ipam.cidrs) == ipam
    assert st.fields["Cilium"].split()[:2] == ["Ok", "1.13.0-rc5"]


def test_direct_routing_device_tells_native_from_tunnel():
    assert parse_status((F / "seed000_cilium_status.txt").read_text()).kube_proxy_replacement.direct_routing_device is None
    assert parse_status((F / "seed004c_cilium_status.txt").read_text()).kube_proxy_replacement.direct_routing_device == "eth0"


def test_exec_argv_reaches_the_agent_container():
    assert exec_argv("cilium-mlmk5", "bpf", "tunnel", "list", context="kind-x") == [
        "kubectl", "--context", "kind-x", "-n", "kube-system", "exec", "cilium-mlmk5", "-c", "cilium-agent",
        "--", "cilium", "bpf", "tunnel", "list"]
