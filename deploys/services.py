"""Services, the way the lab's mode does them: kube-proxy's iptables rules where kind runs
kube-proxy; Cilium's BPF load balancer where kube-proxy is replaced (bpf_programs/maps)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from cnilab.kubeproxy import cilium_masquerade_rules
from cnilab.kubeproxy import nat_rules as kube_proxy_rules
from cnilab.model.lab import Lab
from cnilab.operations import iptables


@deploy("Services and masquerade in the nat table")
def nat_rules(lab: Lab):
    # kube-proxy's KUBE-* where kind runs kube-proxy (none left where it does not), and
    # Cilium's CILIUM_* masquerade: one read of the nat table, one iptables-restore.
    chains, rules = kube_proxy_rules(lab) if lab.mode.kube_proxy else ([], [])
    c_chains, c_rules = cilium_masquerade_rules(lab, host.data.cnilab_node)
    iptables.chains(
        name="KUBE-* and CILIUM_* chains in the nat table",
        table="nat",
        prefixes=("KUBE-", "CILIUM_"),
        wanted_chains=chains + c_chains,
        wanted_rules=rules + c_rules,
    )
