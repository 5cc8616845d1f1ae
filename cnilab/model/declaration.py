"""The lab declaration: a kind Cluster config, the CNI's Helm values, the workloads.

Only validation lives here (pydantic, no I/O beyond reading the file). A declaration is
checked the way the tools that would take it check it, and every problem is reported at
once, one line each, naming the field path the way kubectl does:

* ``kind:`` as kind checks its Cluster config (:mod:`cnilab.model.kind`), then what the
  lab supports of it;
* ``cni:`` by the plugin's own model (``cnilab.cni.get_plugin(...).values_model``): the
  Cilium plugin checks its Helm values against the declared chart version's keys;
* ``workloads:`` as the API server checks them (:mod:`cnilab.model.k8s`: the
  ``kubernetes`` client's models for structure, the API server's rules by hand), then
  what the lab supports of them, then what refers across them (named targetPorts,
  namespaces, names given twice).

All problems end in one :class:`DeclarationError`: ``.errors`` holds the lines
(``<declaration>: <path>: <detail>``), ``str()`` is those lines joined by newlines.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from ..cni import get_plugin, plugin_names
from . import k8s
from . import kind as kind_rules
from .k8s import Problems, invalid, join, merge, not_supported, problems_of

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Node container names are <cluster>-worker12: keep clusters short enough for
# Docker names and netns file names alike.
MAX_CLUSTER_NAME = 50
# Namespaces every kind cluster has.
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

__all__ = [
    "Declaration", "DeclarationError", "Problems", "parse_declaration", "load_declaration", "load_yaml",
    "check_name", "StrictBlock", "OpenBlock",
]


class DeclarationError(ValueError):
    """A declaration that cannot become a lab.

    ``errors`` are its problems, one line each, every line starting with the
    declaration's path or name; ``problems`` the same as ``(path, detail)`` pairs (path
    ``None`` when the message carries its own). ``unreadable`` says the file could not
    be read at all (missing, not a file, not text), as opposed to read and found wrong.
    """

    def __init__(self, message: str | None = None, *, source: str | None = None,
                 problems: list[tuple[str, str]] | None = None, unreadable: bool = False):
        if problems:
            self.problems: list[tuple[str | None, str]] = [(p or None, d) for p, d in problems]
            self.errors = [f"{source}: {p}: {d}" if p else f"{source}: {d}" for p, d in problems]
        else:
            self.problems = [(None, message or "")]
            self.errors = [message or ""]
        self.source = source
        self.unreadable = unreadable
        super().__init__("\n".join(self.errors))


def check_name(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} must be lowercase letters, digits and '-' (like a DNS label)")
    return value


def _lab_name(value: Any) -> Any:
    """The lab's own rule for names it derives devices and files from: a DNS-1123 label."""
    if isinstance(value, str) and not NAME_RE.match(value):
        raise Problems([("", f"Invalid value: {k8s.show(value)}: the lab takes only DNS-1123 labels here "
                             "(lowercase letters, digits and '-', starting and ending with a letter or digit)")])
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """Blocks copied verbatim from kind / Helm / Kubernetes: keep unknown keys for rendering
    (what those keys may be is checked against the tool's own schema, not here)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# What a CNI plugin's `cni:` schema is built from.
StrictBlock = _Strict
OpenBlock = _Open


def _layers(handler, data: Any, model: type[BaseModel], first: list[tuple[str, str]], unknown: str = "field"):
    """Validate ``data`` with ``handler`` and report its problems together with ``first``
    (the tool's own checks, which win where both say something about one path)."""
    try:
        result = handler(data)
    except ValidationError as e:
        raise Problems(merge(first, problems_of(e, model, unknown))) from None
    if first:
        raise Problems(first)
    return result


# --- kind ---------------------------------------------------------------------------------


class KindNode(_Open):
    role: Literal["control-plane", "worker"] = "control-plane"


class KindNetworking(_Open):
    disableDefaultCNI: bool = False
    kubeProxyMode: Literal["iptables", "ipvs", "nftables", "none"] = "iptables"
    podSubnet: str | None = None
    serviceSubnet: str = "10.96.0.0/16"
    # kind takes ipv6 and dual too; the lab models IPv4 only.
    ipFamily: Literal["ipv4"] = "ipv4"

    @field_validator("podSubnet", "serviceSubnet")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ipaddress.IPv4Network(v, strict=True)
            except ValueError as e:
                raise Problems([("", f"Invalid value: {k8s.show(v)}: the lab takes one IPv4 CIDR here ({e})")]) from None
        return v


class KindCluster(_Open):
    kind: Literal["Cluster"]
    apiVersion: Literal["kind.x-k8s.io/v1alpha4"]
    name: str
    networking: KindNetworking = KindNetworking()
    nodes: list[KindNode] = Field(default_factory=lambda: [KindNode()])

    @model_validator(mode="wrap")
    @classmethod
    def _as_kind_checks_it(cls, data: Any, handler):
        return _layers(handler, data, cls, kind_rules.validate(data))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise Problems([("", f"Invalid value: {k8s.show(v)}: the lab's cluster name must be a DNS-1123 label "
                                 "(lowercase letters, digits and '-'): it names containers, links and files")])
        if len(v) > MAX_CLUSTER_NAME:
            raise Problems([("", f"Invalid value: {k8s.show(v)}: must be no more than {MAX_CLUSTER_NAME} characters "
                                 "(the lab's node names and netns files carry it)")])
        return v

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[KindNode]) -> list[KindNode]:
        if not v:
            raise Problems([("", "Required value: a cluster needs at least one node")])
        if v[0].role != "control-plane" or sum(n.role == "control-plane" for n in v) != 1:
            raise Problems([("", "Forbidden: the lab supports exactly one control-plane node, listed first (kind takes several)")])
        if len(v) > 250:
            raise Problems([("", f"Forbidden: {len(v)} nodes do not fit the lab's underlay (at most 250)")])
        return v


