"""cnilab.render against seed 000's real inputs (tests/fixtures/seed000, copied from the article)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import jinja2
import pytest
import yaml

from cnilab import templating
from cnilab.model import load_lab, resolve_declaration
from cnilab.render import FILES, environment, helm_set_flags, render_lab, render_template, write_rendered

SEED = Path(__file__).parent / "fixtures" / "seed000"
LAB = "cilium_vxlan"
# The seed's `cilium status` on the control-plane: "KubeProxyReplacement: Strict [eth0 172.18.0.2]".
SEED_CONTROLLER_NODE_IP = "172.18.0.2"


@pytest.fixture(scope="module")
def lab():
    return load_lab(LAB)


@pytest.fixture(scope="module")
def rendered(lab):
    return render_lab(lab)


@pytest.fixture(scope="module")
def declared():
    """The declaration file as the user wrote it, read without the model."""
    return yaml.safe_load(resolve_declaration(LAB).read_text())


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out |= flatten(v, key)
        else:
            out[key] = v
    return out


def command_args(text: str, *prefix: str) -> list[str]:
    """The argv of the first command starting with `prefix` in a shell text (continuations joined)."""
    joined = text.replace("\\\n", " ")
    n = len(prefix)
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        for i in range(len(words)):  # also after a pipe: cat <<EOF | kind create cluster ...
            if words[i : i + n] == list(prefix) and (i == 0 or words[i - 1] == "|"):
                return words[i:]
    raise AssertionError(f"no `{' '.join(prefix)}` command in:\n{text}")


def helm_typed(v: str) -> object:
    """What helm's --set makes of a value (strvals): bools, null and integers are typed."""
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if v.lower() == "null":
        return None
    if re.fullmatch(r"0|[-+]?[1-9][0-9]*", v):
        return int(v)
    return v


def parse_set_flags(argv: list[str]) -> dict:
    """`--set a.b=c` (and `--set-string`) flags of an argv -> the nested values dict helm builds."""
    values: dict = {}
    it = iter(argv)
    for word in it:
        if word in ("--set", "--set-string"):
            assignment = next(it)
        elif word.startswith(("--set=", "--set-string=")):
            word, assignment = word.split("=", 1)
        else:
            continue
        key, value = assignment.split("=", 1)
        *parents, leaf = key.split(".")
        node = values
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value if word == "--set-string" else helm_typed(value)
    return values


# --- kind ---------------------------------------------------------------------------------


def test_kind_config_equals_the_seeds_field_by_field(lab, rendered):
    seed = yaml.safe_load((SEED / "kind-config.yaml").read_text())
    ours = yaml.safe_load(rendered["kind/cluster.yaml"])
    for key, value in seed.items():
        assert key in ours, f"kind/cluster.yaml lacks {key!r}"
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                assert ours[key].get(sub) == subvalue, f"{key}.{sub}: seed {subvalue!r}, ours {ours[key].get(sub)!r}"
            assert set(ours[key]) == set(value), f"{key}: seed keys {sorted(value)}, ours {sorted(ours[key])}"
        else:
            assert ours[key] == value, f"{key}: seed {value!r}, ours {ours[key]!r}"
    assert set(ours) - set(seed) == {"name"}
    assert ours["name"] == lab.name == "cilium-kubeproxy-replacement-ebpf-vxlan"
    # The ones that matter most, spelt out.
    assert ours["networking"] == {"disableDefaultCNI": True, "kubeProxyMode": "none"}
    assert [n["role"] for n in ours["nodes"]] == ["control-plane", "worker", "worker"]
    assert ours["containerdConfigPatches"] == [
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."harbor.evescn.com"]\n'
        '  endpoint = ["https://harbor.evescn.com"]'
    ]


def test_kind_config_is_the_declared_block_in_kinds_order(rendered, declared):
    ours = yaml.safe_load(rendered["kind/cluster.yaml"])
    assert ours == declared["kind"]
    assert list(ours) == ["kind", "apiVersion", "name", "networking", "nodes", "containerdConfigPatches"]
    seed = yaml.safe_load((SEED / "kind-config.yaml").read_text())
    assert [k for k in ours if k != "name"] == list(seed)


def test_kind_create_uses_the_seeds_image_and_the_declared_name(lab, rendered):
    seed = command_args((SEED / "kind-create-cluster.txt").read_text(), "kind", "create")
    ours = command_args(rendered["install.sh"], "kind", "create")
    assert ours[:3] == seed[:3] == ["kind", "create", "cluster"]
    flags = lambda argv: dict(w.split("=", 1) for w in argv[3:])  # noqa: E731
    assert flags(ours)["--image"] == flags(seed)["--image"] == lab.decl.nodeImage == "kindest/node:v1.23.4"
    # The seed's script says --name=cilium-kubeproxy-replacement, its output (and
    # cluster.name) -ebpf-vxlan; the declaration follows the output (fixtures README).
    assert flags(seed)["--name"] == "cilium-kubeproxy-replacement"
    assert flags(ours)["--name"] == lab.name == "cilium-kubeproxy-replacement-ebpf-vxlan"
    assert flags(ours)["--config"] == "$here/kind/cluster.yaml"


