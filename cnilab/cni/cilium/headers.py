"""Render node_config.h / ep_config.h from templates/bpf/*.j2."""
from __future__ import annotations

import functools
import ipaddress

import jinja2

from ... import templating

from .bpfconfig import EndpointBpfConfig, NodeBpfConfig, ep_config_vars, node_config_vars


def ip_hex(addr: str) -> str:
    """"10.0.2.194" -> "0x0a0002c2" (host order literal; templates wrap it in bpf_htonl)."""
    return f"0x{int(ipaddress.IPv4Address(addr)):08x}"


def ip_hex_net(cidr: str) -> str:
    """"10.0.0.0/8" -> "0x0a000000" (the network address, host order literal)."""
    return f"0x{int(ipaddress.IPv4Network(cidr).network_address):08x}"


def mask_hex(cidr: str) -> str:
    """"10.0.2.0/24" -> "0xffffff00"."""
    return f"0x{int(ipaddress.IPv4Network(cidr).netmask):08x}"


def prefixlen(cidr: str) -> int:
    return ipaddress.IPv4Network(cidr).prefixlen


def mac_bytes(mac: str) -> str:
    """"02:42:ac:12:00:03" -> "0x02, 0x42, 0xac, 0x12, 0x00, 0x03"."""
    return ", ".join(f"0x{part}" for part in mac.lower().split(":"))


def environment() -> jinja2.Environment:
    return templating.environment(
        "bpf", ip_hex=ip_hex, ip_hex_net=ip_hex_net, mask_hex=mask_hex, prefixlen=prefixlen, mac_bytes=mac_bytes
    )


@functools.lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    # Parsed once per process: a lab renders a node_config.h per node and an ep_config.h per pod.
    return environment().get_template(name)


def render_node_config(node: NodeBpfConfig, template: bool = False) -> str:
    """node_config.h for the node; with template=True, the same with every CONFIG value zero
    and nothing naming the node (the same text for every node of a lab)."""
    return _template("node_config.h.j2").render(node=node, cfg=node_config_vars(node), template=template)


def render_ep_config(node: NodeBpfConfig, ep: EndpointBpfConfig, template: bool = False) -> str:
    """ep_config.h for the endpoint; with template=True, the same for every endpoint."""
    return _template("ep_config.h.j2").render(node=node, ep=ep, cfg=ep_config_vars(ep), template=template)
