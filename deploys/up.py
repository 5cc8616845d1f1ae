"""Bring a lab up, or converge it: `pyinfra -y inventories/<lab>.py deploys/up.py [--data backend=netns]`."""

from pyinfra import host

from cnilab.context import lab_of
from cnilab.deploys import lab_up

lab_up(lab_of(host))
