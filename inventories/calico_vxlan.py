"""pyinfra inventory of the seed 003 lab (vxlan): one host per node of calico_vxlan.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
