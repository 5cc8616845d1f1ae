"""pyinfra inventory of the seed 003 lab (bgp): one host per node of calico_bgp.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
