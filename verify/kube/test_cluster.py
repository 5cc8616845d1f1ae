"""A real kind + Cilium cluster against its own API objects: devices, router IP and routes
on each node, each agent's tunnel map, its status against the declared values (--lab),
and pods pinging pods on other nodes."""

from __future__ import annotations

import subprocess

from cnilab.kube import agent
from cnilab.kube.compare import routes_missing, status_differences, tunnel_differences


def test_the_api_objects_say_what_the_checks_need(expected):
    assert not expected.problems, "; ".join(expected.problems)


def test_cilium_devices(node, node_host):
    for dev in ("cilium_host", "cilium_net"):
        assert node_host.interface(dev).exists, f"{node}: no {dev}"


def test_router_ip_on_cilium_host(node, node_host, expected):
    router = expected.nodes[node].router_ip
    assert router in node_host.interface("cilium_host").addresses, f"{node}: cilium_host lacks {router}"


def test_cilium_host_routes(node, node_host, expected):
    assert routes_missing(expected.routes.get(node, ()), node_host.check_output("ip route show")) == []


def test_agent_tunnel_map(node, expected, kube_args):
    listed = agent.tunnel_list(expected.agents[node], **kube_args)
    assert tunnel_differences(expected.tunnels[node], listed) == []


def test_agent_status_is_the_declared_one(node, expected, kube_args, pytestconfig):
    from cnilab.model import load_lab

    values = load_lab(pytestconfig.getoption("--lab")).decl.cni.values  # deselected without --lab
    assert status_differences(agent.status(expected.agents[node], **kube_args), values) == []


def test_pod_reaches_a_pod_on_another_node(pair, kube_args):
    src, dst = pair
    argv = agent.kubectl_argv(**kube_args) + ["-n", src.namespace, "exec", src.name, "--", "ping", "-c1", "-W2", dst.ip]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"{src.name} ({src.node}) -> {dst.name} {dst.ip} ({dst.node}): {(p.stdout + p.stderr).strip()[-200:]}"
