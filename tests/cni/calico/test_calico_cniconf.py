"""10-calico.conflist against the seed and calico.md §5."""

import json
from pathlib import Path

import pytest

from cnilab.cni.calico.cniconf import render_conflist

FIX = Path(__file__).parent / "fixtures"


def _squash(text: str) -> list[str]:
    # The seed's scrape dropped indentation and collapsed space runs; compare what survived.
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_matches_seed_text():
    rendered = render_conflist("controlplane", 1440)
    assert _squash(rendered) == _squash((FIX / "seed003_conflist.txt").read_text())


def test_byte_for_byte_with_manifest_layout():
    rendered = render_conflist("controlplane", 1440)
    # install-cni writes the |- ConfigMap value verbatim: no trailing newline.
    assert rendered == (FIX / "calico_md_conflist.json").read_text().rstrip("\n")
    assert '      "capabilities": {"portMappings": true}\n' in rendered


def test_substitutions_and_validation():
    doc = json.loads(render_conflist("node01", 0, kubeconfig="/x/kc"))
    assert doc["plugins"][0]["nodename"] == "node01"
    assert doc["plugins"][0]["mtu"] == 0
    assert doc["plugins"][0]["kubernetes"]["kubeconfig"] == "/x/kc"
    assert [p["type"] for p in doc["plugins"]] == ["calico", "portmap", "bandwidth"]
    with pytest.raises(ValueError):
        render_conflist('bad"name', 1440)
    with pytest.raises(ValueError):
        render_conflist("node01", -1)
