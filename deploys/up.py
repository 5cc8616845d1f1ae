"""Bring a lab up, or converge it: `pyinfra -y inventories/<lab>.py deploys/up.py [--data backend=netns]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyinfra import host  # noqa: E402

from cnilab.context import lab_of  # noqa: E402
from deploys.cilium import cilium_bpf, cilium_devices  # noqa: E402
from deploys.nodes import node_up  # noqa: E402
from deploys.services import nat_rules  # noqa: E402
from deploys.workloads import pods_up  # noqa: E402

lab = lab_of(host)
node_up()
cilium_devices(lab)
pods_up(lab)
cilium_bpf(lab)
nat_rules(lab)
