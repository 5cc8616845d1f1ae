"""The `cni:` block of a Cilium lab: the chart version and the Helm values of the seeds.

The values are checked as the declared chart version would take them: every key must
be one of that chart's (an unknown one is named with the nearest known key), and every
value must have the type of the chart's default. The key set of each supported version
ships as data (charts/cilium-<version>.json), made by :func:`chart_keys` from the
chart's values.yaml. On top of that, the models below say what the lab models of them.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from ...model.declaration import OpenBlock, StrictBlock, check_name
from ...model.k8s import Problem, Problems, invalid, join, merge, not_supported, problems_of, show

SUPPORTED_VERSIONS = ("1.13.0-rc5",)
# Keys the lab takes where the chart has them elsewhere: {lab key: the chart's key}.
# The seeds pass `--set monitorAggregation=none`; in 1.13.0-rc5 that setting is
# bpf.monitorAggregation (the chart ignores a top-level one). It is checked as the
# chart's bpf.monitorAggregation and rendered where the seed put it (README: "Validating
# a declaration").
LAB_ALIASES = {"monitorAggregation": "bpf.monitorAggregation"}
MONITOR_AGGREGATION = ["none", "low", "medium", "maximum"]

# --- the chart's keys -----------------------------------------------------------------------
# A chart's key tree: a mapping per nested block, and at each leaf the type of the default:
# bool, int, number, string, scalar ("" in the chart: unset, any scalar), list, map (free
# form, `{}` in the chart), any (`~` with no type given).

_COMMENTED = re.compile(r"^(?P<indent> *)#(?P<gap> *)(?P<key>[a-z][A-Za-z0-9]*):(?:\s+(?P<value>.*?))?\s*$")
_REAL = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9_-]*):(?:\s+(?P<value>.*?))?\s*$")
_TYPED = re.compile(r"^\s*# -- \((?P<type>[a-z0-9]+)\)")
_HELM_DOCS_TYPES = {"bool": "bool", "int": "int", "float64": "number", "string": "string", "list": "list", "object": "map"}
_NOT_KEYS = {"ref", "eg"}  # "# ref: https://..." lines
# Commented keys whose comment sits at another indent than the block they belong to.
_MOVED = {"config": "ipMasqAgent"}
# Blocks that are Kubernetes objects or free-form maps passed through to a manifest
# (nodeSelector, affinity, resources, ...): their keys are not the chart's to list.
_FREE_FORM = re.compile(r"(?i)(selector|annotations|labels|affinity|resources|securitycontext|updatestrategy|extraconfig|requests|limits)$")


def _free_form(tree: Any) -> Any:
    if not isinstance(tree, dict):
        return tree
    return {k: "map" if isinstance(v, dict) and _FREE_FORM.search(k) else _free_form(v) for k, v in tree.items()}


def _type_of(value: Any) -> Any:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "scalar" if value == "" else "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return {str(k): _type_of(v) for k, v in value.items()} if value else "map"
    return "any"


def chart_keys(values_yaml: str) -> dict:
    """The key tree of a chart from its values.yaml: the keys it sets, and the keys it
    documents commented out (helm-docs style, ``# key: default``), typed by their
    default or by helm-docs' ``# -- (type)`` annotation."""
    out = _type_of(yaml.safe_load(values_yaml))
    stack: list[tuple[int, list[str]]] = []
    annotation = None
    for line in values_yaml.splitlines():
        typed = _TYPED.match(line)
        if typed:
            annotation = _HELM_DOCS_TYPES.get(typed["type"], "any")
            continue
        c = _COMMENTED.match(line)
        r = None if line.lstrip().startswith(("#", "-")) else _REAL.match(line)
        if not (c or r) or (c and c["key"] in _NOT_KEYS):
            continue
        if c:
            indent, key, value = len(c["indent"]) + max(len(c["gap"]) - 1, 0), c["key"], c["value"]
        else:
            indent, key, value = len(r["indent"]), r["key"], r["value"]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [k for _, keys in stack for k in keys]
        if c and not parents and key in _MOVED:
            parents = [_MOVED[key]]
            stack.append((indent, [_MOVED[key], key]))
        else:
            stack.append((indent, [key]))
        node: Any = out
        for p in parents:
            parent = node
            node = node.get(p) if isinstance(node, dict) else None
            if node == "any" and c:
                parent[p] = node = {}  # a commented block under a commented key
        if not isinstance(node, dict):
            annotation = None
            continue
        if r:
            if annotation and node.get(key) == "any":
                node[key] = annotation
        elif key not in node:
            try:
                default = yaml.safe_load(value) if value else None
            except yaml.YAMLError:
                default = value
            node[key] = annotation or _type_of(default)
        annotation = None
    return _free_form(out)


@cache
def chart(version: str) -> dict | None:
    """The key tree of the Cilium chart ``version`` as shipped (None: not a version the lab has)."""
    try:
        text = resources.files(__package__).joinpath("charts", f"cilium-{version}.json").read_text()
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)


