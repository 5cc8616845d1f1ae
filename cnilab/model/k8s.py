"""Kubernetes objects, checked as the API server checks them.

Two layers:

* structure: the ``kubernetes`` client's models (pydantic, ``extra="forbid"``, strict
  types) carry the API's schema: unknown fields, wrong types and missing required
  fields come from them (:func:`structure`);
* the API server's own validation rules, which no schema carries, hand-written here
  after ``k8s.io/apimachinery/pkg/util/validation`` and
  ``pkg/apis/core/validation`` / ``pkg/apis/apps/validation``: DNS-1123 and DNS-1035
  names, label keys and values, IANA service names for ports, port ranges, protocols,
  selectors and their templates, Service ports, tolerations (:func:`rules`).

Every problem is a ``(path, detail)`` pair with the path written the way kubectl
writes it (``spec.ports[0].name``) and the detail in the API server's words
(``Invalid value: "x": must be no more than 15 characters``). Nothing here does I/O.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

Problem = tuple[str, str]

# --- syntax rules (k8s.io/apimachinery/pkg/util/validation) -------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_FMT = rf"{DNS1123_LABEL_FMT}(\.{DNS1123_LABEL_FMT})*"
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_FMT = rf"({QUALIFIED_NAME_FMT})?"
LABEL_VALUE_MAX = 63
IANA_SVC_NAME_MAX = 15

_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_PORT_NAME_CHARSET = re.compile("^[-a-z0-9]+$")
_PORT_NAME_ONE_LETTER = re.compile("[a-z]")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # validation.RegexError, double space and all
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: node, namespace, container names, Service port names."""
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len(DNS1123_LABEL_MAX))
    if not _DNS1123_LABEL.match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character", DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: Pod, DaemonSet and Deployment names, label key prefixes."""
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len(DNS1123_SUBDOMAIN_MAX))
    if not _DNS1123_SUBDOMAIN.match(value):
        errs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character", DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: Service names."""
    errs = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(_max_len(DNS1035_LABEL_MAX))
    if not _DNS1035_LABEL.match(value):
        errs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character", DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


_QUALIFIED_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: label keys, toleration keys: an optional DNS subdomain prefix and '/', then a name."""
    errs = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += [f"prefix part {m}" for m in dns1123_subdomain(prefix)]
    else:
        return [
            "a qualified name " + _regex_error(_QUALIFIED_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX:
        errs.append("name part " + _max_len(QUALIFIED_NAME_MAX))
    if not _QUALIFIED_NAME.match(name):
        errs.append("name part " + _regex_error(_QUALIFIED_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or at most 63 characters of a qualified name's alphabet."""
    errs = []
    if len(value) > LABEL_VALUE_MAX:
        errs.append(_max_len(LABEL_VALUE_MAX))
    if not _LABEL_VALUE.match(value):
        errs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character", LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def port_name(value: str) -> list[str]:
    """IsValidPortName: an IANA_SVC_NAME (RFC 6335): container port names, named targetPorts."""
    errs = []
    if len(value) > IANA_SVC_NAME_MAX:
        errs.append(_max_len(IANA_SVC_NAME_MAX))
    if not _PORT_NAME_CHARSET.match(value):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER.search(value):
        errs.append("must contain at least one letter (a-z)")
    if "--" in value:
        errs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_number(value: int) -> list[str]:
    """IsValidPortNum."""
    return [] if 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


# --- field errors, as k8s.io/apimachinery/pkg/util/validation/field prints them -----------


def show(value: Any) -> str:
    """A value as an error shows it: strings quoted, numbers and booleans bare."""
    try:
        text = json.dumps(value, sort_keys=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def invalid(path: str, value: Any, detail: str) -> Problem:
    return path, f"Invalid value: {show(value)}: {detail}"


def required(path: str, detail: str = "") -> Problem:
    return path, "Required value" + (f": {detail}" if detail else "")


def not_supported(path: str, value: Any, supported: list[str]) -> Problem:
    return path, f"Unsupported value: {show(value)}: supported values: {', '.join(show(s) for s in supported)}"


def duplicate(path: str, value: Any) -> Problem:
    return path, f"Duplicate value: {show(value)}"


def forbidden(path: str, detail: str) -> Problem:
    return path, f"Forbidden: {detail}"


def unknown_field(path: str, key: str, known: list[str], what: str = "field") -> Problem:
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {show(near[0])}?)" if near else ""
    return path, f"unknown {what} {show(key)}{hint}"


