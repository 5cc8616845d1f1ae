"""kube-proxy's iptables rules as kube-proxy 1.23 writes them."""

from cnilab import kubeproxy
from cnilab.model import load_lab


def test_chain_names_hash_like_kube_proxy():
    # The chains every real cluster has for these services.
    assert kubeproxy._hash("default/kubernetes:https" + "tcp") == "NPX46M4PTMTKRN6Y"
    assert kubeproxy._hash("kube-system/kube-dns:dns" + "udp") == "TCOU7JCQXEZGVUNU"
    assert kubeproxy._hash("kube-system/kube-dns:dns-tcp" + "tcp") == "ERIFXISQEP7F7OF4"


def test_probabilities_read_back_as_the_kernel_stores_them():
    assert kubeproxy._probability(1 / 3) == "0.33333333349"
    assert kubeproxy._probability(1 / 2) == "0.50000000000"


def test_seed_service_rules():
    lab = load_lab("cilium_kubeproxy")
    svc = lab.services[0]
    chains, rules = kubeproxy.nat_rules(lab)
    chain = kubeproxy.svc_chain(svc, svc.ports[0])
    assert chain in chains and len([c for c in chains if c.startswith("KUBE-SEP-")]) == len(svc.backends) == 3
    assert (
        f'-A KUBE-SERVICES -d {svc.cluster_ip}/32 -p tcp -m comment --comment "default/serversvc:cni cluster IP" '
        f"-m tcp --dport 8080 -j {chain}" in rules
    )
    assert f'-A KUBE-NODEPORTS -p tcp -m comment --comment "default/serversvc:cni" -m tcp --dport 32000 -j {chain}' in rules
    # each endpoint with probability 1/(endpoints left), the last one unconditionally
    picks = [r for r in rules if r.startswith(f"-A {chain} ") and "KUBE-SEP-" in r]
    assert ["0.33333333349" in picks[0], "0.50000000000" in picks[1], "statistic" not in picks[2]] == [True] * 3
    dnat = [r for r in rules if "-j DNAT" in r]
    assert sorted(r.split()[-1] for r in dnat) == sorted(f"{lab.pod(b).ip}:80" for b in svc.backends)
    # the nodeports jump is the last rule of KUBE-SERVICES
    assert [r for r in rules if r.startswith("-A KUBE-SERVICES")][-1].endswith("--dst-type LOCAL -j KUBE-NODEPORTS")