_TYPE_WORDS = {"bool": "a boolean", "int": "an integer", "number": "a number", "string": "a string",
               "scalar": "a string, number or boolean", "list": "a list", "map": "a mapping"}


def _agrees(expected: Any, value: Any) -> bool:
    if value is None or expected == "any":
        return True  # null: Helm drops the key, the chart's default applies
    if isinstance(expected, dict) or expected == "map":
        return isinstance(value, dict)
    if expected == "bool":
        return isinstance(value, bool)
    if expected == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "string":
        return isinstance(value, str)
    if expected == "scalar":
        return isinstance(value, (str, int, float, bool))
    if expected == "list":
        return isinstance(value, list)
    return True


def _paths(tree: dict, prefix: str = "") -> dict[str, str]:
    """Every key path of a tree: {last key: first full path that ends in it}."""
    out: dict[str, str] = {}
    for k, v in tree.items():
        out.setdefault(k, join(prefix, k))
        if isinstance(v, dict):
            for last, full in _paths(v, join(prefix, k)).items():
                out.setdefault(last, full)
    return out


def _nearest(key: str, here: dict, tree: dict, at: str) -> str | None:
    """The chart key a misspelt or misplaced ``key`` likely means: a sibling spelt alike,
    or the same key elsewhere in the chart."""
    elsewhere = _paths(tree)
    lowered = {k.lower(): full for k, full in elsewhere.items()}
    if key.lower() in lowered:
        return lowered[key.lower()]
    near = difflib.get_close_matches(key, list(here), n=1, cutoff=0.6)
    if near:
        return join(at, near[0]) if at else near[0]
    near = difflib.get_close_matches(key, list(elsewhere), n=1, cutoff=0.8)
    return elsewhere[near[0]] if near else None


def check_values(values: dict, tree: dict, version: str, at: str = "", root: dict | None = None) -> list[Problem]:
    """Helm values against the chart's key tree: unknown keys, types unlike the defaults'."""
    root = tree if root is None else root
    out: list[Problem] = []
    for key, value in values.items():
        path = join(at, str(key))
        if not isinstance(key, str) or key not in tree:
            if not at and key in LAB_ALIASES:
                out += _alias(key, value, values, root)
                continue
            near = _nearest(str(key), tree, root, at)
            hint = f" (did you mean {show(near)}?)" if near else ""
            out.append((path, f"unknown key {show(key)}: not a key of the cilium {version} chart{hint}"))
            continue
        expected = tree[key]
        if not _agrees(expected, value):
            kind = "map" if isinstance(expected, dict) else expected
            out.append(invalid(path, value, f"must be {_TYPE_WORDS.get(kind, kind)}, the type of the chart's default"))
        elif isinstance(expected, dict) and isinstance(value, dict):
            out += check_values(value, expected, version, path, root)
    return out


def _alias(key: str, value: Any, values: dict, tree: dict) -> list[Problem]:
    target = LAB_ALIASES[key]
    if target == "bpf.monitorAggregation":
        if value is not None and value not in MONITOR_AGGREGATION:
            return [not_supported(key, value, MONITOR_AGGREGATION)]
        chart_value = (values.get("bpf") or {}).get("monitorAggregation") if isinstance(values.get("bpf"), dict) else None
        if chart_value is not None and value is not None and chart_value != value:
            return [invalid(key, value, f"contradicts bpf.monitorAggregation {show(chart_value)} (the lab takes {key} as bpf.monitorAggregation)")]
    return []


def chart_problems(data: Any) -> list[Problem]:
    """The declared chart version, and the values against its keys (paths under `cni.`)."""
    if not isinstance(data, dict):
        return []
    version = data.get("version", SUPPORTED_VERSIONS[0])
    tree = chart(version) if isinstance(version, str) else None
    if tree is None:
        return [not_supported("version", version, list(SUPPORTED_VERSIONS))]
    values = data.get("values")
    if not isinstance(values, dict):
        return []
    return [(join("values", p), d) for p, d in check_values(values, tree, version)]


