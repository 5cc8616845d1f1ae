"""Services and masquerading in the nat table: kube-proxy's KUBE-* rules where kind runs
kube-proxy, and the CNI plugin's own chains (Cilium's CILIUM_*, Calico's cali-*)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from ..kubeproxy import nat_rules as kube_proxy_rules
from ..operations import iptables


@deploy("Services and masquerade in the nat table")
def nat_rules(lab):
    # One read of the nat table, one iptables-restore, for kube-proxy's and the CNI's chains.
    chains, rules = kube_proxy_rules(lab) if lab.kube_proxy else ([], [])
    prefixes, cni_chains, cni_rules = lab.plugin.nat_rules(lab, host.data.cnilab_node)
    iptables.chains(
        name=f"KUBE-* and {', '.join(p + '*' for p in prefixes)} chains in the nat table",
        table="nat",
        prefixes=(*prefixes, "KUBE-"),
        wanted_chains=cni_chains + chains,
        # The CNI's jumps in the built-in chains come first: Felix and Cilium insert theirs
        # at the top, before kube-proxy's.
        wanted_rules=cni_rules + rules,
    )
