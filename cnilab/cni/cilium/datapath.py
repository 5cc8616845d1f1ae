"""Which BPF object goes on which hook of a node, compiled for that node.

Cilium renders node_config.h / ep_config.h with the interface indexes of the devices
it made, then compiles; so do we, once the devices exist. What differs between nodes
and endpoints is CONFIG data in the objects, so each program is compiled once per lab
mode (the template) and each node's object is the template with its values written in
(cnilab/bpf/compile.py SourceTree.build_object). Everything is cached by content, so a
lab whose devices and endpoints did not change builds nothing; and the objects are built
only when pyinfra executes (tc.programs), never while it prepares.
"""

from __future__ import annotations

from functools import partial

from ...operations.tc import Hook, Program
from .sources import SOURCES
from .bpfconfig import EndpointBpfConfig, NodeBpfConfig, ep_config_vars, node_config_vars
from .headers import render_ep_config, render_node_config
from .plan import CiliumLab

def node_config(lab: CiliumLab, node_name: str, links: dict) -> NodeBpfConfig:
    n = lab.node(node_name)
    return NodeBpfConfig(
        node_name=n.name,
        node_ip=str(n.ip),
        node_mac=links["eth0"]["mac"],
        router_ip=str(n.router_ip),
        pod_cidr=str(n.pod_cidr),
        host_ifindex=links["cilium_host"]["ifindex"],
        host_mac=links["cilium_host"]["mac"],
        net_ifindex=links["cilium_net"]["ifindex"],
        encap_ifindex=links["cilium_vxlan"]["ifindex"] if "cilium_vxlan" in links else links["cilium_host"]["ifindex"],
        native_ifindex=links["eth0"]["ifindex"],
        mtu=1500,
        tunnel_mtu=lab.tunnel_mtu,
        tunnel=lab.mode.tunnelled,
        kube_proxy_replacement=lab.mode.kpr,
        bpf_masquerade=lab.mode.masquerade == "bpf",
        host_routing_bpf=lab.mode.host_routing == "bpf",
        snat_exclusion_cidr=lab.mode.masquerade_exclusion,
        host_ep_id=n.host_ep_id,
        debug=lab.mode.datapath_debug,
        monitor_aggregation=lab.mode.monitor_aggregation,
    )


def devices(lab: CiliumLab, node_name: str) -> list[str]:
    """The links the node's programs sit on (and eth0, whose MAC and ifindex they hold)."""
    return sorted({a.dev for a in lab.tc_attachments(node_name)} | {"eth0"})


def programs(lab: CiliumLab, node_name: str, links: dict) -> list[Program]:
    """The node's programs for its live ifindexes: headers rendered and digested here, the
    objects built (from the template, cached) only when a Program's ``build`` is called."""
    cfg = node_config(lab, node_name, links)
    node_h, node_t = render_node_config(cfg), render_node_config(cfg, template=True)
    node_values = {name: v.raw for name, v in node_config_vars(cfg).items()}
    pods = {p.name: p for p in lab.endpoints_on(node_name)}  # the pods and the health endpoint
    out = []
    for hook in lab.tc_attachments(node_name):
        headers, template, values = {"node_config.h": node_h}, {"node_config.h": node_t}, node_values
        if hook.endpoint:
            p = pods[hook.endpoint]
            ep = EndpointBpfConfig(
                lxc_id=p.lxc_id,
                pod_name=p.name,
                ip=str(p.ip),
                mac=p.mac,
                node_mac=p.lxc_mac,
                ifindex=links[p.lxc]["ifindex"],
                identity=p.identity,
                ifname=p.lxc,
            )
            headers = headers | {"ep_config.h": render_ep_config(cfg, ep)}
            template = template | {"ep_config.h": render_ep_config(cfg, ep, template=True)}
            values = values | {name: v.raw for name, v in ep_config_vars(ep).items()}
        out.append(
            Program(
                Hook(hook.dev, hook.direction, hook.section, hook.name),
                SOURCES.target(hook.program, headers).parent.name,
                f"{hook.program}.o",
                partial(SOURCES.build_object, hook.program, headers, template, values),
            )
        )
    return out