class CiliumIpamOperator(OpenBlock):
    clusterPoolIPv4PodCIDRList: list[str] = Field(default_factory=lambda: ["10.0.0.0/8"])
    clusterPoolIPv4MaskSize: int = Field(default=24, ge=16, le=28)

    @field_validator("clusterPoolIPv4PodCIDRList")
    @classmethod
    def _pool(cls, v: list[str]) -> list[str]:
        if len(v) != 1:
            raise ValueError("exactly one IPv4 pod CIDR is supported")
        ipaddress.IPv4Network(v[0], strict=True)
        return v


class CiliumIpam(OpenBlock):
    mode: Literal["cluster-pool"] = "cluster-pool"
    operator: CiliumIpamOperator = CiliumIpamOperator()


class CiliumBpf(OpenBlock):
    masquerade: bool = False
    # MONITOR_AGGREGATION: how much of the datapath's trace stream `cnilab monitor` sees.
    monitorAggregation: Literal["none", "low", "medium", "maximum"] = "medium"


def datapath_debug(values: "CiliumValues") -> bool:
    """Whether the agent runs with --debug-verbose=datapath, which the chart passes only with
    debug.enabled: the datapath's debug messages ("Conntrack lookup", "Encapsulating to node"
    in `cnilab monitor`). debug.verbose lists subsystems, separated by spaces or commas. The
    block stays as written (the chart's check judges its types)."""
    debug = (values.model_extra or {}).get("debug")
    if not isinstance(debug, dict) or debug.get("enabled") is not True:
        return False
    return "datapath" in re.split(r"[\s,]+", str(debug.get("verbose") or ""))


class CiliumNodePort(OpenBlock):
    # Helm's nodePort.enabled: NodePort in BPF. Strict kube-proxy replacement implies it;
    # partial (seed 001: `enable-node-port: "false"`) leaves NodePort to kube-proxy.
    enabled: bool = False


class CiliumCluster(OpenBlock):
    name: str = "default"
    id: int = Field(default=0, ge=0, le=255)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        try:
            return check_name(v, "cluster.name")
        except ValueError:
            raise Problems([invalid("", v, "must be a DNS-1123 label (lowercase letters, digits and '-'), as Cilium's cluster name")]) from None


class CiliumValues(OpenBlock):
    tunnel: Literal["vxlan", "disabled"] = "vxlan"
    kubeProxyReplacement: Literal["strict", "partial", "probe", "disabled"] = "disabled"
    autoDirectNodeRoutes: bool = False
    ipv4NativeRoutingCIDR: str | None = None
    enableIPv4Masquerade: bool = True
    ipam: CiliumIpam = CiliumIpam()
    bpf: CiliumBpf = CiliumBpf()
    nodePort: CiliumNodePort = CiliumNodePort()
    cluster: CiliumCluster = CiliumCluster()
    k8sServicePort: int = 6443

    @field_validator("ipv4NativeRoutingCIDR")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Network(v, strict=True)
        return v

    @model_validator(mode="before")
    @classmethod
    def _no_service_host(cls, data: Any) -> Any:
        if isinstance(data, dict) and "k8sServiceHost" in data:
            raise ValueError("k8sServiceHost is the control-plane's IP, filled in when rendering: remove it")
        return data

    @model_validator(mode="after")
    def _modes(self) -> CiliumValues:
        if self.tunnel == "disabled" and not self.ipv4NativeRoutingCIDR:
            raise ValueError("tunnel=disabled (native routing) needs ipv4NativeRoutingCIDR")
        return self


class CniCilium(StrictBlock):
    plugin: Literal["cilium"]
    version: str = "1.13.0-rc5"
    values: CiliumValues = CiliumValues()

    @model_validator(mode="wrap")
    @classmethod
    def _as_the_chart_takes_them(cls, data: Any, handler):
        # What the lab models (the pydantic fields: its modes, CIDRs, ...) first, then the
        # chart's keys and types; a path is reported once.
        first = chart_problems(data)
        try:
            result = handler(data)
        except ValidationError as e:
            raise Problems(merge(problems_of(e, cls, unknown="key"), first)) from None
        if first:
            raise Problems(first)
        return result
