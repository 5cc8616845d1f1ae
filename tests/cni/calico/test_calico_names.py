"""Names Calico derives (seed 003 values)."""

import pytest

from cnilab.cni.calico import names


@pytest.mark.parametrize(
    "pod, expected",
    [
        ("busybox-deployment-8c7dc8548-btnkv", "calib673e730d42"),  # seed: node01's busybox
        ("busybox-deployment-8c7dc8548-x6ljh", "cali9861acf9f07"),  # seed: controlplane's busybox
    ],
)
def test_veth_name_matches_seed(pod, expected):
    assert names.veth_name("default", pod) == expected


def test_veth_name_depends_on_namespace_and_prefix():
    assert names.veth_name("kube-system", "busybox-deployment-8c7dc8548-x6ljh") != "cali9861acf9f07"
    assert names.veth_name("default", "busybox-deployment-8c7dc8548-x6ljh", prefix="tap") == "tap9861acf9f07"


def test_veth_name_refuses_names_over_ifnamsiz():
    with pytest.raises(ValueError, match="longer than 15"):
        names.veth_name("default", "pod", prefix="toolong")


def test_workload_endpoint_name_doubles_dashes_per_segment():
    assert (
        names.workload_endpoint_name("node01", "busybox-deployment-8c7dc8548-btnkv")
        == "node01-k8s-busybox--deployment--8c7dc8548--btnkv-eth0"
    )
    assert names.workload_endpoint_name("kind-worker", "a-b", iface="eth-1") == "kind--worker-k8s-a--b-eth--1"


def test_vxlan_mac_matches_seed():
    assert names.vxlan_mac("node01") == "66:aa:99:2f:dc:24"
    assert names.vxlan_mac("controlplane").startswith("66:")
    assert names.vxlan_mac("controlplane") != names.vxlan_mac("node01")


def test_bgp_peer_names():
    assert names.bgp_peer_name("Mesh", "172.17.0.40") == "Mesh_172_17_0_40"
    assert names.bgp_peer_name("Node", "10.0.0.1") == "Node_10_0_0_1"
    assert names.bgp_peer_name("Global", "10.0.0.1", port=180) == "Global_10_0_0_1_port_180"
    with pytest.raises(ValueError):
        names.bgp_peer_name("Mesh", "10.0.0.1", port=180)
    with pytest.raises(ValueError):
        names.bgp_peer_name("Peer", "10.0.0.1")


def test_peer_kind_from_protocol_name():
    assert names.peer_kind("Mesh_172_17_0_40") == "node-to-node mesh"
    assert names.peer_kind("Node_10_0_0_1") == "node specific"
    assert names.peer_kind("Global_10_0_0_1") == "global"
    assert names.peer_kind("kernel1") is None
    assert names.peer_kind("Mesh_") is None


def test_constants():
    assert names.HOST_VETH_MAC == "ee:ee:ee:ee:ee:ee"
    assert names.POD_GATEWAY == "169.254.1.1"
