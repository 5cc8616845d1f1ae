"""Seed 000's lab (cilium_vxlan.yaml) with its nodes spread over machines reached by SSH.

    scripts/ssh-testbed up 3
    .venv/bin/pyinfra -y inventories/cilium_vxlan_multihost.py deploys/up.py
    .venv/bin/pytest verify/ --lab cilium_vxlan --inventory inventories/cilium_vxlan_multihost.py

The machines are the SSH test bed's. For machines of your own, list them as pyinfra inventory
entries instead, e.g. ("10.0.0.5", {"ssh_user": "root", "ssh_key": "~/.ssh/id_ed25519",
"machine": "m1"}), or "@local" for this machine (give it "cnilab_underlay_address", the
address the others reach it on). Nodes are spread evenly in node order; pin any with
placement={"worker": "m1"}. Nodes are network namespaces on every machine.
"""

from pathlib import Path

from cnilab.placement import lab_group, testbed_machines

_machines = testbed_machines()  # leading underscore: pyinfra takes every other list as a group

nodes = lab_group(Path(__file__).with_name("cilium_vxlan.yaml"), _machines, backend="netns")
