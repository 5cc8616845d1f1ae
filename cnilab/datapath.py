"""Which BPF object goes on which hook of a node, compiled for that node.

Cilium renders node_config.h / ep_config.h with the interface indexes of the devices
it made, then compiles; so do we, once the devices exist. What differs between nodes
and endpoints is CONFIG data in the objects, so each program is compiled once per lab
mode (the template) and each node's object is the template with its values written in
(cnilab/bpf/compile.py build_object). Everything is cached by content, so a lab whose
devices and endpoints did not change builds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .bpf.compile import build_object
from .bpf.config import EndpointBpfConfig, NodeBpfConfig, ep_config_vars, node_config_vars
from .bpf.headers import render_ep_config, render_node_config
from .model.lab import Lab, TcAttachment

NODE_OBJECT_DIR = "/run/cnilab/bpf"


@dataclass(frozen=True)
class Program:
    hook: TcAttachment
    local_object: Path  # <cache>/bpf/<hash>/<program>.o

    @property
    def digest(self) -> str:
        return self.local_object.parent.name

    @property
    def node_object(self) -> str:
        # Keep the file name: `tc filter show` prints it (`bpf_overlay.o:[to-overlay]`).
        return f"{NODE_OBJECT_DIR}/{self.digest}/{self.local_object.name}"


def node_config(lab: Lab, node_name: str, links: dict) -> NodeBpfConfig:
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
    )


def missing_devices(lab: Lab, node_name: str, links: dict) -> list[str]:
    return sorted({a.dev for a in lab.tc_attachments(node_name)} - set(links) | ({"eth0"} - set(links)))


def programs(lab: Lab, node_name: str, links: dict) -> list[Program]:
    """The node's programs, compiled (or found in the cache) for its live ifindexes."""
    cfg = node_config(lab, node_name, links)
    node_h, node_t = render_node_config(cfg), render_node_config(cfg, template=True)
    node_values = {name: v.raw for name, v in node_config_vars(cfg).items()}
    pods = {p.name: p for p in lab.pods_on(node_name)}
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
        out.append(Program(hook, build_object(hook.program, headers, template, values)))
    return out
