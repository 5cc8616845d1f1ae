"""The expected state of a real cluster, from API objects the `kubernetes` client deserializes
from JSON documents (tests/fixtures/kube/*.json, matching seed 000; see its README)."""

from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest

from cnilab.kube.agent import parse_tunnel_list
from cnilab.kube.expect import ClusterObjects, KubeUnavailable, expected_from, fetch
from cnilab.kube.models import custom_objects, deserialize

F = Path(__file__).parent / "fixtures" / "kube"
P = "cilium-kubeproxy-replacement-ebpf-vxlan"
CP, W, W2 = f"{P}-control-plane", f"{P}-worker", f"{P}-worker2"


@pytest.fixture(scope="module")
def objects() -> ClusterObjects:
    return ClusterObjects(
        nodes=deserialize((F / "nodes.json").read_text(), "V1NodeList"),
        cilium_nodes=custom_objects((F / "ciliumnodes.json").read_text()),
        pods=deserialize((F / "pods.json").read_text(), "V1PodList"),
        services=deserialize((F / "services.json").read_text(), "V1ServiceList"),
    )


def test_the_documents_are_the_clients_models(objects):
    assert isinstance(objects.nodes, kubernetes.client.V1NodeList)
    assert isinstance(objects.pods.items[0], kubernetes.client.V1Pod)
    assert objects.services.items[1].spec.ports[0].node_port == 32000


def test_nodes_take_cilium_pod_cidrs_not_kinds(objects):
    e = expected_from(objects)
    assert {n: (x.internal_ip, x.pod_cidrs) for n, x in e.nodes.items()} == {
        CP: ("172.18.0.4", ("10.0.1.0/24",)), W: ("172.18.0.3", ("10.0.2.0/24",)), W2: ("172.18.0.2", ("10.0.0.0/24",))}
    assert (e.nodes[W].router_ip, e.nodes[W2].router_ip) == ("10.0.2.194", "10.0.0.109")
    assert e.nodes[W].health_ip == "10.0.2.13"
    assert e.problems == ()


def test_tunnel_map_of_the_worker_is_the_seeds(objects):
    e = expected_from(objects)
    seen = parse_tunnel_list((F / "seed000_worker_tunnel_list.txt").read_text())
    assert sorted(e.tunnels[W], key=str) == sorted(seen, key=str)
    assert sorted(parse_tunnel_list(e.tunnel_list(W)), key=str) == sorted(seen, key=str)
    assert {t.endpoint for t in e.tunnels[W2]} == {"172.18.0.4", "172.18.0.3"}


def test_node_routes_of_the_worker_are_the_seeds(objects):
    seed = [line.strip() for line in (F / "seed000_worker_ip_route.txt").read_text().splitlines()]
    cilium = [line for line in seed if "cilium_host" in line]
    assert [str(r) for r in expected_from(objects).routes[W]] == cilium
    assert len(cilium) == 4


def test_pods_services_and_agents(objects):
    e = expected_from(objects)
    wide = (F / "seed000_kubectl_get_pods_wide.txt").read_text().splitlines()[1:]
    pods = {p.name: p for p in e.pods}
    for line in wide:  # NAME READY STATUS RESTARTS AGE IP NODE ...
        name, *_, ip, node, _, _ = line.split()
        assert (pods[name].ip, pods[name].node, pods[name].namespace) == (ip, node, "default")
    svc = {s.name: s for s in e.services}
    for line in (F / "seed000_kubectl_get_svc.txt").read_text().splitlines()[1:]:
        name, typ, cip, _, ports, _ = line.split()
        port, _, rest = ports.partition(":")
        p = svc[name].ports[0]
        assert (svc[name].type, svc[name].cluster_ip) == (typ, cip)
        assert f"{p.port}{':%s' % p.node_port if p.node_port else ''}/{p.protocol}" == ports
    assert e.agents == {CP: "cilium-5zqzb", W: "cilium-mlmk5", W2: "cilium-xktlw"}


def test_a_missing_ciliumnode_or_router_is_named(objects):
    cn = custom_objects((F / "ciliumnodes.json").read_text())
    cn["items"] = [i for i in cn["items"] if i["metadata"]["name"] != W2]
    cn["items"][0]["spec"]["addresses"] = [a for a in cn["items"][0]["spec"]["addresses"] if a["type"] != "CiliumInternalIP"]
    e = expected_from(ClusterObjects(objects.nodes, cn, objects.pods, objects.services))
    assert f"Node {W2} has no CiliumNode (is the Cilium agent running on it?)" in e.problems
    assert f"CiliumNode {CP} has no CiliumInternalIP in spec.addresses" in e.problems
    assert e.routes[CP] == ()
    assert {str(t) for t in e.tunnels[W]} == {"10.0.1.0:0   172.18.0.4:0"}


def test_fetch_without_a_kubeconfig_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeUnavailable, match="no context 'kind-nowhere'"):
        fetch("kind-nowhere")
