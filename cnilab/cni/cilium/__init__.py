"""Cilium: the plugin for `cni: {plugin: cilium}` declarations (seeds 000, 001, 002, 004)."""

from __future__ import annotations

from ...cni.base import CniPlugin, Ipam, PodWiring
from ...model import ids
from .ipam import ClusterPool
from .values import CniCilium


class CiliumPlugin(CniPlugin):
    name = "cilium"
    values_model = CniCilium
    verify_suite = "cilium"

    def check(self, decl) -> None:
        if decl.privateNetwork and decl.cni.values.tunnel != "disabled":
            raise ValueError(
                "privateNetwork: a second NIC carries pod routes only with native routing (cni.values.tunnel: disabled)"
            )

    def ipam(self, decl) -> Ipam:
        return ClusterPool(decl.kind.name, decl.cni.values)

    def veth(self, cluster: str, namespace: str, pod: str) -> tuple[str, str]:
        return ids.lxc_name(cluster, namespace, pod), ids.local_mac(cluster, namespace, pod, "lxc")

    def plan(self, lab, ipam: ClusterPool):
        from .plan import build

        return build(lab, ipam.router_ips, ipam.health_ips)

    def pod_wiring(self, lab, pod: str) -> PodWiring:
        p = lab.cni.pod(pod)
        return PodWiring(p.lxc, p.lxc_mac, tuple(lab.cni.pod_routes(pod)))

    def pod_sysctls(self, lab, veths: list[str]) -> dict[str, str]:
        from .deploy import cilium_sysctls

        return cilium_sysctls(veths) if veths else {}

    def nat_rules(self, lab, node: str):
        from .masquerade import cilium_masquerade_rules

        chains, rules = cilium_masquerade_rules(lab.cni, node)
        return ("CILIUM_",), chains, rules

    def node_summary(self, lab, node: str) -> str:
        return f"router {lab.cni.node(node).router_ip}"

    def status(self, running_lab, node: str) -> str:
        from ...verify import RunningLab
        from .status import format_status, node_status

        return format_status(node_status(RunningLab(running_lab.lab.cni, running_lab.backend), node))

    def map_lists(self) -> dict:
        from .listing import LISTS

        return LISTS

    def monitor(self, lab, backend, nodes: list[str], verbosity: int, types: list[str], json: bool,
                numeric: bool, seconds: float | None) -> int:
        """`cnilab monitor`: the nodes' notifications as `cilium monitor` prints them."""
        from .monitor import TYPES, Options, run

        chosen = set().union(*(TYPES[t] for t in types)) if types else set()
        return run(lab, backend, nodes, Options(verbosity, chosen, json, numeric), seconds)

    def doctor(self, run, evidence: bool = False) -> str:
        """Seed 004's table of Cilium's kernel-dependent features, each decided by probing the
        kernel that ``run(script) -> (rc, stdout, stderr)`` reaches."""
        from .doctor import doctor, format_table, kernel_release, parse, probe

        out = probe(run)
        return format_table(parse(out), kernel_release(out), evidence)

    def identity_list(self, lab) -> str:
        """`cnilab identity list`: the lab's identities as `cilium identity list` prints them,
        from the model (the numbers are the lab's own)."""
        from .listing import identity_list

        return identity_list(lab.cni.identity_labels())

    def render(self, lab) -> dict[str, str]:
        from .render import render

        return render(lab)

    def deploy_node(self, lab) -> None:
        from .deploy import cilium_devices

        cilium_devices(lab.cni)

    def deploy_datapath(self, lab) -> None:
        from .deploy import cilium_bpf

        cilium_bpf(lab.cni)


plugin = CiliumPlugin()
