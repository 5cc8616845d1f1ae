"""pyinfra inventory of the small VXLAN lab: one host per node of cilium_vxlan.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