# --- cilium values ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_helm():
    return command_args((SEED / "helm-install.txt").read_text(), "helm", "install")


@pytest.fixture(scope="module")
def seed_values(seed_helm):
    values = parse_set_flags(seed_helm)
    assert values["k8sServiceHost"] == "$controller_node_ip"
    values["k8sServiceHost"] = SEED_CONTROLLER_NODE_IP
    return values


def test_control_plane_ip_is_the_seeds(lab):
    assert lab.control_plane.role == "control-plane"
    assert lab.control_plane.ip == IPv4Address(SEED_CONTROLLER_NODE_IP)


def test_values_equal_the_seeds_set_flags_field_by_field(lab, rendered, seed_values):
    ours = yaml.safe_load(rendered["cilium/values.yaml"])
    seed_flat, ours_flat = flatten(seed_values), flatten(ours)
    assert len(seed_flat) == 9
    for key, value in seed_flat.items():
        assert key in ours_flat, f"values.yaml lacks {key}"
        assert ours_flat[key] == value, f"{key}: seed {value!r}, ours {ours_flat[key]!r}"
    assert set(ours_flat) == set(seed_flat), f"extra keys: {sorted(set(ours_flat) - set(seed_flat))}"
    assert ours["k8sServiceHost"] == str(lab.control_plane.ip)
    assert ours == seed_values


def test_values_hold_what_the_declaration_says(rendered, declared):
    ours = yaml.safe_load(rendered["cilium/values.yaml"])
    assert {k: v for k, v in ours.items() if k != "k8sServiceHost"} == declared["cni"]["values"]


def test_helm_set_flags_of_the_values_are_the_seeds(rendered, seed_helm, seed_values):
    flags = helm_set_flags(yaml.safe_load(rendered["cilium/values.yaml"]))
    assert all(f.startswith("--set ") for f in flags), flags
    argv = [w for f in flags for w in f.split(" ", 1)]
    assert parse_set_flags(argv) == seed_values
    seed_flags = [
        f"--set {a}".replace("$controller_node_ip", SEED_CONTROLLER_NODE_IP)
        for w, a in zip(seed_helm, seed_helm[1:])
        if w == "--set"
    ]
    assert sorted(flags) == sorted(seed_flags)
    assert flags == seed_flags  # and in the seed's order


def test_install_script_helm_command_matches_the_seeds(lab, rendered, seed_helm):
    ours = command_args(rendered["install.sh"], "helm", "install")
    assert ours[:4] == seed_helm[:4] == ["helm", "install", "cilium", "cilium/cilium"]
    opt = lambda argv, name: argv[argv.index(name) + 1]  # noqa: E731
    assert opt(ours, "--version") == opt(seed_helm, "--version") == lab.decl.cni.version == "1.13.0-rc5"
    assert opt(ours, "--namespace") == opt(seed_helm, "--namespace") == "kube-system"
    assert opt(ours, "-f") == "$here/cilium/values.yaml"
    # The API server is read at run time, as the seed does.
    assert "k8sServiceHost=$controller_node_ip" in ours
    assert "helm repo add cilium https://helm.cilium.io" in rendered["install.sh"]


def test_helm_set_flags_escapes_and_types():
    assert helm_set_flags({"a": {"b.c": "x,y"}, "l": ["1", 2], "m": [{"k": True}], "s": "true", "n": None}) == [
        "--set a.b\\.c=x\\,y",
        "--set l={1,2}",
        "--set m[0].k=true",
        "--set-string s=true",
        "--set n=null",
    ]


# --- workloads ----------------------------------------------------------------------------


