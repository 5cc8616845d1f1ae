"""Render node_config.h / ep_config.h from templates/bpf/*.j2."""
from __future__ import annotations

import ipaddress

import jinja2

from .. import templating

from cnilab.bpf.config import EndpointBpfConfig, NodeBpfConfig



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


def render_node_config(node: NodeBpfConfig) -> str:
    return environment().get_template("node_config.h.j2").render(node=node)


def render_ep_config(node: NodeBpfConfig, ep: EndpointBpfConfig) -> str:
    return environment().get_template("ep_config.h.j2").render(node=node, ep=ep)
