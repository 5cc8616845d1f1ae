"""What a CNI plugin gives the core.

The core builds the cluster (nodes on the underlay, pods scheduled, Services) and asks
the plugin for what only the CNI knows: the schema of the declaration's ``cni:`` block,
how pod addresses are handed out (IPAM), how a pod is wired to its node, the plugin's
own view of the lab (its expected kernel state), its deploy, and its nat rules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydantic import BaseModel

# The core's Declaration and Lab are passed in (``decl``, ``lab``) and not imported here:
# the core finds plugins through this package, so it must not depend back on the core.
Declaration = Any
Lab = Any
Route = Any  # cnilab.model.lab.Route


class Ipam(ABC):
    """Pod addresses: a CIDR (or block) per node, then an address per pod.

    Errors are ``ValueError`` with a message that names the declaration's field; the core
    prefixes the declaration's name.
    """

    pool: IPv4Network

    @abstractmethod
    def node_cidrs(self, nodes: list[str], keep_clear: dict[str, IPv4Network]) -> list[IPv4Network]:
        """One pod CIDR per node, in the order given, none overlapping ``keep_clear``."""

    @abstractmethod
    def allocate(self, node: str, namespace: str, pod: str) -> IPv4Address:
        """The address of one pod on ``node``; called in the lab's pod order."""


@dataclass(frozen=True)
class PodWiring:
    """How a pod is wired to its node: the host-side veth, and what the pod's eth0 gets."""

    veth: str  # host side: lxc<hash>, cali<hash>
    veth_mac: str
    routes: tuple[Route, ...]  # inside the pod
    mtu: int = 1500


class LabView:
    """A plugin's view of a lab: the core lab's answers (nodes, pods, Services, world), with
    the nodes and pods as the plugin's own subclasses of them. Subclasses set ``lab``,
    ``nodes`` and ``pods``."""

    lab: Any
    nodes: list
    pods: list

    @property
    def name(self) -> str:
        return self.lab.name

    @property
    def decl(self):
        return self.lab.decl

    @property
    def decl_name(self) -> str:
        return self.lab.decl_name

    @property
    def plugin(self):
        return self.lab.plugin

    @property
    def services(self):
        return self.lab.services

    @property
    def world(self):
        return self.lab.world

    @property
    def underlay(self):
        return self.lab.underlay

    @property
    def pod_pool(self):
        return self.lab.pod_pool

    @property
    def service_cidr(self):
        return self.lab.service_cidr

    @property
    def routing_dev(self) -> str:
        return self.lab.routing_dev

    @property
    def kube_proxy(self) -> bool:
        return self.lab.kube_proxy

    @property
    def control_plane(self):
        return self.nodes[0]

    def world_routes(self) -> list:
        return self.lab.world_routes()

    def _index(self) -> tuple[dict, dict, dict]:
        # Looked up for every node and pod: indexed once.
        if getattr(self, "_indexes", None) is None:
            by_node: dict = {}
            for p in self.pods:
                by_node.setdefault(p.node, []).append(p)
            self._indexes = ({n.name: n for n in self.nodes}, {p.name: p for p in self.pods}, by_node)
        return self._indexes

    def node(self, name: str):
        return self._index()[0][name]

    def pod(self, name: str):
        return self._index()[1][name]

    def pods_on(self, node: str) -> list:
        return list(self._index()[2].get(node, []))


class CniPlugin(ABC):
    name: str
    #: the ``cni:`` block of a declaration naming this plugin (``plugin: <name>`` included)
    values_model: type[BaseModel]
    #: verify/<verify_suite>/ holds the plugin's own checks
    verify_suite: str

    def check(self, decl: Declaration) -> None:
        """Cross-field checks between the ``cni:`` block and the rest; ValueError names the field."""

    @abstractmethod
    def ipam(self, decl: Declaration) -> Ipam: ...

    @abstractmethod
    def veth(self, cluster: str, namespace: str, pod: str) -> tuple[str, str]:
        """The host-side veth of a pod: (name, MAC)."""

    @abstractmethod
    def plan(self, lab: Lab, ipam: Ipam) -> Any:
        """The plugin's view of the lab (``lab.cni``): its per-node and per-pod expected state."""

    @abstractmethod
    def pod_wiring(self, lab: Lab, pod: str) -> PodWiring: ...

    @abstractmethod
    def pod_sysctls(self, lab: Lab, veths: list[str]) -> dict[str, str]:
        """The sysctls of the host-side veths of a node's pods."""

    def nat_rules(self, lab: Lab, node: str) -> tuple[tuple[str, ...], list[str], list[str]]:
        """The plugin's own chains of the nat table on a node: (prefixes it owns, chains, rules)."""
        return (), [], []

    def node_summary(self, lab, node: str) -> str:
        """What `cnilab status` adds to a node's line (Cilium: its router IP)."""
        return ""

    def status(self, running_lab, node: str) -> str:
        """The CNI's own status of a live node, as its CLI prints it (`cilium status` lines)."""
        return ""

    def bgp_protocols_parser(self):
        """The parser of `birdc show protocols` for a CNI that runs BIRD (rows with ``name``,
        ``proto``, ``state``, ``info``), else None."""
        return None

    def map_lists(self) -> dict:
        """`cnilab bpf LAB NODE <map>`: {name: (pinned map names, formatter of their dumps)}."""
        return {}

    def render(self, lab) -> dict[str, str]:
        """The plugin's files for a real cluster (Helm values, CNI config), by relative path."""
        return {}

    @abstractmethod
    def deploy_node(self, lab: Lab) -> None:
        """The plugin's pyinfra deploys for the current host (its node), before its pods exist."""

    @abstractmethod
    def deploy_datapath(self, lab: Lab) -> None:
        """The plugin's pyinfra deploys for the current host, once its pods are wired."""
