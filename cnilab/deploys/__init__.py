"""The lab's pyinfra deploys: the node, the CNI plugin's devices, the pods, the plugin's
datapath, then Services and masquerading in the nat table. `deploys/up.py` and
`deploys/down.py` (the files pyinfra runs) call these."""

from __future__ import annotations

from .nodes import node_down, node_up
from .pods import pods_up
from .services import nat_rules


def lab_up(lab) -> None:
    """Everything of the current host (one node of ``lab``), in the order it depends on."""
    node_up()
    lab.plugin.deploy_node(lab)
    pods_up(lab)
    lab.plugin.deploy_datapath(lab)
    nat_rules(lab)


__all__ = ["lab_up", "node_down", "node_up", "nat_rules", "pods_up"]
