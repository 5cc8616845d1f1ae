"""Pods of the declared workloads: a namespace each, wired to the node by a veth."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy

import cnilab.responder
from cnilab.model.lab import Lab
from cnilab.operations import pods
from cnilab.operations.ip import Link
from cnilab.operations.pods import PodNetwork

from .cilium import cilium_sysctls


@deploy("Pods")
def pods_up(lab: Lab):
    node = host.data.cnilab_node
    local = lab.pods_on(node)
    pods.network(
        name="Pod namespaces, lxc veth pairs (eth0 in the pod), eth0 addresses and routes",
        pods=[
            PodNetwork(
                p.name,
                Link(p.lxc, "veth", p.lxc_mac, peer="eth0", peer_mac=p.mac, peer_netns=p.name),
                f"{p.ip}/32",
                tuple(lab.pod_routes(p.name)),
            )
            for p in local
        ],
        sysctls=cilium_sysctls([p.lxc for p in local]) if local else {},
    )
    pods.responders(name="Responders on port 80", pods=local, script=str(Path(cnilab.responder.__file__)))
