"""The Cilium datapath of one node, as Cilium 1.13's agent sets it up.

Devices: the cilium_host/cilium_net veth pair with ARP off and the router IP /32 on
cilium_host, cilium_vxlan as a flow-based VXLAN device on port 8472. Routes: every pod
CIDR via the router IP on cilium_host (remote ones with the tunnel MTU). Programs:
bpf_host on cilium_host/cilium_net, bpf_overlay on cilium_vxlan, bpf_lxc on every
pod's lxc. Maps: the tunnel map, the endpoint map and the ipcache.
"""

from __future__ import annotations

from functools import partial

from pyinfra import host
from pyinfra.api import deploy

from ...operations import bpf, ip, tc
from ...operations.ip import Link
from . import datapath, health, maps
from .plan import HEALTH_DEV, HEALTH_NETNS_PATH, HEALTH_PEER, VXLAN_PORT, CiliumLab

CILIUM_DEVICES = ("cilium_host", "cilium_net", "cilium_vxlan")


def cilium_sysctls(devs: list[str]) -> dict[str, str]:
    # What Cilium's loader sets: forward, accept packets with local sources, no rp_filter,
    # no redirects (pods' gateway is on another link than their traffic).
    values = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.default.rp_filter": "0"}
    for dev in devs:
        values |= {
            f"net.ipv4.conf.{dev}.rp_filter": "0",
            f"net.ipv4.conf.{dev}.forwarding": "1",
            f"net.ipv4.conf.{dev}.accept_local": "1",
            f"net.ipv4.conf.{dev}.send_redirects": "0",
        }
    return values


@deploy("Cilium devices")
def cilium_devices(lab: CiliumLab):
    """cilium_host/cilium_net, cilium_vxlan, the routes and sysctls, and the health endpoint."""
    node = lab.node(host.data.cnilab_node)
    wanted = [
        Link("cilium_host", "veth", node.host_mac, noarp=True, peer="cilium_net", peer_mac=node.net_mac),
    ]
    if lab.mode.tunnelled:
        wanted.append(Link("cilium_vxlan", "vxlan", node.vxlan_mac, vxlan_port=VXLAN_PORT))
    devs = [d for d in CILIUM_DEVICES if lab.mode.tunnelled or d != "cilium_vxlan"]
    ip.network(
        name="cilium_host/cilium_net and cilium_vxlan, the router IP, pod CIDR routes, Cilium's sysctls",
        links=wanted,
        addresses={"cilium_host": [(f"{node.router_ip}/32", "link")]},
        # Pod CIDR routes via cilium_host, the world via eth0.
        routes=lab.node_routes(node.name) + lab.world_routes(),
        own_devs=("cilium_host",),
        sysctls=cilium_sysctls(devs),
    )
    # The health endpoint, before the programs (bpf_lxc goes on lxc_health too).
    health.endpoint(
        name="the health endpoint: lxc_health, its namespace, the health IP and routes",
        path=HEALTH_NETNS_PATH,
        link=Link(HEALTH_DEV, "veth", node.health_mac, peer=HEALTH_PEER, peer_mac=node.health_peer_mac, peer_netns=HEALTH_NETNS_PATH),
        address=f"{node.health_ip}/32",
        routes=lab.health_routes(node.name),
        sysctls=cilium_sysctls([HEALTH_DEV]),
    )


@deploy("Cilium BPF datapath")
def cilium_bpf(lab: CiliumLab):
    name = host.data.cnilab_node
    tc.programs(
        name="bpf_host, bpf_overlay and bpf_lxc on their hooks",
        wanted=partial(datapath.programs, lab, name),
        devices=datapath.devices(lab, name),
        # A map whose pin is gone is lost to every program: attach them all again so they
        # share the new one.
        shared_maps={maps.TUNNEL_MAP, maps.ENDPOINTS_MAP, maps.IPCACHE_MAP, maps.METRICS_MAP},
    )
    bpf.node_maps(
        name="cilium_tunnel_map, cilium_ipcache, the load balancer's maps, cilium_lxc",
        wanted={
            maps.TUNNEL_MAP: lab.tunnel_entries(name),
            maps.IPCACHE_MAP: lab.ipcache_entries(name),
            # Backends before the services that point at them.
            **lab.lb_map_entries(),
        },
        linked_map=maps.ENDPOINTS_MAP,
        linked=lab.endpoint_entries(name),
    )