# --- workloads ----------------------------------------------------------------------------
# What the lab reads of each manifest. The API server's own checks come first
# (cnilab.model.k8s); these models add only what the lab supports of them.


class Metadata(_Open):
    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name", "namespace")
    @classmethod
    def _name(cls, v: str) -> str:
        return _lab_name(v)


class NamespaceMetadata(_Open):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class ContainerPort(_Open):
    containerPort: int
    name: str | None = None
    protocol: str = "TCP"


class Container(_Open):
    name: str
    image: str
    ports: list[ContainerPort] = Field(default_factory=list)


class Toleration(_Open):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    effect: str | None = None


class PodSpec(_Open):
    containers: list[Container] = Field(min_length=1)
    nodeName: str | None = None
    tolerations: list[Toleration] = Field(default_factory=list)


class TemplateMetadata(_Open):
    labels: dict[str, str] = Field(default_factory=dict)


class PodTemplate(_Open):
    metadata: TemplateMetadata | None = None
    spec: PodSpec


class LabelSelector(_Open):
    matchLabels: dict[str, str] = Field(default_factory=dict)


class Pod(_Open):
    apiVersion: Literal["v1"]
    kind: Literal["Pod"]
    metadata: Metadata
    spec: PodSpec


class DaemonSetSpec(_Open):
    selector: LabelSelector
    template: PodTemplate


class DaemonSet(_Open):
    apiVersion: Literal["apps/v1"]
    kind: Literal["DaemonSet"]
    metadata: Metadata
    spec: DaemonSetSpec


class DeploymentSpec(_Open):
    # The API server takes any replicas >= 0; the lab builds at most 1000 pods of one.
    replicas: int = Field(default=1, le=1000)
    selector: LabelSelector
    template: PodTemplate


class Deployment(_Open):
    apiVersion: Literal["apps/v1"]
    kind: Literal["Deployment"]
    metadata: Metadata
    spec: DeploymentSpec


class NamedPort(int):
    """A targetPort written as a name (``http``), resolved to the number of the selected
    pods' container port of that name; it renders back as the name."""

    port_name: str

    def __new__(cls, number: int, name: str) -> NamedPort:
        self = super().__new__(cls, number)
        self.port_name = name
        return self

    def __repr__(self) -> str:
        return f"NamedPort({int(self)}, {self.port_name!r})"


class ServicePort(_Open):
    name: str | None = None
    port: int
    # A number, or a container port's name (resolved by the Declaration to a NamedPort).
    targetPort: int | str = 0
    nodePort: int | None = None
    # The API server takes SCTP too; the lab models TCP and UDP.
    protocol: Literal["TCP", "UDP"] = "TCP"

    @field_serializer("targetPort")
    def _as_written(self, v: Any) -> Any:
        return v.port_name if isinstance(v, NamedPort) else v


class ServiceSpec(_Open):
    # The API server takes LoadBalancer and ExternalName too; the lab models these two.
    type: Literal["ClusterIP", "NodePort"] = "ClusterIP"
    # The lab has no manually managed Endpoints: a Service selects its pods.
    selector: dict[str, str] = Field(min_length=1)
    ports: list[ServicePort] = Field(min_length=1)
    clusterIP: str | None = None


class Service(_Open):
    apiVersion: Literal["v1"]
    kind: Literal["Service"]
    metadata: Metadata
    spec: ServiceSpec


class Namespace(_Open):
    apiVersion: Literal["v1"]
    kind: Literal["Namespace"]
    metadata: NamespaceMetadata


WORKLOAD_KINDS: dict[str, type[BaseModel]] = {
    "Pod": Pod,
    "DaemonSet": DaemonSet,
    "Deployment": Deployment,
    "Service": Service,
    "Namespace": Namespace,
}


