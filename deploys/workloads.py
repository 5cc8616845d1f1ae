"""Pods of the declared workloads: a namespace each, wired to the node by a veth."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

import cnilab.responder
from cnilab.model.lab import Lab
from cnilab.operations import ip, pods, sysctl
from cnilab.operations.ip import Link
from cnilab.operations.pods import RESPONDER_PATH

from .cilium import cilium_sysctls


@deploy("Pods")
def pods_up(lab: Lab):
    node = host.data.cnilab_node
    local = lab.pods_on(node)
    pods.namespaces(name="Pod namespaces", wanted=[p.name for p in local])
    ip.links(
        name="lxc veth pairs, eth0 in the pod",
        wanted=[Link(p.lxc, "veth", p.lxc_mac, peer="eth0", peer_mac=p.mac, peer_netns=p.name) for p in local],
    )
    if local:
        sysctl.values(name="lxc sysctls", wanted=cilium_sysctls([p.lxc for p in local]))
    for p in local:
        ip.links(name=f"{p.name}: eth0 up", wanted=[Link("eth0", "veth", p.mac, create=False)], netns=p.name)
        ip.addresses(name=f"{p.name}: eth0 {p.ip}/32", dev="eth0", wanted=[(f"{p.ip}/32", "global")], netns=p.name)
        ip.routes(name=f"{p.name}: routes via the router IP", wanted=lab.pod_routes(p.name), netns=p.name, own_devs=("eth0",))
    files.put(name="Pod responder", src=str(Path(cnilab.responder.__file__)), dest=RESPONDER_PATH)
    pods.responders(name="Responders on port 80", pods=local)
