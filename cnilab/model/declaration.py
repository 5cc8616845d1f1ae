"""The lab declaration: a kind Cluster config, the CNI's Helm values, the workloads.

Only validation lives here (pydantic, no I/O beyond reading the file). Every error
becomes one DeclarationError whose message names the field and says how to fix it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..cni import get_plugin, plugin_names

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
# Node container names are <cluster>-worker12: keep clusters short enough for
# Docker names and netns file names alike.
MAX_CLUSTER_NAME = 50


class DeclarationError(ValueError):
    """A declaration that cannot become a lab; the message names the field."""


def check_name(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(f"{what} {value!r} must be lowercase letters, digits and '-' (like a DNS label)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """Blocks copied verbatim from kind / Helm / Kubernetes: keep unknown keys for rendering."""

    model_config = ConfigDict(extra="allow", frozen=True)


# What a CNI plugin's `cni:` schema is built from.
StrictBlock = _Strict
OpenBlock = _Open


# --- kind ---------------------------------------------------------------------------------


class KindNode(_Open):
    role: Literal["control-plane", "worker"] = "control-plane"


class KindNetworking(_Open):
    disableDefaultCNI: bool = False
    kubeProxyMode: Literal["iptables", "ipvs", "nftables", "none"] = "iptables"
    podSubnet: str | None = None
    serviceSubnet: str = "10.96.0.0/16"
    ipFamily: Literal["ipv4"] = "ipv4"

    @field_validator("podSubnet", "serviceSubnet")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Network(v, strict=True)
        return v


class KindCluster(_Open):
    kind: Literal["Cluster"]
    apiVersion: Literal["kind.x-k8s.io/v1alpha4"]
    name: str
    networking: KindNetworking = KindNetworking()
    nodes: list[KindNode] = Field(default_factory=lambda: [KindNode()])

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_name(v, "cluster name")
        if len(v) > MAX_CLUSTER_NAME:
            raise ValueError(f"cluster name {v!r} is longer than {MAX_CLUSTER_NAME} characters")
        return v

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[KindNode]) -> list[KindNode]:
        if not v:
            raise ValueError("a cluster needs at least one node")
        if v[0].role != "control-plane" or sum(n.role == "control-plane" for n in v) != 1:
            raise ValueError("exactly one control-plane node is supported, listed first")
        if len(v) > 250:
            raise ValueError(f"{len(v)} nodes do not fit the underlay (at most 250)")
        return v


# --- workloads ----------------------------------------------------------------------------


class Metadata(_Open):
    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name", "namespace")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class Container(_Open):
    name: str
    image: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "container name")


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
    matchLabels: dict[str, str] = Field(min_length=1)


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

    @model_validator(mode="after")
    def _selector_matches(self) -> DaemonSet:
        _check_selector(self.spec.selector, self.spec.template, self.metadata.name)
        return self


class DeploymentSpec(_Open):
    replicas: int = Field(default=1, ge=0, le=1000)
    selector: LabelSelector
    template: PodTemplate


class Deployment(_Open):
    apiVersion: Literal["apps/v1"]
    kind: Literal["Deployment"]
    metadata: Metadata
    spec: DeploymentSpec

    @model_validator(mode="after")
    def _selector_matches(self) -> Deployment:
        _check_selector(self.spec.selector, self.spec.template, self.metadata.name)
        return self


def _check_selector(selector: LabelSelector, template: PodTemplate, name: str) -> None:
    labels = template.metadata.labels if template.metadata else {}
    for k, v in selector.matchLabels.items():
        if labels.get(k) != v:
            raise ValueError(
                f"spec.selector.matchLabels {k}={v} of {name} does not match spec.template.metadata.labels {labels}"
            )


class ServicePort(_Open):
    name: str | None = None
    port: int = Field(ge=1, le=65535)
    targetPort: int = Field(default=0, ge=0, le=65535)
    nodePort: int | None = Field(default=None, ge=30000, le=32767)
    protocol: Literal["TCP", "UDP"] = "TCP"


class ServiceSpec(_Open):
    type: Literal["ClusterIP", "NodePort"] = "ClusterIP"
    selector: dict[str, str] = Field(min_length=1)
    ports: list[ServicePort] = Field(min_length=1)
    clusterIP: str | None = None


class Service(_Open):
    apiVersion: Literal["v1"]
    kind: Literal["Service"]
    metadata: Metadata
    spec: ServiceSpec

    @model_validator(mode="after")
    def _unique_ports(self) -> Service:
        seen = set()
        for i, p in enumerate(self.spec.ports):
            if (p.port, p.protocol) in seen:
                raise ValueError(f"spec.ports[{i}]: port {p.port}/{p.protocol} is listed twice")
            seen.add((p.port, p.protocol))
        return self


WORKLOAD_KINDS: dict[str, type[BaseModel]] = {
    "Pod": Pod,
    "DaemonSet": DaemonSet,
    "Deployment": Deployment,
    "Service": Service,
}


# --- the declaration ----------------------------------------------------------------------


class Declaration(_Strict):
    kind: KindCluster
    nodeImage: str = "kindest/node:v1.23.4"
    untaintControlPlane: bool = False
    # The plugin's own schema, picked by `cni.plugin` (a union discriminated by plugin,
    # whose members are the registered plugins).
    cni: Any
    workloads: list[Pod | DaemonSet | Deployment | Service] = Field(default_factory=list)
    backend: Literal["docker", "netns"] = "docker"
    # kind puts its nodes on the Docker network "kind", 172.18.0.0/16; a second lab
    # side by side needs its own.
    underlay: str = "172.18.0.0/16"
    # A second NIC on every node, eth1 on a network of its own (seed 001's droplets: eth0
    # public, eth1 the private VPC). It carries the nodes' InternalIPs, so native routing
    # routes pod CIDRs over it.
    privateNetwork: str | None = None

    @field_validator("underlay", "privateNetwork")
    @classmethod
    def _underlay(cls, v: str | None) -> str | None:
        if v is None:
            return v
        net = ipaddress.IPv4Network(v, strict=True)
        if not net.is_private or net.prefixlen > 24:
            raise ValueError(f"{v} must be a private IPv4 network of /24 or larger")
        return v

    @field_validator("cni", mode="before")
    @classmethod
    def _cni(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError(": must be a mapping naming its plugin (plugin: cilium)")
        name = v.get("plugin")
        try:
            plugin = get_plugin(name) if isinstance(name, str) else None
        except KeyError:
            plugin = None
        if plugin is None:
            raise ValueError(f".plugin: {name!r} is not a CNI cnilab builds; use one of {', '.join(plugin_names())}")
        try:
            return plugin.values_model.model_validate(v)
        except ValidationError as e:
            raise ValueError(f".{_first_error(e)}") from None

    @model_validator(mode="after")
    def _cni_against_the_rest(self) -> Declaration:
        get_plugin(self.cni.plugin).check(self)
        return self

    @field_validator("workloads", mode="before")
    @classmethod
    def _dispatch(cls, v: Any) -> Any:
        # Pick the manifest model by `kind` so an error names the manifest, not a union.
        if not isinstance(v, list):
            return v
        out = []
        for i, manifest in enumerate(v):
            if not isinstance(manifest, dict):
                raise ValueError(f"[{i}] must be a Kubernetes manifest (a mapping)")
            kind = manifest.get("kind")
            model = WORKLOAD_KINDS.get(kind)
            if model is None:
                raise ValueError(
                    f"[{i}]: kind {kind!r} is not supported; use one of {', '.join(WORKLOAD_KINDS)}"
                )
            try:
                out.append(model.model_validate(manifest))
            except ValidationError as e:
                raise ValueError(f"[{i}] ({kind}) {_first_error(e)}") from None
        return out

    @model_validator(mode="after")
    def _unique_names(self) -> Declaration:
        seen: set[tuple[str, str, str]] = set()
        for w in self.workloads:
            key = ("Service" if w.kind == "Service" else "workload", w.metadata.namespace, w.metadata.name)
            if key in seen:
                raise ValueError(f"workloads: two {w.kind}s named {w.metadata.name!r} in {w.metadata.namespace}")
            seen.add(key)
        return self


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "Pod", "DaemonSet", "Deployment", "Service")) and "[" in part:
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = _loc(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (remove it or check its spelling)"
    elif err["type"] == "missing":
        msg = "is required"
    elif err["type"] in ("literal_error", "greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        got = err.get("input")
        msg = f"{msg} (got {got!r})"
    if where and msg.startswith(("[", ".", ":")):
        # workloads[2] (Pod) spec.containers: ... from the per-manifest validation
        return f"{where}{msg}"
    return f"{where}: {msg}" if where else msg


def parse_declaration(data: Any, source: str = "declaration") -> Declaration:
    if not isinstance(data, dict):
        raise DeclarationError(f"{source}: must be a mapping with kind, cni and workloads")
    try:
        return Declaration.model_validate(data)
    except ValidationError as e:
        raise DeclarationError(f"{source}: {_first_error(e)}") from None


def load_declaration(path: str | Path) -> Declaration:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise DeclarationError(f"{path}: cannot read the declaration ({e.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise DeclarationError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_declaration(data, str(path))