def _manifest(manifest: Any) -> tuple[BaseModel | None, list[tuple[str, str]]]:
    """One manifest: the API server's checks, then the lab's model of it."""
    if not isinstance(manifest, dict):
        return None, [("", f"Invalid value: {k8s.show(manifest)}: must be a Kubernetes manifest (a mapping)")]
    kind = manifest.get("kind")
    model = WORKLOAD_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return None, [not_supported("kind", kind, list(WORKLOAD_KINDS))]
    first = k8s.validate(manifest)
    try:
        result = model.model_validate(manifest)
    except ValidationError as e:
        return None, merge(first, problems_of(e, model))
    return (None if first else result), first


# --- the declaration ----------------------------------------------------------------------


class Declaration(_Strict):
    kind: KindCluster
    nodeImage: str = "kindest/node:v1.23.4"
    untaintControlPlane: bool = False
    # The plugin's own schema, picked by `cni.plugin` (a union discriminated by plugin,
    # whose members are the registered plugins).
    cni: Any
    workloads: list[Pod | DaemonSet | Deployment | Service | Namespace] = Field(default_factory=list)
    backend: Literal["docker", "netns"] = "docker"
    # kind puts its nodes on the Docker network "kind", 172.18.0.0/16; a second lab
    # side by side needs its own.
    underlay: str = "172.18.0.0/16"
    # A second NIC on every node, eth1 on a network of its own (seed 001's droplets: eth0
    # public, eth1 the private VPC). It carries the nodes' InternalIPs, so native routing
    # routes pod CIDRs over it.
    privateNetwork: str | None = None
    # Lab-only: the nodes' Kubernetes names and underlay addresses, where a seed's cluster
    # was not made by kind (seed 003: controlplane 172.17.0.32, node01 172.17.0.40). The
    # node's container or namespace is still <cluster>-<name>, so it carries the lab's name.
    nodeNames: list[str] | None = None
    nodeAddresses: list[str] | None = None

    @field_validator("underlay", "privateNetwork")
    @classmethod
    def _underlay(cls, v: str | None) -> str | None:
        if v is None:
            return v
        net = ipaddress.IPv4Network(v, strict=True)
        if not net.is_private or net.prefixlen > 24:
            raise ValueError(f"{v} must be a private IPv4 network of /24 or larger")
        return v

    @model_validator(mode="after")
    def _node_names_and_addresses(self) -> Declaration:
        count = len(self.kind.nodes)
        for key in ("nodeNames", "nodeAddresses"):
            given = getattr(self, key)
            if given is not None and len(given) != count:
                raise ValueError(f"{key}: {len(given)} given for {count} nodes of kind.nodes")
            if given is not None and len(set(given)) != len(given):
                raise ValueError(f"{key}: {sorted({x for x in given if given.count(x) > 1})[0]!r} is given twice")
        for name in self.nodeNames or ():
            check_name(name, "nodeNames: node name")
            if len(f"{self.kind.name}-{name}") > MAX_CLUSTER_NAME + 13:
                raise ValueError(f"nodeNames: {self.kind.name}-{name} is too long for a node (at most {MAX_CLUSTER_NAME + 13} characters)")
        underlay = ipaddress.IPv4Network(self.underlay)
        for address in self.nodeAddresses or ():
            try:
                ip = ipaddress.IPv4Address(address)
            except ValueError:
                raise ValueError(f"nodeAddresses: {address!r} is not an IPv4 address") from None
            # .0 and .1 (the bridge's, in Docker's and kind's habit), the world's, broadcast.
            reserved = {underlay.network_address, underlay.network_address + 1, underlay.broadcast_address - 1, underlay.broadcast_address}
            if ip not in underlay or ip in reserved:
                raise ValueError(f"nodeAddresses: {ip} must be a host address of the underlay {underlay} other than {', '.join(map(str, sorted(reserved)))}")
        return self

    @field_validator("cni", mode="before")
    @classmethod
    def _cni(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise Problems([("", f"Invalid value: {k8s.show(v)}: must be a mapping naming its plugin (plugin: cilium)")])
        name = v.get("plugin")
        try:
            plugin = get_plugin(name) if isinstance(name, str) else None
        except KeyError:
            plugin = None
        if plugin is None:
            raise Problems([not_supported("plugin", name, plugin_names())])
        try:
            return plugin.values_model.model_validate(v)
        except ValidationError as e:
            raise Problems(problems_of(e, plugin.values_model, unknown="key")) from None

    @model_validator(mode="after")
    def _cni_against_the_rest(self) -> Declaration:
        get_plugin(self.cni.plugin).check(self)
        return self

    @field_validator("workloads", mode="before")
    @classmethod
    def _dispatch(cls, v: Any) -> Any:
        # Each manifest by its own kind's checks, so an error names the manifest's field,
        # and every manifest's problems are reported, not the first one's.
        if not isinstance(v, list):
            return v
        out, problems = [], []
        for i, manifest in enumerate(v):
            model, found = _manifest(manifest)
            problems += [(join(f"[{i}]", p), d) for p, d in found]
            out.append(model)
        if problems:
            raise Problems(problems)
        return out

    @model_validator(mode="after")
    def _references(self) -> Declaration:
        """What refers across manifests: names given twice, namespaces, named targetPorts."""
        problems: list[tuple[str, str]] = []
        seen: dict[tuple[str, str, str], int] = {}
        namespaces = set(BUILTIN_NAMESPACES)
        for i, w in enumerate(self.workloads):
            if isinstance(w, Namespace):
                key = ("Namespace", "", w.metadata.name)
            else:
                key = ("Service" if w.kind == "Service" else "workload", w.metadata.namespace, w.metadata.name)
            if key in seen:
                problems.append((f"workloads[{i}].metadata.name",
                                 f"Duplicate value: {k8s.show(w.metadata.name)}: two {w.kind}s named {w.metadata.name!r}"
                                 + ("" if isinstance(w, Namespace) else f" in {w.metadata.namespace}")
                                 + f" (workloads[{seen[key]}] is the first)"))
            seen.setdefault(key, i)
            if isinstance(w, Namespace):
                namespaces.add(w.metadata.name)
            elif w.metadata.namespace not in namespaces:
                problems.append((f"workloads[{i}].metadata.namespace",
                                 f"Not found: {k8s.show(w.metadata.namespace)}: no Namespace of that name is declared before it "
                                 f"(kind's own are {', '.join(BUILTIN_NAMESPACES)})"))
        problems += self._named_target_ports()
        if problems:
            raise Problems(problems)
        return self

    def _named_target_ports(self) -> list[tuple[str, str]]:
        """A named targetPort must name a container port of the pods the Service selects;
        the lab resolves it to that port's number (one number for all of them)."""
        templates: list[tuple[str, dict[str, str], PodSpec]] = []
        for w in self.workloads:
            if isinstance(w, Pod):
                templates.append((w.metadata.namespace, w.metadata.labels, w.spec))
            elif isinstance(w, (DaemonSet, Deployment)):
                tpl = w.spec.template
                templates.append((w.metadata.namespace, tpl.metadata.labels if tpl.metadata else {}, tpl.spec))
        problems = []
        for i, w in enumerate(self.workloads):
            if not isinstance(w, Service):
                continue
            selected = [spec for ns, labels, spec in templates
                        if ns == w.metadata.namespace and all(labels.get(k) == v for k, v in w.spec.selector.items())]
            for j, port in enumerate(w.spec.ports):
                name = port.targetPort
                if not isinstance(name, str):
                    continue
                numbers = sorted({cp.containerPort for spec in selected for c in spec.containers for cp in c.ports if cp.name == name})
                path = f"workloads[{i}].spec.ports[{j}].targetPort"
                if not numbers:
                    problems.append(invalid(path, name, "no container port of the pods spec.selector selects is named so"))
                elif len(numbers) > 1:
                    problems.append(invalid(path, name, f"the selected pods name different ports so ({', '.join(map(str, numbers))}); "
                                                        "the lab resolves a named targetPort to one number"))
                else:
                    object.__setattr__(port, "targetPort", NamedPort(numbers[0], name))
        return problems


def parse_declaration(data: Any, source: str = "declaration") -> Declaration:
    if not isinstance(data, dict):
        raise DeclarationError(f"{source}: must be a mapping with kind, cni and workloads", source=source)
    try:
        return Declaration.model_validate(data)
    except ValidationError as e:
        raise DeclarationError(source=source, problems=problems_of(e, Declaration, unknown="key")) from None
    except RecursionError:
        raise DeclarationError(f"{source}: nested too deeply to be a declaration", source=source) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
    one silently; kubectl and kind refuse such a manifest)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first at line {seen[key] + 1})", key_node.start_mark
                )
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str):
    """The YAML document in ``text``, with every key of a mapping given once."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


def load_declaration(path: str | Path) -> Declaration:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DeclarationError(f"{path}: cannot read the declaration ({e.strerror})", source=str(path), unreadable=True) from None
    except UnicodeDecodeError:
        raise DeclarationError(f"{path}: cannot read the declaration (not UTF-8 text)", source=str(path), unreadable=True) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).replace("\n", " ")
        raise DeclarationError(f"{path}: not valid YAML{where}: {problem}", source=str(path)) from None
    except RecursionError:
        raise DeclarationError(f"{path}: not valid YAML: nested too deeply", source=str(path)) from None
    return parse_declaration(data, str(path))
