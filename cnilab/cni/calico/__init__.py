"""Calico: the plugin for `cni: {plugin: calico}` declarations (seed 003)."""

from __future__ import annotations

from ...cni.base import CniPlugin, Ipam, PodWiring
from . import names
from .values import CniCalico


class CalicoPlugin(CniPlugin):
    name = "calico"
    values_model = CniCalico
    verify_suite = "calico"

    def check(self, decl) -> None:
        if decl.privateNetwork:
            raise ValueError("privateNetwork: the Calico labs route over eth0 only")

    def ipam(self, decl) -> Ipam:
        from .ipamblocks import CalicoIpam

        return CalicoIpam(decl.cni)

    def veth(self, cluster: str, namespace: str, pod: str) -> tuple[str, str]:
        return names.veth_name(namespace, pod), names.HOST_VETH_MAC

    def plan(self, lab, ipam):
        from .plan import build

        return build(lab, ipam.blocks)

    def pod_wiring(self, lab, pod: str) -> PodWiring:
        c = lab.cni
        p = c.pod(pod)
        return PodWiring(p.veth, p.veth_mac, tuple(c.pod_routes(pod)), mtu=c.mode.mtu)

    def pod_sysctls(self, lab, veths: list[str]) -> dict[str, str]:
        return lab.cni.sysctls(veths) if veths else {}

    def nat_rules(self, lab, node: str):
        from .nat import nat_rules

        return nat_rules(lab.cni, node)

    def node_summary(self, lab, node: str) -> str:
        n = lab.cni.node(node)
        return f"tunnel {n.tunnel_ip}" if n.tunnel_ip else ""

    def status(self, running_lab, node: str) -> str:
        from .status import node_status

        return node_status(running_lab, node)

    def bgp_protocols_parser(self):
        from .calicoctl import parse_bird_protocols

        return parse_bird_protocols

    def render(self, lab) -> dict[str, str]:
        from .render import render

        return render(lab.cni)

    def deploy_node(self, lab) -> None:
        from .deploy import calico_node

        calico_node(lab.cni)

    def deploy_datapath(self, lab) -> None:
        from .deploy import calico_datapath

        calico_datapath(lab.cni)


plugin = CalicoPlugin()
