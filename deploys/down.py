"""Remove everything a lab made: `pyinfra -y inventories/<lab>.py deploys/down.py [--data backend=netns]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploys.nodes import node_down  # noqa: E402

node_down()
