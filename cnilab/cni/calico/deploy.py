"""A Calico v3.16 node, as calico-node (Felix, BIRD) and the CNI plugin leave it.

Before the pods: forwarding on, the node's default route (proxy ARP answers only for an
address the node routes out of another link), the tunnel device with the tunnel address
(tunl0: the kernel's own where it has ipip, else the lab's stand-in; or vxlan.calico). Once the pods are
wired: their /32 routes on the cali veths, the VXLAN routes, neighbours and FDB entries
(Felix's, in VXLAN mode), the IP-in-IP programs, Felix's ipsets, and BIRD, which learns
the other nodes' blocks over BGP and puts them in the kernel.
"""

from __future__ import annotations

from functools import partial

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory

from ...operations import bird, ip, ipset, tc
from ...operations.ip import Link
from . import nat, plan
from .ipip_datapath import DEVICES as IPIP_DEVICES
from .ipip_datapath import programs as ipip_programs
from .plan import TUNL0, VXLAN_DEV, VXLAN_PORT, VXLAN_VNI, CalicoLab


def kernel_has_ipip() -> bool:
    """The node's kernel carries IP-in-IP itself (its ipip module is loaded or built in)."""
    return bool(host.get_fact(Directory, path="/sys/module/ipip"))


def tunnel_link(c: CalicoLab, node: str, real_ipip: bool = False) -> Link | None:
    n = c.node(node)
    if c.mode.tunnel == TUNL0 and real_ipip:
        # Not run on the machine this was written on (no ipip there): the path a kernel with
        # ipip takes, the device Felix configures.
        return Link(TUNL0, "ipip", "0.0.0.0", mtu=c.mode.mtu, noarp=True)  # `link/ipip 0.0.0.0`
    if c.mode.tunnel == TUNL0:
        # ifb: NOARP, state UNKNOWN, qlen 1000, like the ipip module's tunl0 (calico.md §6).
        return Link(TUNL0, "ifb", plan.tunl0_mac(c.name, node), mtu=c.mode.mtu, noarp=True, txqueuelen=1000)
    if c.mode.tunnel == VXLAN_DEV:
        return Link(
            VXLAN_DEV, "vxlan", n.vxlan_mac, mtu=c.mode.mtu, vxlan_port=VXLAN_PORT,
            vxlan_id=VXLAN_VNI, vxlan_dev="eth0", vxlan_local=str(n.ip),
        )  # fmt: skip
    return None


@deploy("Calico node")
def calico_node(c: CalicoLab):
    node = host.data.cnilab_node
    n = c.node(node)
    link = tunnel_link(c, node, c.mode.tunnel == TUNL0 and kernel_has_ipip())
    ip.network(
        name="Forwarding, the default route, the tunnel device and its address",
        links=[link] if link else [],
        addresses={link.name: [(f"{n.tunnel_ip}/32", "global")]} if link else {},
        routes=c.programmed_routes(node)[:1],
        sysctls={"net.ipv4.ip_forward": "1"},
    )


@deploy("Calico datapath")
def calico_datapath(c: CalicoLab):
    node = host.data.cnilab_node
    veths = tuple(p.veth for p in c.pods_on(node))
    own = veths + ((VXLAN_DEV,) if c.mode.tunnel == VXLAN_DEV else ())
    ip.network(
        name="Pod routes on the cali veths" + (", remote blocks via vxlan.calico" if c.mode.tunnel == VXLAN_DEV else ""),
        links=[],
        addresses={},
        routes=c.programmed_routes(node)[1:],
        own_devs=own,
    )
    if c.mode.tunnel == VXLAN_DEV:
        ip.vxlan_peers(
            name="vxlan.calico neighbours and FDB entries of the other nodes' VTEPs",
            dev=VXLAN_DEV,
            neighbours=c.vxlan_neighbours(node),
            fdb=c.vxlan_fdb(node),
        )
    if c.mode.tunnel == TUNL0 and not kernel_has_ipip():
        tc.programs(
            name="IP-in-IP stand-in: encapsulation on tunl0, decapsulation on eth0",
            wanted=partial(ipip_programs, c, node),
            devices=list(IPIP_DEVICES),
            shared_maps=set(),
        )
    ipset.sets(name="Felix's IP sets", wanted=nat.ipsets(c), prefix="cali40")
    if c.mode.bird:
        bird.daemon(
            name="BIRD (BGP)",
            config=c.bird_config(node),
            config_path=plan.BIRD_CONFIG,
            socket=plan.BIRD_SOCKET,
            pidfile=plan.BIRD_PIDFILE,
        )
        ip.routes_present(name="Routes learnt over BGP", wanted=c.bird_routes(node), timeout=60)