def test_workloads_round_trip_to_the_declared_manifests(lab, rendered, declared):
    docs = [d for d in yaml.safe_load_all(rendered["workloads.yaml"]) if d is not None]
    assert docs == declared["workloads"]
    assert docs == [w.model_dump(mode="json", exclude_unset=True) for w in lab.decl.workloads]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert set(by_kind) == {("DaemonSet", "evescn"), ("Service", "serversvc"), ("Pod", "net")}

    ds = by_kind["DaemonSet", "evescn"]
    assert ds["apiVersion"] == "apps/v1"
    assert ds["spec"]["selector"]["matchLabels"] == {"app": "evescn"}
    [container] = ds["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "nettoolbox"
    assert container["image"] == "harbor.dayuan1997.com/devops/nettool:0.9"
    assert container["securityContext"] == {"privileged": True}

    svc = by_kind["Service", "serversvc"]
    assert svc["spec"]["type"] == "NodePort"
    assert svc["spec"]["selector"] == {"app": "evescn"}
    assert svc["spec"]["ports"] == [{"name": "cni", "port": 8080, "targetPort": 80, "nodePort": 32000}]

    pod = by_kind["Pod", "net"]
    assert pod["spec"]["containers"][0]["image"] == "harbor.dayuan1997.com/devops/nettool:0.9"


def test_install_script_applies_the_workloads(rendered):
    assert command_args(rendered["install.sh"], "kubectl", "apply") == [
        "kubectl", "apply", "-f", "$here/workloads.yaml", "--context", "$context"
    ]
    applies = [line for line in rendered["install.sh"].splitlines() if line.startswith("kubectl apply")]
    assert applies == ['kubectl apply -f "$here/workloads.yaml" --context "$context"']


# --- templates ----------------------------------------------------------------------------


def test_templates_are_strict():
    assert environment().undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError, match="cilium_version"):
        render_template("cilium/values.yaml.j2")
    with pytest.raises(jinja2.UndefinedError):
        render_template("kind/cluster.yaml.j2", lab=object(), cluster_name="x", node_image="y", cluster={})


@pytest.mark.parametrize("name", ["kind/cluster.yaml.j2", "cilium/values.yaml.j2", "cilium/install.sh.j2", "kind/workloads.yaml.j2"])
def test_every_template_fails_on_a_missing_variable(lab, name, monkeypatch):
    from cnilab import render

    real = render.render_template
    captured = {}

    def spy(template, **context):
        captured[template] = context
        return real(template, **context)

    monkeypatch.setattr(render, "render_template", spy)
    render.render_lab(lab)
    context = captured[name]
    source = (templating.TEMPLATES / name).read_text()
    used = [v for v in context if re.search(rf"\b{v}\b", source)]
    assert used, f"{name} uses none of {sorted(context)}"
    for missing in used:
        partial = {k: v for k, v in context.items() if k != missing}
        with pytest.raises(jinja2.UndefinedError, match=missing):
            real(name, **partial)


def test_write_rendered(lab, rendered, tmp_path):
    paths = write_rendered(lab, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["kind/cluster.yaml", "cilium/values.yaml", "install.sh", "workloads.yaml"]
    for p in paths:
        assert p.read_text() == rendered[p.relative_to(tmp_path).as_posix()]
    assert os.access(tmp_path / "install.sh", os.X_OK)


def test_install_script_passes_bash_n(lab, tmp_path):
    write_rendered(lab, tmp_path)
    r = subprocess.run(["bash", "-n", str(tmp_path / "install.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_install_script_runs_kind_helm_kubectl_in_order(lab, tmp_path):
    """Run install.sh with stand-ins for kind, helm and kubectl that log their argv and
    check that the files they are given exist."""
    out = tmp_path / "out"
    write_rendered(lab, out)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    stub = f"""#!/usr/bin/env bash
echo "$(basename "$0") $*" >> {shlex.quote(str(log))}
prev=
for a in "$@"; do
    case "$prev" in -f) [ -f "$a" ] || {{ echo "missing $a" >&2; exit 3; }};; esac
    case "$a" in --config=*) [ -f "${{a#--config=}}" ] || {{ echo "missing $a" >&2; exit 3; }};; esac
    prev=$a
done
if [ "$(basename "$0")" = kubectl ] && [ "$3" = get ]; then echo {SEED_CONTROLLER_NODE_IP}; fi
"""
    for tool in ("kind", "helm", "kubectl"):
        (bin_dir / tool).write_text(stub)
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    r = subprocess.run(["bash", str(out / "install.sh")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no "the control-plane is ..., the lab model says ..." note
    calls = log.read_text().splitlines()
    d = str(out)
    assert calls == [
        f"kind create cluster --name={lab.name} --image=kindest/node:v1.23.4 --config={d}/kind/cluster.yaml",
        f"kubectl --context kind-{lab.name} get node {lab.control_plane.name} "
        "-o jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
        "helm repo add cilium https://helm.cilium.io",
        "helm repo update cilium",
        f"helm install cilium cilium/cilium --version 1.13.0-rc5 --namespace kube-system -f {d}/cilium/values.yaml "
        f"--set k8sServiceHost=172.18.0.2 --kube-context kind-{lab.name}",
        f"kubectl apply -f {d}/workloads.yaml --context kind-{lab.name}",
    ]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_install_script_passes_shellcheck(lab, tmp_path):
    write_rendered(lab, tmp_path)
    r = subprocess.run(["shellcheck", str(tmp_path / "install.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
