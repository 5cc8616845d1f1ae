"""The thin `cnilab` CLI: validation touches nothing, and arguments reach the right place."""

from __future__ import annotations

import shutil

import pytest

from cnilab import cli
from cnilab.model import REPO_ROOT


def test_validate_accepts_every_shipped_declaration(capsys):
    files = sorted(str(p) for p in (REPO_ROOT / "inventories").glob("*.yaml"))
    assert cli.main(["validate", *files]) == 0
    out = capsys.readouterr().out
    assert "cilium_vxlan.yaml: OK (cilium-kubeproxy-replacement-ebpf-vxlan: 3 nodes, 3 pods, 1 services)" in out


def test_validate_rejects_with_one_line_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO_ROOT / "inventories/cilium_vxlan.yaml").read_text().replace("tunnel", "tunel").replace(
        "kubeProxyReplacement: strict", "kubeProxyReplacement: strickt"))
    assert cli.main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cni.values.kubeProxyReplacement" in err and "strickt" in err


def test_status_of_a_lab_that_is_not_running(tmp_path, capsys):
    decl = tmp_path / "nowhere.yaml"
    decl.write_text((REPO_ROOT / "inventories/cilium_vxlan.yaml").read_text().replace(
        "name: cilium-kubeproxy-replacement-ebpf-vxlan\n  networking", "name: cnilab-t-nowhere\n  networking"))
    assert cli.main(["status", str(decl)]) == 1
    assert "is not running: bring it up with" in capsys.readouterr().err


def test_exec_takes_the_pod_option_and_the_command(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "cmd_exec", lambda a: seen.update(vars(a)) or 0)
    assert cli.main(["exec", "cilium_vxlan", "worker2", "-p", "net", "--", "ip", "-4", "r"]) == 0
    assert (seen["node"], seen["pod"], seen["command"]) == ("worker2", "net", ["ip", "-4", "r"])


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_render_writes_the_kind_spec_and_values(tmp_path):
    assert cli.main(["render", "cilium_vxlan", "-o", str(tmp_path)]) == 0
    assert "kubeProxyMode: none" in (tmp_path / "kind/cluster.yaml").read_text()
    assert "k8sServiceHost: 172.18.0.2" in (tmp_path / "cilium/values.yaml").read_text()


def test_doctor_prints_seed_004s_table_for_this_kernel(capsys):
    # Probed, not read from the version: this kernel (6.18) has no WireGuard and no fq qdisc,
    # though any version number would say it has both.
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Cilium Feature ") and "| Minimum Kernel Version |" in out[0]
    rows = {line.split("|")[0].strip(): line.split("|")[2].strip() for line in out[1:]}
    assert len(rows) == 11
    assert rows["WireGuard Transparent Encryption"].startswith("no: ip link add type wireguard")
    assert rows["BPF-based host routing"] == "yes"
