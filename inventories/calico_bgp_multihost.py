"""Seed 003's Calico BGP lab (calico_bgp.yaml), its two nodes on two machines of the SSH
test bed (`scripts/ssh-testbed up 2`), their BIRD sessions across machines. Machines and
placement as in cilium_vxlan_multihost.py (README: Multi-host labs)."""

from pathlib import Path

from cnilab.placement import lab_group, testbed_machines

_machines = testbed_machines()  # leading underscore: pyinfra takes every other list as a group

nodes = lab_group(Path(__file__).with_name("calico_bgp.yaml"), _machines, backend="netns")
