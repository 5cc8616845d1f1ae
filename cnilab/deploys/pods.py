"""Pods of the declared workloads: a namespace each, wired to the node by the veth the CNI
plugin names, with the routes and sysctls the plugin gives."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

from .. import responder
from ..operations import pods
from ..operations.ip import Link
from ..operations.pods import PodNetwork


@deploy("Pods")
def pods_up(lab):
    node = host.data.cnilab_node
    local = lab.pods_on(node)
    wiring = {p.name: lab.plugin.pod_wiring(lab, p.name) for p in local}
    pods.network(
        name="Pod namespaces, host-side veths (eth0 in the pod), eth0 addresses and routes",
        pods=[
            PodNetwork(
                p.name,
                Link(p.veth, "veth", p.veth_mac, mtu=wiring[p.name].mtu, peer="eth0", peer_mac=p.mac, peer_netns=p.name),
                f"{p.ip}/32",
                wiring[p.name].routes,
            )
            for p in local
        ],
        sysctls=lab.plugin.pod_sysctls(lab, [p.veth for p in local]),
    )
    pods.responders(name="Responders on port 80", pods=local, script=str(Path(responder.__file__)))
