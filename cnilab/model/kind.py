"""kind's Cluster config (kind.x-k8s.io/v1alpha4), checked as kind checks it.

kind decodes its config strictly (an unknown field is an error) and then runs
``Cluster.Validate()`` (sigs.k8s.io/kind/pkg/internal/apis/config/validate.go): the
name, apiServerPort, ipFamily, podSubnet and serviceSubnet for that family,
kubeProxyMode, each node's role and port mappings, at least one control-plane. To
those this adds what kubeadm refuses later: podSubnet and serviceSubnet overlapping.

Problems are ``(path, detail)`` pairs under ``kind``'s own paths
(``networking.podSubnet``); :mod:`cnilab.model.declaration` puts them under ``kind.``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .k8s import Problem, invalid, not_supported, show, unknown_field

API_VERSION = "kind.x-k8s.io/v1alpha4"
VALID_NAME = re.compile(r"^[a-z0-9.-]+$")
IP_FAMILIES = ["ipv4", "ipv6", "dual"]
PROXY_MODES = ["iptables", "ipvs", "nftables", "none"]
ROLES = ["control-plane", "worker"]
DEFAULT_POD_SUBNET = {"ipv4": "10.244.0.0/16", "ipv6": "fd00:10:244::/56", "dual": "10.244.0.0/16,fd00:10:244::/56"}
DEFAULT_SERVICE_SUBNET = {"ipv4": "10.96.0.0/16", "ipv6": "fd00:10:96::/112", "dual": "10.96.0.0/16,fd00:10:96::/112"}

# The v1alpha4 types' JSON keys (sigs.k8s.io/kind/pkg/apis/config/v1alpha4/types.go).
CLUSTER_KEYS = ["kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig",
                "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches",
                "containerdConfigPatchesJSON6902"]
NETWORKING_KEYS = ["ipFamily", "apiServerPort", "apiServerAddress", "podSubnet", "serviceSubnet",
                   "disableDefaultCNI", "kubeProxyMode", "dnsSearch"]
NODE_KEYS = ["role", "image", "labels", "extraMounts", "extraPortMappings", "kubeadmConfigPatches",
             "kubeadmConfigPatchesJSON6902"]
PORT_MAPPING_KEYS = ["containerPort", "hostPort", "listenAddress", "protocol"]
MOUNT_KEYS = ["containerPath", "hostPath", "readOnly", "selinuxRelabel", "propagation"]
RESERVED_NODE_LABELS = ["io.x-k8s.kind.cluster", "io.x-k8s.kind.role"]


def _unknown(block: Any, known: list[str], path: str) -> list[Problem]:
    if not isinstance(block, dict):
        return []
    return [unknown_field(f"{path}.{k}" if path else str(k), str(k), known) for k in block if k not in known]


def _port(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and not -1 <= value <= 65535:
        return f"invalid port number: {value}"
    return None


def subnets(value: str, family: str) -> tuple[list[Any], str | None]:
    """validateSubnets: the CIDRs of a podSubnet or serviceSubnet, or why kind refuses them."""
    nets = []
    for text in value.split(","):
        try:
            nets.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as e:
            return [], f"failed to parse cidr value:{show(text)} with error: {e}"
    dual = family == "dual"
    if not nets:
        return [], "no subnets defined"
    if dual and (len(nets) > 2 or (len(nets) == 2 and nets[0].version == nets[1].version)):
        return nets, "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking"
    if not dual and len(nets) > 1:
        return nets, "only one CIDR allowed for single-stack networking"
    if family == "ipv4" and nets[0].version != 4:
        return nets, "expected IPv4 CIDR for IPv4 family"
    if family == "ipv6" and nets[0].version != 6:
        return nets, "expected IPv6 CIDR for IPv6 family"
    return nets, None


def validate(cluster: Any) -> list[Problem]:
    """kind's strict decoding and Cluster.Validate(), plus the subnets' overlap."""
    if not isinstance(cluster, dict):
        return []
    out = _unknown(cluster, CLUSTER_KEYS, "")
    name = cluster.get("name")
    if isinstance(name, str) and not VALID_NAME.match(name):
        out.append(invalid("name", name, f"is not a valid cluster name, cluster names must match `{VALID_NAME.pattern}`"))

    net = cluster.get("networking")
    net = net if isinstance(net, dict) else {}
    out += _unknown(net, NETWORKING_KEYS, "networking")
    port = net.get("apiServerPort")
    if port and _port(port):
        out.append(invalid("networking.apiServerPort", port, f"invalid apiServerPort: {_port(port)}"))
    family = net.get("ipFamily", "ipv4")
    if isinstance(family, str) and family not in IP_FAMILIES:
        out.append(not_supported("networking.ipFamily", family, IP_FAMILIES))
        family = "ipv4"
    mode = net.get("kubeProxyMode")
    if isinstance(mode, str) and mode not in PROXY_MODES:
        out.append(not_supported("networking.kubeProxyMode", mode, PROXY_MODES))
    parsed = {}
    for key, default, what in (("podSubnet", DEFAULT_POD_SUBNET, "pod"), ("serviceSubnet", DEFAULT_SERVICE_SUBNET, "service")):
        value = net.get(key)
        if value is not None and not isinstance(value, str):
            continue  # the type is the schema's to say
        nets, err = subnets(value or default.get(family, default["ipv4"]), family if isinstance(family, str) else "ipv4")
        if err:
            out.append(invalid(f"networking.{key}", value, f"invalid {what} subnet {err}"))
        else:
            parsed[key] = nets
    for p in parsed.get("podSubnet", []):
        for s in parsed.get("serviceSubnet", []):
            if p.version == s.version and p.overlaps(s):
                out.append(invalid("networking.serviceSubnet", str(s), f"overlaps networking.podSubnet {p}: pods and Services need disjoint subnets"))

    nodes = cluster.get("nodes")
    if isinstance(nodes, list):
        roles = []
        for i, node in enumerate(nodes):
            if not isinstance(node, dict):
                continue
            out += _unknown(node, NODE_KEYS, f"nodes[{i}]")
            role = node.get("role", "control-plane")
            roles.append(role)
            if isinstance(role, str) and role not in ROLES:
                out.append(not_supported(f"nodes[{i}].role", role, ROLES))
            for k in node.get("labels") or {}:
                if k in RESERVED_NODE_LABELS:
                    out.append(invalid(f"nodes[{i}].labels", k, f"invalid container label key {show(k)}"))
            for j, m in enumerate(node.get("extraPortMappings") or []):
                if not isinstance(m, dict):
                    continue
                out += _unknown(m, PORT_MAPPING_KEYS, f"nodes[{i}].extraPortMappings[{j}]")
                for key in ("hostPort", "containerPort"):
                    if _port(m.get(key)):
                        out.append(invalid(f"nodes[{i}].extraPortMappings[{j}].{key}", m[key], f"invalid {key}: {_port(m[key])}"))
            for j, m in enumerate(node.get("extraMounts") or []):
                out += _unknown(m, MOUNT_KEYS, f"nodes[{i}].extraMounts[{j}]")
        if "control-plane" not in roles:
            out.append(invalid("nodes", [r for r in roles], "must have at least one control-plane node"))
    return out
