"""IP sets of the node, from `ipset save`."""

from __future__ import annotations

from pyinfra.api import FactBase


class IpSets(FactBase):
    """
    The node's IP sets and their members:

    .. code:: python

        {"cali40all-ipam-pools": {"type": "hash:net", "members": ["192.168.0.0/16"]}}
    """

    @staticmethod
    def default():
        return {}

    def command(self):
        return "ipset save 2>/dev/null || true"

    def process(self, output):
        sets: dict[str, dict] = {}
        for line in output:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "create":
                sets[parts[1]] = {"type": parts[2], "members": []}
            elif len(parts) >= 3 and parts[0] == "add" and parts[1] in sets:
                sets[parts[1]]["members"].append(parts[2])
        for s in sets.values():
            s["members"].sort()
        return sets