def join(parent: str, child: str) -> str:
    if not child:
        return parent
    if not parent:
        return child.lstrip(".")
    return parent + (child if child.startswith("[") else "." + child)


def loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out = join(out, f"[{part}]" if isinstance(part, int) else str(part))
    return out


def within(path: str, reported: set[str]) -> bool:
    """Whether ``path`` is, or lies under, a path already reported."""
    for r in reported:
        if path == r or path.startswith(r + ".") or path.startswith(r + "["):
            return True
    return False


def merge(*groups: list[Problem]) -> list[Problem]:
    """Problems of several layers, a path reported once (the first layer that saw it wins)."""
    out: list[Problem] = []
    seen: set[str] = set()
    for group in groups:
        mine: set[str] = set()
        for path, detail in group:
            if within(path, seen) or (path, detail) in out:
                continue
            out.append((path, detail))
            mine.add(path)
        seen |= mine
    return out


# --- structure: the kubernetes client's models --------------------------------------------

_UNION_TAGS = {"int", "str", "float", "bool", "list", "dict", "none"}
_QUANTITY_KEYS = {"limits", "requests", "overhead", "sizeLimit", "capacity", "allocatable"}
_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "string_type": "a string", "bool_type": "a boolean", "bool_parsing": "a boolean",
    "float_type": "a number", "float_parsing": "a number",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "datetime_type": "a date-time", "datetime_parsing": "a date-time",
    "datetime_from_date_parsing": "a date-time",
}


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _step(annotation: Any, part: Any) -> Any:
    """The annotation one step down: a model's field (by name or alias), a list's item, a map's value."""
    for t in _unwrap(annotation):
        origin = typing.get_origin(t)
        if isinstance(part, int) and origin in (list, typing.List):  # noqa: UP006
            return typing.get_args(t)[0]
        if isinstance(part, str) and origin in (dict, typing.Dict):  # noqa: UP006
            return typing.get_args(t)[1]
        if isinstance(part, str) and isinstance(t, type) and issubclass(t, BaseModel):
            for name, f in t.model_fields.items():
                if part in (name, f.alias, f.serialization_alias) or (
                    f.validation_alias is not None and part in getattr(f.validation_alias, "choices", [f.validation_alias])
                ):
                    return f.annotation
    return None


def known_keys(model: Any, loc: tuple) -> list[str]:
    """The keys a mapping at ``loc`` under ``model`` may hold, as written in YAML (aliases)."""
    annotation = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    for t in _unwrap(annotation):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return [f.serialization_alias or f.alias or n for n, f in t.model_fields.items()]
    return []


def problems_of(e: ValidationError, model: Any = None, unknown: str = "field") -> list[Problem]:
    """A pydantic ValidationError as (path, detail) problems, in the API server's words.

    A validator may raise :class:`Problems` to report several at once; they are expanded
    under the validator's own path."""
    out: list[Problem] = []
    for err in e.errors():
        loc = tuple(err["loc"])
        if err["type"] not in ("extra_forbidden",):
            while loc and isinstance(loc[-1], str) and loc[-1] in _UNION_TAGS:
                loc = loc[:-1]
        loc = tuple(p for p in loc if not (isinstance(p, str) and (p.startswith("function-") or p.startswith("tagged-union["))))
        path = loc_path(loc)
        kind, value = err["type"], err.get("input")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            out += [(join(path, p), d) for p, d in cause.problems]
            continue
        if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool) and (
            set(loc) & _QUANTITY_KEYS
        ):
            continue  # a Quantity (`cpu: 1`): the API takes a number there
        if kind == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            out.append(unknown_field(path, key, known_keys(model, loc[:-1]) if model else [], unknown))
        elif kind == "missing":
            out.append(required(path))
        elif kind in _TYPE_WORDS:
            out.append(invalid(path, value, f"must be {_TYPE_WORDS[kind]}"))
        elif kind == "literal_error":
            expected = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
            out.append(not_supported(path, value, expected))
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            ctx = err.get("ctx") or {}
            words = {"greater_than_equal": ("ge", "greater than or equal to"), "less_than_equal": ("le", "less than or equal to"),
                     "greater_than": ("gt", "greater than"), "less_than": ("lt", "less than")}[kind]
            out.append(invalid(path, value, f"must be {words[1]} {ctx.get(words[0])}"))
        elif kind == "too_short":
            out.append(required(path, f"at least {(err.get('ctx') or {}).get('min_length', 1)} item"))
        elif kind == "too_long":
            out.append(invalid(path, value, f"must have at most {(err.get('ctx') or {}).get('max_length')} items"))
        elif kind == "value_error":
            out.append((path, str(cause) if cause is not None else err["msg"].removeprefix("Value error, ")))
        else:
            out.append((path, err["msg"].removeprefix("Value error, ")))
    # A union (IntOrString) fails once per member: say it once.
    merged: list[Problem] = []
    for path, detail in out:
        same = [i for i, (p, d) in enumerate(merged) if p == path and d.startswith("Invalid value") and detail.startswith("Invalid value")]
        if same:
            i = same[0]
            merged[i] = (path, merged[i][1] + " or " + detail.rsplit("must be ", 1)[-1])
        elif (path, detail) not in merged:
            merged.append((path, detail))
    return merged


