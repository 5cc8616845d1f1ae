"""The lab declaration: the seed loads; every broken declaration fails with one clear line.

tests/model/broken/*.yaml are the seed declaration (inventories/cilium_vxlan.yaml) with
one thing wrong each; the first line of each says what the message must contain:
``# expect: <substring>``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cnilab.model import (
    REPO_ROOT,
    DeclarationError,
    load_declaration,
    load_lab,
    parse_declaration,
    resolve_declaration,
)

SEED = REPO_ROOT / "inventories" / "cilium_vxlan.yaml"
BROKEN = sorted((Path(__file__).resolve().parent / "broken").glob("*.yaml"))
EXPECT = "# expect: "


def seed_data() -> dict:
    return yaml.safe_load(SEED.read_text())


# --- the seed ----------------------------------------------------------------------------


def test_seed_loads():
    decl = load_declaration(SEED)
    assert decl.kind.name == "cilium-kubeproxy-replacement-ebpf-vxlan"
    assert [n.role for n in decl.kind.nodes] == ["control-plane", "worker", "worker"]
    assert decl.kind.networking.disableDefaultCNI is True
    assert decl.kind.networking.kubeProxyMode == "none"
    values = decl.cni.values
    assert decl.cni.plugin == "cilium"
    assert decl.cni.version == "1.13.0-rc5"
    assert values.tunnel == "vxlan"
    assert values.kubeProxyReplacement == "strict"
    assert values.bpf.masquerade is True
    assert values.ipam.mode == "cluster-pool"
    assert values.cluster.name == "cilium-kubeproxy-replacement-ebpf-vxlan"
    assert [w.kind for w in decl.workloads] == ["DaemonSet", "Service", "Pod"]
    assert decl.backend == "docker"


def test_seed_defaults():
    decl = load_declaration(SEED)
    assert decl.underlay == "172.18.0.0/16"
    assert decl.kind.networking.serviceSubnet == "10.96.0.0/16"
    assert decl.cni.values.ipam.operator.clusterPoolIPv4PodCIDRList == ["10.0.0.0/8"]
    assert decl.cni.values.ipam.operator.clusterPoolIPv4MaskSize == 24


def test_verbatim_blocks_keep_their_unknown_keys():
    # kind / Helm / Kubernetes blocks are copied as written, for rendering.
    decl = load_declaration(SEED)
    assert decl.kind.model_extra["containerdConfigPatches"][0].startswith("[plugins.")
    assert decl.cni.values.model_extra["debug"] == {"enabled": True, "verbose": "datapath"}
    container = decl.workloads[0].spec.template.spec.containers[0]
    assert container.model_extra["securityContext"] == {"privileged": True}


def test_parse_equals_load():
    assert parse_declaration(seed_data()) == load_declaration(SEED)


def test_declaration_is_frozen():
    decl = load_declaration(SEED)
    with pytest.raises(ValidationError):
        decl.backend = "netns"


@pytest.mark.parametrize("name", ["cilium_vxlan", "inventories/cilium_vxlan.yaml", "inventories/cilium_vxlan.py"])
def test_resolve_declaration(name, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    assert resolve_declaration(name).resolve() == SEED


def test_unknown_lab_name_lists_the_known_ones():
    with pytest.raises(DeclarationError, match=r"no lab declaration named 'nope' \(known: .*cilium_vxlan"):
        resolve_declaration("nope")


def test_missing_file(tmp_path):
    with pytest.raises(DeclarationError, match="no such declaration"):
        load_lab(tmp_path / "absent.yaml")
    with pytest.raises(DeclarationError, match="cannot read the declaration"):
        load_declaration(tmp_path / "absent.yaml")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(DeclarationError, match="must be a mapping"):
        load_lab(path)


def test_native_routing_is_accepted():
    data = seed_data()
    data["cni"]["values"].update(tunnel="disabled", autoDirectNodeRoutes=True, ipv4NativeRoutingCIDR="10.0.0.0/8")
    decl = parse_declaration(data)
    assert decl.cni.values.tunnel == "disabled"


def test_a_chosen_cluster_ip_is_kept():
    data = seed_data()
    data["workloads"][1]["spec"]["clusterIP"] = "10.96.158.92"  # the seed's `kubectl get svc`
    lab = load_lab_from(data)
    assert str(lab.services[0].cluster_ip) == "10.96.158.92"


def load_lab_from(data: dict):
    from cnilab.model import build_lab

    return build_lab(parse_declaration(copy.deepcopy(data)), "test")


# --- the broken corpus -------------------------------------------------------------------


def test_broken_corpus_is_large_enough():
    assert len(BROKEN) >= 20
    for path in BROKEN:
        first = path.read_text().splitlines()[0]
        assert first.startswith(EXPECT) and first[len(EXPECT):].strip(), f"{path.name}: first line must be '# expect: ...'"


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_declaration(path: Path):
    expected = path.read_text().splitlines()[0][len(EXPECT):].strip()
    with pytest.raises(DeclarationError) as info:
        load_lab(path)
    message = str(info.value)
    assert expected in message, f"{path.name}: {message!r} does not contain {expected!r}"
    # One thing wrong, one error: nothing else is flagged besides.
    assert info.value.errors == [message], info.value.errors
    assert "\n" not in message, f"{path.name}: the message is not one line: {message!r}"
    assert "Traceback" not in message and 'File "' not in message
    assert "errors.pydantic.dev" not in message and "validation error" not in message
    # It says which declaration is wrong.
    assert message.startswith((str(path), path.stem)), message
    # Raised `from None`: nothing chained for a traceback to print.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
