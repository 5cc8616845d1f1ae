"""What a real kind + Cilium cluster needs beside the kind spec: the Helm values and
the install script (templates/cilium)."""

from __future__ import annotations

from typing import Any

from ... import render as core

# Helm values in the order the seeds pass them with --set; other keys follow as declared.
CILIUM_VALUES_ORDER = (
    "k8sServiceHost", "k8sServicePort", "debug", "monitorAggregation", "ipam", "cluster",
    "kubeProxyReplacement", "tunnel", "routingMode", "autoDirectNodeRoutes",
    "ipv4NativeRoutingCIDR", "enableIPv4Masquerade", "bpf",
)


def cilium_values(lab) -> dict[str, Any]:
    """The Helm values: the declared ones, plus the API server the agents must reach
    (k8sServiceHost = the control-plane's IP, k8sServicePort = the model's port)."""
    declared = lab.decl.cni.values.model_dump(mode="json", exclude_unset=True)
    values = {
        "k8sServiceHost": str(lab.control_plane.ip),
        "k8sServicePort": lab.decl.cni.values.k8sServicePort,
    } | {k: v for k, v in declared.items() if k not in ("k8sServiceHost", "k8sServicePort")}
    return core.ordered(values, CILIUM_VALUES_ORDER)



def render(lab) -> dict[str, str]:
    """{"cilium/values.yaml", "install.sh"} -> text."""
    decl = lab.decl
    values = cilium_values(lab)
    common = {"lab": lab, "cluster_name": lab.name, "node_image": decl.nodeImage}
    return {
        "cilium/values.yaml": core.render_template(
            "cilium/values.yaml.j2",
            api_server={k: values[k] for k in ("k8sServiceHost", "k8sServicePort")},
            values={k: v for k, v in values.items() if k not in ("k8sServiceHost", "k8sServicePort")},
            cilium_version=decl.cni.version,
            **common,
        ),
        "install.sh": core.render_template(
            "cilium/install.sh.j2",
            cilium_version=decl.cni.version,
            control_plane=lab.control_plane,
            untaint_control_plane=decl.untaintControlPlane,
            kind_config="kind/cluster.yaml",
            values_file="cilium/values.yaml",
            workloads_file="workloads.yaml",
            **common,
        ),
    }
