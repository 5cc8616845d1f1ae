"""iptables tables, from `iptables-save` (its canonical form is the comparison format)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


class Table(FactBase):
    """
    One table as `iptables-save -t TABLE` prints it, without counters and comments:

    .. code:: python

        {"chains": {"PREROUTING": "ACCEPT", "KUBE-SERVICES": "-"}, "rules": ["-A PREROUTING ... -j KUBE-SERVICES"]}
    """

    @staticmethod
    def default():
        return {"chains": {}, "rules": []}

    def command(self, table="nat"):
        return f"iptables-save -t {shlex.quote(table)} 2>/dev/null || true"

    def process(self, output):
        chains, rules = {}, []
        for line in output:
            if line.startswith(":"):
                name, policy = line[1:].split()[:2]
                chains[name] = policy
            elif line.startswith("-A "):
                rules.append(line.strip())
        return {"chains": chains, "rules": rules}
