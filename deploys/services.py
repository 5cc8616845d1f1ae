"""Services, the way the lab's mode does them: kube-proxy's iptables rules where kind runs
kube-proxy; Cilium's BPF load balancer where kube-proxy is replaced (bpf_programs/maps)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from cnilab.kubeproxy import cilium_masquerade_rules, nat_rules
from cnilab.model.lab import Lab
from cnilab.operations import iptables


@deploy("kube-proxy")
def kube_proxy(lab: Lab):
    chains, rules = nat_rules(lab)
    iptables.chains(
        name="KUBE-* chains in the nat table",
        table="nat",
        prefixes=("KUBE-",),
        wanted_chains=chains if lab.mode.kube_proxy else [],
        wanted_rules=rules if lab.mode.kube_proxy else [],
    )


@deploy("Cilium masquerade")
def cilium_masquerade(lab: Lab):
    chains, rules = cilium_masquerade_rules(lab, host.data.cnilab_node)
    iptables.chains(name="CILIUM_POST_nat", table="nat", prefixes=("CILIUM_",), wanted_chains=chains, wanted_rules=rules)
