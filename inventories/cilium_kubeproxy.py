"""pyinfra inventory of the seed 004 (a) lab: one host per node of cilium_kubeproxy.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
