"""Which BPF object goes on which hook of a node, compiled for that node.

Cilium renders node_config.h / ep_config.h with the interface indexes of the devices
it made, then compiles; so do we, once the devices exist. Compiling is cached by
content, so a lab whose devices and endpoints did not change compiles nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .bpf.compile import compile_object
from .bpf.config import EndpointBpfConfig, NodeBpfConfig
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
    node_h = render_node_config(cfg)
    pods = {p.name: p for p in lab.pods_on(node_name)}
    out = []
    for hook in lab.tc_attachments(node_name):
        headers = {"node_config.h": node_h}
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
            headers["ep_config.h"] = render_ep_config(cfg, ep)
        out.append(Program(hook, compile_object(hook.program, headers)))
    return out
