"""pyinfra inventory of the seed 001 lab: one host per node of cilium_native_iptables.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
