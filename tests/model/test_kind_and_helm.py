"""kind's Cluster config as kind checks it, and Helm values against the chart's own keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnilab.cni.cilium import values as cv
from cnilab.model import REPO_ROOT
from cnilab.model import kind as kind_rules

REFERENCE = REPO_ROOT.parent / "shared" / "reference" / "cilium-v1.13.0-rc5-values.yaml"


def cluster(**networking):
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": "x", "networking": networking,
            "nodes": [{"role": "control-plane"}, {"role": "worker"}]}


def test_kind_accepts_its_defaults():
    assert kind_rules.validate(cluster()) == []


@pytest.mark.parametrize(("networking", "path", "says"), [
    ({"ipFamily": "ipv5"}, "networking.ipFamily", 'Unsupported value: "ipv5"'),
    ({"podSubnet": "10.96.0.0/12"}, "networking.serviceSubnet", "overlaps networking.podSubnet 10.96.0.0/12"),
    ({"podSubnet": "10.1.0.0/16,10.2.0.0/16"}, "networking.podSubnet", "only one CIDR allowed for single-stack networking"),
    ({"podSubnet": "10.1.0.0/16", "ipFamily": "dual"}, "networking.serviceSubnet", None),
    ({"serviceSubnet": "fd00::/112"}, "networking.serviceSubnet", "expected IPv4 CIDR for IPv4 family"),
    ({"apiServerPort": 99999}, "networking.apiServerPort", "invalid port number: 99999"),
    ({"kubeProxyMode": "userspace"}, "networking.kubeProxyMode", 'Unsupported value: "userspace"'),
    ({"disableDefaultCni": True}, "networking.disableDefaultCni", 'did you mean "disableDefaultCNI"?'),
])
def test_kind_networking(networking, path, says):
    found = dict(kind_rules.validate(cluster(**networking)))
    if says is None:
        assert path not in found
    else:
        assert says in found[path]


def test_kind_needs_a_control_plane_and_known_roles():
    c = cluster()
    c["nodes"] = [{"role": "worker"}, {"role": "master"}]
    found = dict(kind_rules.validate(c))
    assert "must have at least one control-plane node" in found["nodes"]
    assert found["nodes[1].role"].startswith('Unsupported value: "master"')


def test_kind_name():
    c = cluster()
    c["name"] = "My_Lab"
    assert "is not a valid cluster name" in dict(kind_rules.validate(c))["name"]


# --- Helm ---------------------------------------------------------------------------------


def test_the_shipped_key_set_is_the_charts():
    if not REFERENCE.exists():
        pytest.skip("the chart's values.yaml is not beside the repository")
    shipped = json.loads((Path(cv.__file__).parent / "charts" / "cilium-1.13.0-rc5.json").read_text())
    assert cv.chart_keys(REFERENCE.read_text()) == shipped


def test_the_key_set_knows_commented_keys():
    tree = cv.chart("1.13.0-rc5")
    assert tree["kubeProxyReplacement"] == "string"  # `#kubeProxyReplacement: "disabled"`
    assert tree["bpf"]["masquerade"] == "bool"  # `masquerade: ~` typed `# -- (bool)`
    assert tree["debug"]["verbose"] == "any"  # `# verbose:`
    assert "monitorAggregation" not in tree and tree["bpf"]["monitorAggregation"] == "string"
    assert tree["ipMasqAgent"]["config"]["nonMasqueradeCIDRs"] == "list"


@pytest.mark.parametrize(("values", "path", "says"), [
    ({"kubeProxyReplacment": "strict"}, "kubeProxyReplacment", 'did you mean "kubeProxyReplacement"?'),
    ({"tunel": "vxlan"}, "tunel", 'did you mean "tunnel"?'),
    ({"masquerade": True}, "masquerade", 'did you mean "bpf.masquerade"?'),
    ({"ipam": {"operator": {"clusterPoolIPv4MaskSise": 24}}}, "ipam.operator.clusterPoolIPv4MaskSise", 'did you mean "ipam.operator.clusterPoolIPv4MaskSize"?'),
    ({"autoDirectNodeRoutes": "true"}, "autoDirectNodeRoutes", "must be a boolean"),
    ({"tunnelPort": "8472"}, "tunnelPort", "must be an integer"),
    ({"cluster": "default"}, "cluster", "must be a mapping"),
    ({"ipv4NativeRoutingCIDR": ["10.0.0.0/8"]}, "ipv4NativeRoutingCIDR", "must be a string, number or boolean"),
])
def test_values_against_the_chart(values, path, says):
    found = dict(cv.check_values(values, cv.chart("1.13.0-rc5"), "1.13.0-rc5"))
    assert says in found[path], found


@pytest.mark.parametrize("values", [
    {"k8sServicePort": 6443}, {"k8sServicePort": "6443"}, {"debug": {"verbose": "datapath"}},
    {"nodeSelector": {"anything": "goes"}}, {"bpf": {"masquerade": None}}, {"monitorAggregation": "none"},
    {"hubble": {"enabled": True}}, {"cni": {"chainingMode": "portmap"}},
])
def test_values_the_chart_takes(values):
    assert cv.check_values(values, cv.chart("1.13.0-rc5"), "1.13.0-rc5") == []


def test_monitor_aggregation_alias():
    tree = cv.chart("1.13.0-rc5")
    assert cv.check_values({"monitorAggregation": "none", "bpf": {"monitorAggregation": "none"}}, tree, "v") == []
    assert "contradicts" in dict(cv.check_values({"monitorAggregation": "none", "bpf": {"monitorAggregation": "low"}}, tree, "v"))["monitorAggregation"]
