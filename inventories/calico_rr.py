"""pyinfra inventory of the route-reflector Calico lab: one host per node of calico_rr.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
