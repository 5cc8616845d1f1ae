"""pyinfra inventory of the seed 004 (b) lab: one host per node of cilium_kpr.yaml."""

from pathlib import Path

nodes = [f"@cnilab/{Path(__file__).with_suffix('.yaml')}"]
