"""`up` refuses every broken declaration of the corpus (tests/model/broken) the way
`cnilab validate` does, in one line naming the field, before anything is made: the
machine's namespaces, links, containers, networks and lab state are the same afterwards."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnilab.drive import INVENTORY_PY, command_output as _out
from cnilab.model import REPO_ROOT

BROKEN = sorted((Path(__file__).parent / "model" / "broken").glob("*.yaml"))
EXPECT = "# expect:"
# One of each family goes through pyinfra itself (each start costs seconds); all go through `cnilab up`.
THROUGH_PYINFRA = ["yaml_syntax_error", "unknown_top_level_key", "unknown_tunnel_mode", "cluster_name_shell_injection",
                   "pod_pool_overlaps_underlay", "more_pods_than_node_cidr", "nodeport_too_high"]  # fmt: skip


def machine() -> dict[str, object]:
    """What a lab could have made, anywhere on the machine."""
    return {
        "netns": sorted(_out("ip", "netns", "list").split()),
        "links": sorted(line.split(":")[1].strip() for line in _out("ip", "-o", "link", "show").splitlines()),
        "containers": sorted(_out("docker", "ps", "-a", "--format", "{{.Names}}").split()),
        "networks": sorted(_out("docker", "network", "ls", "--format", "{{.Name}}").split()),
        "state": sorted(p.name for p in Path("/run/cnilab").iterdir()) if Path("/run/cnilab").is_dir() else [],
    }


@pytest.fixture(scope="module")
def untouched():
    before = machine()
    yield
    assert machine() == before, "a refused declaration changed the machine"


def _expected(path: Path) -> str:
    return path.read_text().splitlines()[0][len(EXPECT):].strip()


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_cnilab_up_refuses(untouched, tmp_path, path):
    decl = tmp_path / path.name
    shutil.copy(path, decl)
    p = subprocess.run([sys.executable, "-m", "cnilab.cli", "up", str(decl)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and _expected(path) in lines[0], p.stderr
    assert p.stdout == ""


@pytest.mark.parametrize("stem", THROUGH_PYINFRA)
def test_pyinfra_up_refuses(untouched, tmp_path, stem):
    path = Path(__file__).parent / "model" / "broken" / f"{stem}.yaml"
    shutil.copy(path, tmp_path / "lab.yaml")
    (tmp_path / "lab.py").write_text(INVENTORY_PY)
    p = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(tmp_path / "lab.py"), str(REPO_ROOT / "deploys" / "up.py")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert p.returncode != 0
    said = [line for line in (p.stdout + p.stderr).splitlines() if _expected(path) in line]
    assert len(said) == 1, p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr
