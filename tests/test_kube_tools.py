"""`cnilab up|down --kind`: the refusal without kind/helm/kubectl, and the command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnilab import cli
from cnilab.kube import tools
from cnilab.model import load_lab
from cnilab.render import write_rendered


def test_refusal_names_every_missing_tool(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: none of the three
    assert tools.missing_tools() == ["kind", "helm", "kubectl"]
    assert cli.main(["up", "--kind", "cilium_vxlan"]) == 2
    assert capsys.readouterr().err == (
        "cnilab up --kind: kind, helm, kubectl not found: install them to make a real kind cluster\n")
    assert cli.main(["down", "--kind", "cilium_vxlan"]) == 2
    assert capsys.readouterr().err == "cnilab down --kind: kind not found: install them to delete a real kind cluster\n"


def test_refusal_on_this_machine(capsys):
    missing = tools.missing_tools()
    if not missing:
        pytest.skip("kind, helm and kubectl are all on PATH here: `cnilab up --kind` would build a cluster")
    assert cli.main(["up", "--kind", "cilium_vxlan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"cnilab up --kind: {', '.join(missing)} not found")


def test_only_present_tools_pass(tmp_path):
    for t in ("kind", "kubectl"):
        (tmp_path / t).write_text("#!/bin/sh\n")
        (tmp_path / t).chmod(0o755)
    assert tools.missing_tools(path=str(tmp_path)) == ["helm"]


def test_without_kind_up_and_down_stay_pyinfra(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "_pyinfra", lambda lab, deploy, backend: seen.append((lab, deploy, backend)) or 0)
    monkeypatch.setattr(cli, "_kind", lambda verb, a: pytest.fail("--kind not given"))
    assert cli.main(["up", "cilium_vxlan", "--backend", "netns"]) == 0
    assert seen == [("cilium_vxlan", "up.py", "netns")]


def test_up_argvs_from_the_rendered_files(tmp_path):
    lab = load_lab("cilium_vxlan")
    files = tools.rendered_files(write_rendered(lab, tmp_path), tmp_path)
    assert set(files) >= {"kind/cluster.yaml", "cilium/values.yaml", "workloads.yaml"}
    name = "cilium-kubeproxy-replacement-ebpf-vxlan"
    ctx = f"kind-{name}"
    assert tools.up_argvs(lab, files, control_plane_ip="172.18.0.4") == [
        ["kind", "create", "cluster", "--name", name, "--config", str(tmp_path / "kind/cluster.yaml"),
         "--image", "kindest/node:v1.23.4"],
        ["helm", "repo", "add", "cilium", "https://helm.cilium.io", "--force-update"],
        ["helm", "repo", "update", "cilium"],
        ["helm", "install", "cilium", "cilium/cilium", "--version", "1.13.0-rc5", "-f",
         str(tmp_path / "cilium/values.yaml"), "-n", "kube-system", "--kube-context", ctx,
         "--set", "k8sServiceHost=172.18.0.4"],
        ["kubectl", "--context", ctx, "apply", "-f", str(tmp_path / "workloads.yaml")],
    ]
    assert "--set" not in tools.up_argvs(lab, files)[3]
    assert tools.control_plane_ip_argv(lab)[:5] == ["kubectl", "--context", ctx, "get", "node"]
    assert tools.down_argvs(lab) == [["kind", "delete", "cluster", "--name", name]]
    for argv in tools.up_argvs(lab, files):
        for word in argv:
            if word.startswith(str(tmp_path)):
                assert Path(word).is_file()
