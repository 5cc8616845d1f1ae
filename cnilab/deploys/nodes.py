"""Lab nodes: made before anything runs in them, removed with everything in them."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from cnilab.context import lab_of
from cnilab.operations import node


@deploy("Lab node")
def node_up():
    if node.multihost(host):
        # Each machine's underlay joined to the others', by the first node placed there;
        # the world on the machine of the lab's first node, whichever hosts answer.
        if node.first_on_machine(host):
            node.underlay_joined(name="Underlay joined to the lab's other machines")
        node.present(name="Node exists on the lab underlay")
        if host.data.cnilab_node == lab_of(host).nodes[0].name:
            node.world_present(name="The lab's world host answers on TEST-NET")
        return
    node.present(name="Node exists on the lab underlay")
    node.world_present(name="The lab's world host answers on TEST-NET", _run_once=True)


@deploy("Lab teardown")
def node_down():
    node.absent(name="Node is gone (pods, processes, pins, mounts)")
    if node.multihost(host):
        if node.first_on_machine(host):
            node.lab_absent(name="Underlay and lab state are gone from this machine")
    else:
        node.lab_absent(name="Underlay and lab state are gone", _run_once=True)
    # --data purge_image=1: the node image goes too (it is only a cache).
    if host.data.get("purge_image"):
        node.image_absent(name="Node image is gone", _run_once=True)
