"""pyinfra inventory of the seed 003 lab (IP-in-IP): one host per node of calico_ipip.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
