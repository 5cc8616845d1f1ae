"""Remove everything a lab made: `pyinfra -y inventories/<lab>.py deploys/down.py [--data backend=netns]`."""

from cnilab.deploys import node_down

node_down()
