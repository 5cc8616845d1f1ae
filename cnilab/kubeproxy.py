"""kube-proxy's iptables mode, for labs that keep kube-proxy (seed 004 (a)).

Renders the nat-table rules kube-proxy 1.23 writes for the declared Services, in the
exact form `iptables-save` prints them, so an operation can compare them line by line.
Chain names are hashed as kube-proxy hashes them (base32 of sha256, 16 characters).
The apiserver's `default/kubernetes` Service is left out: a lab has no apiserver.
"""

from __future__ import annotations

import base64
import hashlib

from .model.lab import Lab, ServiceInstance, ServicePortSpec

MARK_MASQ = "0x4000/0x4000"
# kind's kube-proxy --cluster-cidr: the podSubnet kind configures (Cilium's own pool is
# another range, so kube-proxy marks pod traffic to a ClusterIP for masquerade).
KIND_POD_SUBNET = "10.244.0.0/16"


def _hash(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def _probability(p: float) -> str:
    # xt_statistic keeps it as a fraction of 2^31; iptables-save prints that back.
    return f"{round(p * 2**31) / 2**31:.11f}"


def port_name(svc: ServiceInstance, port: ServicePortSpec) -> str:
    base = f"{svc.namespace}/{svc.name}"
    return f"{base}:{port.name}" if port.name else base


def svc_chain(svc: ServiceInstance, port: ServicePortSpec) -> str:
    return "KUBE-SVC-" + _hash(port_name(svc, port) + port.protocol.lower())


def sep_chain(svc: ServiceInstance, port: ServicePortSpec, endpoint: str) -> str:
    return "KUBE-SEP-" + _hash(port_name(svc, port) + port.protocol.lower() + endpoint)


def nat_rules(lab: Lab) -> tuple[list[str], list[str]]:
    """(chains, rules) of the nat table that kube-proxy owns, as `iptables-save -t nat` prints them."""
    cluster_cidr = lab.decl.kind.networking.podSubnet or KIND_POD_SUBNET
    chains = ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"]
    rules = [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --set-xmark {MARK_MASQ}",
    ]
    services, nodeports, svc_rules, sep_rules = [], [], [], []
    for svc in lab.services:
        for port in svc.ports:
            name, proto = port_name(svc, port), port.protocol.lower()
            chain = svc_chain(svc, port)
            chains.append(chain)
            services.append(
                f'-A KUBE-SERVICES -d {svc.cluster_ip}/32 -p {proto} -m comment --comment "{name} cluster IP" '
                f"-m {proto} --dport {port.port} -j {chain}"
            )
            svc_rules.append(
                f'-A {chain} ! -s {cluster_cidr} -d {svc.cluster_ip}/32 -p {proto} -m comment --comment "{name} cluster IP" '
                f"-m {proto} --dport {port.port} -j KUBE-MARK-MASQ"
            )
            if port.node_port:
                nodeports.append(f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{name}" -m {proto} --dport {port.node_port} -j {chain}')
                svc_rules.append(f'-A {chain} -p {proto} -m comment --comment "{name}" -m {proto} --dport {port.node_port} -j KUBE-MARK-MASQ')
            backends = [lab.pod(b) for b in svc.backends]
            for i, pod in enumerate(backends):
                endpoint = f"{pod.ip}:{port.target_port}"
                sep = sep_chain(svc, port, endpoint)
                chains.append(sep)
                left = len(backends) - i
                # kube-proxy: each endpoint with probability 1/(endpoints left), the last always.
                pick = f"-m statistic --mode random --probability {_probability(1 / left)} " if left > 1 else ""
                svc_rules.append(f'-A {chain} -m comment --comment "{name} -> {endpoint}" {pick}-j {sep}')
                sep_rules += [
                    f'-A {sep} -s {pod.ip}/32 -m comment --comment "{name}" -j KUBE-MARK-MASQ',
                    f'-A {sep} -p {proto} -m comment --comment "{name}" -m {proto} -j DNAT --to-destination {endpoint}',
                ]
    rules += nodeports
    rules += [
        f"-A KUBE-POSTROUTING -m mark ! --mark {MARK_MASQ} -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]
    rules += sep_rules
    rules += services
    rules.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" '
        "-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"
    )
    rules += svc_rules
    return chains, rules
