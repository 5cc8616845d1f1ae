"""Render a lab into what a real cluster needs: the kind config and the workloads
(templates/kind), and what the CNI plugin renders (Cilium's Helm values and install
script, templates/cilium).

Render only: the model has validated the declaration already.

    >>> from cnilab.model import load_lab
    >>> files = render_lab(load_lab("cilium_vxlan"))
    >>> sorted(files)
    ['cilium/values.yaml', 'install.sh', 'kind/cluster.yaml', 'workloads.yaml']
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import jinja2

from . import templating
import yaml

from .model import Lab


# kind's own order (sigs.k8s.io/kind/pkg/apis/config/v1alpha4), with networking before
# nodes as kind's documentation writes it. Keys kind does not know follow, as declared.
KIND_CLUSTER_ORDER = (
    "kind", "apiVersion", "name", "featureGates", "runtimeConfig", "networking", "nodes",
    "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902",
    "containerdConfigPatches", "containerdConfigPatchesJSON6902",
)
KIND_NETWORKING_ORDER = (
    "ipFamily", "apiServerAddress", "apiServerPort", "podSubnet", "serviceSubnet",
    "disableDefaultCNI", "kubeProxyMode", "dnsSearch",
)
KIND_NODE_ORDER = (
    "role", "image", "labels", "extraMounts", "extraPortMappings",
    "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902",
)
FILES = ("kind/cluster.yaml", "workloads.yaml")  # and the CNI plugin's own


# --- YAML -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings as literal blocks (`|-`) the way people write them."""


def _str(dumper: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
    if "\n" in s:
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    return dumper.represent_str(s)


_Dumper.add_representer(str, _str)


def to_yaml(data: Any) -> str:
    """yaml.safe_dump(data, sort_keys=False), multi-line strings as literal blocks."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def to_yaml_documents(docs: list[Any]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                         explicit_start=True)


def ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """`d` with the keys of `order` first (in that order), then the others as they were."""
    head = {k: d[k] for k in order if k in d}
    return head | {k: v for k, v in d.items() if k not in head}


# --- helm --set -------------------------------------------------------------------------

_HELM_TYPED = re.compile(r"^(true|false|null|0|[-+]?[1-9][0-9]*)$", re.IGNORECASE)


def _helm_key(key: str) -> str:
    return key.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[")


def _helm_scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return str(v).replace("\\", "\\\\").replace(",", "\\,")


def helm_set_flags(values: dict[str, Any]) -> list[str]:
    """Helm values -> ["--set a.b=c", ...] in the seeds' style, one flag per leaf.

    Dots in keys are escaped (`a\\.b`), lists of scalars become `{x,y}`, lists of maps
    `a[0].b=c`; a string helm would read as a bool, null or integer is passed with
    `--set-string` so it stays a string. Values are not shell-quoted.
    """
    flags: list[str] = []

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            if not v:
                flags.append(f"--set-json {prefix}={{}}")
            for k, sub in v.items():
                walk(f"{prefix}.{_helm_key(k)}" if prefix else _helm_key(k), sub)
        elif isinstance(v, list):
            if v and all(isinstance(x, (dict, list)) for x in v):
                for i, sub in enumerate(v):
                    walk(f"{prefix}[{i}]", sub)
            else:
                flags.append(f"--set {prefix}={{{','.join(_helm_scalar(x) for x in v)}}}")
        elif isinstance(v, str) and _HELM_TYPED.match(v):
            flags.append(f"--set-string {prefix}={_helm_scalar(v)}")
        else:
            flags.append(f"--set {prefix}={_helm_scalar(v)}")

    walk("", values)
    return flags


# --- templates --------------------------------------------------------------------------


def _defined(value: Any) -> Any:
    """Filters see an Undefined as a value: make it raise as StrictUndefined does."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming the variable
        raise jinja2.UndefinedError("undefined value given to a filter")
    return value


def environment() -> jinja2.Environment:
    # In templates the YAML filters drop the final newline: `{{ x | to_yaml }}` on its own line.
    return templating.environment(
        to_yaml=lambda d: to_yaml(_defined(d)).rstrip("\n"),
        to_yaml_documents=lambda docs: to_yaml_documents(_defined(docs)).rstrip("\n"),
        shquote=lambda v: shlex.quote(str(_defined(v))),
    )


def render_template(name: str, **context: Any) -> str:
    """Render templates/<name> (StrictUndefined: a missing variable raises)."""
    return environment().get_template(name).render(**context)


def kind_cluster(lab: Lab) -> dict[str, Any]:
    """The declaration's kind block as the user wrote it, in kind's key order."""
    cluster = lab.decl.kind.model_dump(mode="json", exclude_unset=True)
    if "networking" in cluster:
        cluster["networking"] = ordered(cluster["networking"], KIND_NETWORKING_ORDER)
    if "nodes" in cluster:
        cluster["nodes"] = [ordered(n, KIND_NODE_ORDER) for n in cluster["nodes"]]
    return ordered(cluster, KIND_CLUSTER_ORDER)


def workloads(lab: Lab) -> list[dict[str, Any]]:
    """The declared manifests, as written."""
    return [w.model_dump(mode="json", exclude_unset=True) for w in lab.decl.workloads]


def render_lab(lab: Lab) -> dict[str, str]:
    """{"kind/cluster.yaml", "workloads.yaml", and the CNI plugin's files} -> text."""
    common = {"lab": lab, "cluster_name": lab.name, "node_image": lab.decl.nodeImage}
    return {
        "kind/cluster.yaml": render_template("kind/cluster.yaml.j2", cluster=kind_cluster(lab), **common),
        **lab.plugin.render(lab),
        "workloads.yaml": render_template("kind/workloads.yaml.j2", manifests=workloads(lab), **common),
    }


def write_rendered(lab: Lab, out_dir: Path) -> list[Path]:
    """Write render_lab(lab) under out_dir (install.sh executable); the paths written."""
    out_dir = Path(out_dir)
    written = []
    for name, text in render_lab(lab).items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
        written.append(path)
    return written
