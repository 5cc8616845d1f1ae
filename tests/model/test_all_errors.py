"""All errors at once, one line each; named targetPorts; `cnilab validate --json` and its exit codes."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from cnilab import cli
from cnilab.model import REPO_ROOT, DeclarationError, build_lab, load_lab, parse_declaration
from cnilab.render import render_lab

SEED = REPO_ROOT / "inventories" / "cilium_vxlan.yaml"


def seed() -> dict:
    return yaml.safe_load(SEED.read_text())


def broken_everywhere() -> dict:
    d = seed()
    d["kind"]["networking"]["podSubnett"] = "10.244.0.0/16"  # kind
    d["cni"]["values"]["kubeProxyReplacment"] = d["cni"]["values"].pop("kubeProxyReplacement")  # Helm
    d["cni"]["values"]["bpf"]["masquerade"] = "yes"  # Helm type
    ds, svc, pod = d["workloads"]
    ds["metadata"]["labels"]["-app"] = "x"  # label key
    ds["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "nettoolbox-https", "containerPort": 80}]
    svc["spec"]["ports"][0]["port"] = 70000  # port range
    svc["spec"]["ports"][0]["nodePort"] = 40000  # nodePort range
    pod["spec"]["tolerations"] = [{"operator": "Equal"}]  # toleration
    return d


def test_every_error_at_once_one_line_each():
    with pytest.raises(DeclarationError) as info:
        parse_declaration(broken_everywhere(), "lab.yaml")
    errors = info.value.errors
    paths = [p for p, _ in info.value.problems]
    assert sorted(paths) == sorted([
        "kind.networking.podSubnett",
        "cni.values.kubeProxyReplacment",
        "cni.values.bpf.masquerade",
        "workloads[0].metadata.labels",
        "workloads[0].spec.template.spec.containers[0].ports[0].name",
        "workloads[1].spec.ports[0].port",
        "workloads[1].spec.ports[0].nodePort",
        "workloads[2].spec.tolerations[0].operator",
    ]), errors
    assert all(e.startswith("lab.yaml: ") and "\n" not in e for e in errors)
    assert str(info.value) == "\n".join(errors)
    assert any(e.endswith('(did you mean "kubeProxyReplacement"?)') for e in errors)
    assert any(e.endswith('Invalid value: "nettoolbox-https": must be no more than 15 characters') for e in errors)


def test_a_named_target_port_resolves_to_the_pods_port_and_renders_as_written():
    d = seed()
    d["workloads"][0]["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "web", "containerPort": 80}]
    d["workloads"][1]["spec"]["ports"][0]["targetPort"] = "web"
    lab = build_lab(parse_declaration(copy.deepcopy(d)), "test")
    assert lab.services[0].ports[0].target_port == 80
    manifests = list(yaml.safe_load_all(render_lab(lab)["workloads.yaml"]))
    svc = next(m for m in manifests if m and m["kind"] == "Service")
    assert svc["spec"]["ports"][0]["targetPort"] == "web"


def test_a_declared_namespace_may_hold_workloads():
    d = seed()
    d["workloads"].insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}})
    d["workloads"][3]["metadata"]["namespace"] = "web"
    lab = build_lab(parse_declaration(d), "test")
    assert [p.namespace for p in lab.pods if p.name == "net"] == ["web"]


def test_every_shipped_declaration_is_valid():
    for path in sorted((REPO_ROOT / "inventories").glob("*.yaml")):
        load_lab(path)


# --- cnilab validate ---------------------------------------------------------------------


def test_validate_prints_every_error_and_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken_everywhere()))
    assert cli.main(["validate", str(bad)]) == cli.INVALID == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 8 and all(line.startswith(f"{bad}: ") for line in lines)


def test_validate_json(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(broken_everywhere()))
    assert cli.main(["validate", "--json", str(SEED), str(bad)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["exit"] == 1
    good, wrong = out["declarations"]
    assert good["valid"] and good["lab"]["nodes"] == 3 and good["errors"] == []
    assert not wrong["valid"] and wrong["readable"] and len(wrong["errors"]) == 8
    first = wrong["errors"][0]
    assert first["path"] == "kind.networking.podSubnett"
    assert first["message"] == 'unknown field "podSubnett" (did you mean "podSubnet"?)'
    assert first["line"] == f"{bad}: {first['path']}: {first['message']}"


def test_validate_cannot_read_exits_2(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "absent.yaml")]) == cli.UNREADABLE == 2
    assert "no such declaration" in capsys.readouterr().err
    (tmp_path / "dir.yaml").mkdir()
    assert cli.main(["validate", "--json", str(tmp_path / "dir.yaml"), str(SEED)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["declarations"][0]["readable"] is False and out["declarations"][1]["valid"] is True


def test_validate_of_yaml_that_does_not_parse_is_invalid(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    assert cli.main(["validate", str(bad)]) == 1
    assert "not valid YAML" in capsys.readouterr().err