class Problems(ValueError):
    """Several problems found by one validator, each ``(path, detail)`` relative to where it is raised."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{p}: {d}" if p else d for p, d in self.problems))


def _client_models() -> dict[str, type[BaseModel]]:
    from kubernetes.client import V1DaemonSet, V1Deployment, V1Namespace, V1Pod, V1Service

    return {"Pod": V1Pod, "DaemonSet": V1DaemonSet, "Deployment": V1Deployment, "Service": V1Service, "Namespace": V1Namespace}


def structure(obj: dict) -> list[Problem]:
    """Unknown fields, wrong types, missing required fields: the API's schema, as the
    ``kubernetes`` client's models carry it."""
    model = _client_models().get(obj.get("kind"))
    if model is None:
        return []
    try:
        model.model_validate(obj)
    except ValidationError as e:
        return problems_of(e, model)
    return []


# --- the API server's validation rules ----------------------------------------------------


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _i(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _d(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _l(v: Any) -> list:
    return v if isinstance(v, list) else []


NAME_RULES = {"Pod": dns1123_subdomain, "DaemonSet": dns1123_subdomain, "Deployment": dns1123_subdomain,
              "Service": dns1035_label, "Namespace": dns1123_label}
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
NODE_PORT_RANGE = (30000, 32767)  # kube-apiserver's --service-node-port-range default


def labels(value: Any, path: str) -> list[Problem]:
    """ValidateLabels: every key a qualified name, every value a label value."""
    out = []
    for k, v in _d(value).items():
        if isinstance(k, str):
            out += [invalid(path, k, m) for m in qualified_name(k)]
        if isinstance(v, str):
            out += [invalid(path, v, m) for m in label_value(v)]
    return out


def object_meta(meta: Any, kind: str, path: str = "metadata", namespaced: bool = True) -> list[Problem]:
    out: list[Problem] = []
    meta = _d(meta)
    name = meta.get("name")
    if name is None or name == "":
        out.append(required(f"{path}.name", "name or generateName is required"))
    elif isinstance(name, str):
        out += [invalid(f"{path}.name", name, m) for m in NAME_RULES.get(kind, dns1123_subdomain)(name)]
    ns = meta.get("namespace")
    if isinstance(ns, str):
        if not namespaced:
            out.append(forbidden(f"{path}.namespace", "not allowed on this type"))
        else:
            out += [invalid(f"{path}.namespace", ns, m) for m in dns1123_label(ns)]
    out += labels(meta.get("labels"), f"{path}.labels")
    for k in _d(meta.get("annotations")):
        if isinstance(k, str):
            out += [invalid(f"{path}.annotations", k, m) for m in qualified_name(k.lower())]
    return out


def label_selector(sel: Any, path: str) -> list[Problem]:
    """ValidateLabelSelector: matchLabels as labels; matchExpressions' keys, operators and values."""
    out = labels(_d(sel).get("matchLabels"), f"{path}.matchLabels")
    for i, expr in enumerate(_l(_d(sel).get("matchExpressions"))):
        p = f"{path}.matchExpressions[{i}]"
        expr = _d(expr)
        op, values = expr.get("operator"), expr.get("values")
        if op in ("In", "NotIn"):
            if not values:
                out.append(required(f"{p}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append(forbidden(f"{p}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif isinstance(op, str):
            out.append(not_supported(f"{p}.operator", op, ["In", "NotIn", "Exists", "DoesNotExist"]))
        key = expr.get("key")
        if isinstance(key, str):
            out += [invalid(f"{p}.key", key, m) for m in qualified_name(key)]
        for j, v in enumerate(_l(values)):
            if isinstance(v, str):
                out += [invalid(f"{p}.values[{j}]", v, m) for m in label_value(v)]
    return out


def selector_matches(sel: dict, labels_: dict) -> bool:
    """Whether a LabelSelector selects an object with these labels."""
    for k, v in _d(sel.get("matchLabels")).items():
        if labels_.get(k) != v:
            return False
    for expr in _l(sel.get("matchExpressions")):
        expr = _d(expr)
        key, op, values = expr.get("key"), expr.get("operator"), _l(expr.get("values"))
        if op == "In" and labels_.get(key) not in values:
            return False
        if op == "NotIn" and key in labels_ and labels_[key] in values:
            return False
        if op == "Exists" and key not in labels_:
            return False
        if op == "DoesNotExist" and key in labels_:
            return False
    return True


def tolerations(tols: Any, path: str) -> list[Problem]:
    """validateTolerations."""
    out: list[Problem] = []
    for i, t in enumerate(_l(tols)):
        p = f"{path}[{i}]"
        t = _d(t)
        key, op, value, effect = _s(t.get("key")) or "", t.get("operator") or "", _s(t.get("value")) or "", t.get("effect") or ""
        if key:
            out += [invalid(f"{p}.key", key, m) for m in qualified_name(key)]
        if not key and op != "Exists":
            out.append(invalid(f"{p}.operator", op, 'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            out.append(invalid(f"{p}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            errs = label_value(value)
            if errs:
                out.append(invalid(f"{p}.operator", value, ";".join(errs)))
        elif op == "Exists":
            if value:
                out.append(invalid(f"{p}.operator", t, "value must be empty when `operator` is 'Exists'"))
        else:
            out.append(not_supported(f"{p}.operator", op, ["Equal", "Exists"]))
        if effect and effect not in TAINT_EFFECTS:
            out.append(not_supported(f"{p}.effect", effect, TAINT_EFFECTS))
    return out


def container_port_names(spec: Any) -> dict[str, int]:
    """A pod spec's named container ports: {name: containerPort}."""
    named: dict[str, int] = {}
    for c in _l(_d(spec).get("containers")):
        for port in _l(_d(c).get("ports")):
            port = _d(port)
            if isinstance(port.get("name"), str) and _i(port.get("containerPort")) is not None:
                named.setdefault(port["name"], port["containerPort"])
    return named


def pod_spec(spec: Any, path: str, template: bool = False) -> list[Problem]:
    """ValidatePodSpec, for what the labs take: containers, their ports, tolerations, restartPolicy."""
    out: list[Problem] = []
    spec = _d(spec)
    containers = spec.get("containers")
    if not containers:
        out.append(required(f"{path}.containers"))
    names: set[str] = set()
    port_names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(_l(spec.get(group))):
            p = f"{path}.{group}[{i}]"
            c = _d(c)
            name = c.get("name")
            if not name:
                out.append(required(f"{p}.name"))
            elif isinstance(name, str):
                out += [invalid(f"{p}.name", name, m) for m in dns1123_label(name)]
                if name in names:
                    out.append(duplicate(f"{p}.name", name))
                names.add(name)
            if not c.get("image"):
                out.append(required(f"{p}.image"))
            for j, port in enumerate(_l(c.get("ports"))):
                pp = f"{p}.ports[{j}]"
                port = _d(port)
                pname = _s(port.get("name"))
                if pname:
                    out += [invalid(f"{pp}.name", pname, m) for m in port_name(pname)]
                    if pname in port_names:
                        out.append(duplicate(f"{pp}.name", pname))
                    port_names.add(pname)
                cport = _i(port.get("containerPort"))
                if cport == 0:
                    out.append(required(f"{pp}.containerPort"))
                elif cport is not None:
                    out += [invalid(f"{pp}.containerPort", cport, m) for m in port_number(cport)]
                hport = _i(port.get("hostPort"))
                if hport:
                    out += [invalid(f"{pp}.hostPort", hport, m) for m in port_number(hport)]
                proto = port.get("protocol")
                if isinstance(proto, str) and proto not in PROTOCOLS:
                    out.append(not_supported(f"{pp}.protocol", proto, PROTOCOLS))
    policy = spec.get("restartPolicy")
    allowed = ["Always"] if template else ["Always", "OnFailure", "Never"]
    if isinstance(policy, str) and policy not in allowed:
        out.append(not_supported(f"{path}.restartPolicy", policy, allowed))
    node = _s(spec.get("nodeName"))
    if node:
        out += [invalid(f"{path}.nodeName", node, m) for m in dns1123_subdomain(node)]
    out += labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    out += tolerations(spec.get("tolerations"), f"{path}.tolerations")
    return out


def _workload(obj: dict, what: str) -> list[Problem]:
    """DaemonSet and Deployment: a selector that is not empty and selects its own template."""
    spec = _d(obj.get("spec"))
    out: list[Problem] = []
    sel = spec.get("selector")
    template = _d(spec.get("template"))
    tlabels = _d(_d(template.get("metadata")).get("labels"))
    if isinstance(sel, dict):
        out += label_selector(sel, "spec.selector")
        if not _d(sel.get("matchLabels")) and not _l(sel.get("matchExpressions")):
            out.append(invalid("spec.selector", sel, f"empty selector is invalid for {what}"))
        elif not selector_matches(sel, tlabels):
            out.append(invalid("spec.template.metadata.labels", tlabels, "`selector` does not match template `labels`"))
    elif sel is None:
        out.append(required("spec.selector"))
    out += labels(tlabels, "spec.template.metadata.labels")
    out += pod_spec(template.get("spec"), "spec.template.spec", template=True)
    return out


def _service(obj: dict) -> list[Problem]:
    """ValidateService, and the nodePort range the API server's allocator enforces."""
    spec = _d(obj.get("spec"))
    out: list[Problem] = []
    stype = spec.get("type") or "ClusterIP"
    if isinstance(stype, str) and stype not in SERVICE_TYPES:
        out.append(not_supported("spec.type", stype, SERVICE_TYPES))
    ports = _l(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and stype != "ExternalName" and not headless:
        out.append(required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[str, int]] = set()
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        p = f"spec.ports[{i}]"
        port = _d(port)
        name = _s(port.get("name"))
        if len(ports) > 1 and not name:
            out.append(required(f"{p}.name"))
        elif name:
            out += [invalid(f"{p}.name", name, m) for m in dns1123_label(name)]
            if name in names:
                out.append(duplicate(f"{p}.name", name))
            names.add(name)
        number = _i(port.get("port"))
        if number is not None:
            out += [invalid(f"{p}.port", number, m) for m in port_number(number)]
        proto = port.get("protocol", "TCP")
        if isinstance(proto, str) and proto not in PROTOCOLS:
            out.append(not_supported(f"{p}.protocol", proto, PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            out += [invalid(f"{p}.targetPort", target, m) for m in port_name(target)]
        elif _i(target) is not None and target != 0:
            out += [invalid(f"{p}.targetPort", target, m) for m in port_number(target)]
        node_port = _i(port.get("nodePort"))
        if node_port:
            if stype == "ClusterIP":
                out.append(forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            elif not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                out.append(invalid(f"{p}.nodePort", node_port,
                                   "provided port is not in the valid range. The range of valid ports is "
                                   f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
            elif (str(proto), node_port) in node_ports:
                out.append(duplicate(f"{p}.nodePort", node_port))
            node_ports.add((str(proto), node_port))
        if number is not None:
            if (str(proto), number) in seen:
                out.append(duplicate(p, {"port": number, "protocol": proto}))
            seen.add((str(proto), number))
    out += labels(spec.get("selector"), "spec.selector")
    cip = _s(spec.get("clusterIP"))
    if cip and cip != "None":
        try:
            ipaddress.ip_address(cip)
        except ValueError:
            out.append(invalid("spec.clusterIP", cip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    return out


def rules(obj: dict) -> list[Problem]:
    """The API server's validation of one object (Pod, DaemonSet, Deployment, Service, Namespace)."""
    kind = obj.get("kind")
    out = object_meta(obj.get("metadata"), kind, namespaced=kind != "Namespace")
    if kind == "Pod":
        out += pod_spec(obj.get("spec"), "spec")
    elif kind in ("DaemonSet", "Deployment"):
        out += _workload(obj, kind.lower())
        if kind == "Deployment":
            replicas = _i(_d(obj.get("spec")).get("replicas"))
            if replicas is not None and replicas < 0:
                out.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    elif kind == "Service":
        out += _service(obj)
    return out


def validate(obj: dict) -> list[Problem]:
    """Structure first (a wrong type is said once), then the API server's rules."""
    return merge(structure(obj), rules(obj))
