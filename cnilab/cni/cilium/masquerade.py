"""Cilium's iptables masquerade (`enableIPv4Masquerade` without `bpf.masquerade`)."""

from __future__ import annotations

from .plan import CiliumLab


def cilium_masquerade_rules(lab: CiliumLab, node: str) -> tuple[list[str], list[str]]:
    """Cilium's iptables masquerade (no bpf.masquerade): the node's pods leaving for anything
    outside the native routing CIDR (or the pod pool) take the node's address."""
    if lab.mode.masquerade != "iptables":
        return [], []
    cidr = lab.node(node).pod_cidr
    return ["CILIUM_POST_nat"], [
        '-A POSTROUTING -m comment --comment "cilium-feeder: CILIUM_POST_nat" -j CILIUM_POST_nat',
        f"-A CILIUM_POST_nat -s {cidr} ! -d {lab.mode.masquerade_exclusion} ! -o cilium_+ "
        '-m comment --comment "cilium masquerade non-cluster" -j MASQUERADE',
    ]
