"""The offline node image: recipe hash/tag, clear errors, and the built image's tools.

The Docker tests build the image once when the engine lacks it (about a minute,
cached afterwards) and are skipped, with the reason, only when no daemon answers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cnilab import image
from cnilab.image import NodeImageError, ensure_node_image, image_exists, node_image_tag

RECIPE = Path(__file__).resolve().parent.parent / "images" / "node"


# --------------------------------------------------------------------------- recipe and tag


@pytest.fixture
def recipe_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "node"
    shutil.copytree(RECIPE, dst, symlinks=True)
    return dst


def test_tag_is_stable_and_well_formed():
    tag = node_image_tag()
    assert re.fullmatch(r"cnilab/node:[0-9a-f]{12}", tag)
    assert node_image_tag() == tag == node_image_tag(RECIPE)
    assert tag.split(":")[1] == image.recipe_hash(RECIPE)[:12]


def test_tag_does_not_depend_on_where_the_recipe_lives(recipe_copy):
    assert node_image_tag(recipe_copy) == node_image_tag(RECIPE)


def test_tag_changes_when_the_recipe_changes(recipe_copy):
    base = node_image_tag(recipe_copy)
    packages = recipe_copy / "packages.txt"
    original = packages.read_text()

    packages.write_text(original + "ethtool\n")
    changed = node_image_tag(recipe_copy)
    assert changed != base

    packages.write_text(original)
    assert node_image_tag(recipe_copy) == base

    overlay = recipe_copy / "rootfs" / "etc" / "cnilab-extra"
    overlay.write_text("x\n")
    assert node_image_tag(recipe_copy) not in (base, changed)
    overlay.unlink()
    assert node_image_tag(recipe_copy) == base

    setup = recipe_copy / "setup.sh"
    setup.chmod(0o644)  # the exec bit is part of the recipe
    assert node_image_tag(recipe_copy) != base
    setup.chmod(0o755)
    assert node_image_tag(recipe_copy) == base


def test_docs_and_editor_junk_do_not_change_the_tag(recipe_copy):
    base = node_image_tag(recipe_copy)
    (recipe_copy / "README.md").write_text("notes\n")
    (recipe_copy / "setup.sh~").write_text("backup\n")
    (recipe_copy / ".recipe.toml.swp").write_text("swap\n")
    assert node_image_tag(recipe_copy) == base


def test_recipe_dir_from_environment(recipe_copy, monkeypatch):
    (recipe_copy / "packages.txt").write_text("iproute2\n")
    monkeypatch.setenv(image.RECIPE_ENV, str(recipe_copy))
    assert node_image_tag() == node_image_tag(recipe_copy) != node_image_tag(RECIPE)


def test_recipe_parses():
    recipe = image.load_recipe()
    assert recipe["debootstrap"] == {"suite": "bookworm", "variant": "minbase", "components": ["main"]}
    for pkg in ("iproute2", "bpftool", "iputils-ping", "tcpdump", "procps", "python3", "iptables",
                "bird2", "curl", "iperf3", "tini"):
        assert pkg in recipe["packages"]
    assert "kmod" not in recipe["packages"] and "ca-certificates" not in recipe["packages"]
    changes = image._import_changes(recipe, "f" * 64)
    assert 'CMD ["sleep", "infinity"]' in changes
    assert any(c.startswith("ENTRYPOINT") and "tini" in c for c in changes)


def test_missing_recipe_is_one_clear_error(tmp_path):
    with pytest.raises(NodeImageError, match="recipe not found.*CNILAB_NODE_RECIPE"):
        node_image_tag(tmp_path)


def test_bad_package_name_is_rejected(recipe_copy):
    (recipe_copy / "packages.txt").write_text("iproute2; rm -rf /\n")
    with pytest.raises(NodeImageError, match="not a Debian package name"):
        image.load_recipe(recipe_copy)


def test_mirror_override_and_host_default(monkeypatch):
    monkeypatch.setenv(image.MIRROR_ENV, "http://mirror.example/debian")
    assert image.host_debian_mirror() == "http://mirror.example/debian"
    monkeypatch.delenv(image.MIRROR_ENV)
    assert re.match(r"(https?|file):", image.host_debian_mirror())


def test_no_mirror_known_is_one_line(monkeypatch, tmp_path):
    """No mirror is built in: an apt without a bookworm main source names the variable to set."""
    monkeypatch.delenv(image.MIRROR_ENV, raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb file:/srv/other trixie main\n")
    with pytest.raises(image.NodeImageError, match=image.MIRROR_ENV) as e:
        image.host_debian_mirror("bookworm", apt_dir=tmp_path)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- errors


def test_missing_docker_cli_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NodeImageError, match="docker CLI is not installed"):
        image_exists("cnilab/node:000000000000")
    with pytest.raises(NodeImageError, match="docker CLI is not installed"):
        ensure_node_image(log=lambda _: None)


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed")
def test_silent_daemon_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    for call in (lambda: image_exists("cnilab/node:000000000000"), lambda: ensure_node_image(log=lambda _: None)):
        with pytest.raises(NodeImageError, match="Docker daemon does not answer.*start it"):
            call()
    assert image.docker_available() is False


def test_missing_debootstrap_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(image.os, "geteuid", lambda: 0)
    monkeypatch.setattr(image, "_which", lambda tool: None if tool == "debootstrap" else f"/usr/bin/{tool}")
    with pytest.raises(NodeImageError, match=r"debootstrap is not installed: `apt-get install -y debootstrap`"):
        image._preflight()


def test_build_needs_root(monkeypatch):
    monkeypatch.setattr(image.os, "geteuid", lambda: 1000)
    with pytest.raises(NodeImageError, match="needs root"):
        image._preflight()


def test_purge_removes_every_node_tag(monkeypatch):
    calls = []

    def fake_docker(*args, check=True, **kw):
        calls.append(args)
        out = ""
        if args[:2] == ("image", "ls") and "--format" in args:
            out = "cnilab/node:aaaaaaaaaaaa\ncnilab/node:bbbbbbbbbbbb\n"
        elif args[:2] == ("image", "ls"):
            out = "sha256:dangling\n"
        return subprocess.CompletedProcess(args, 0, out, "")

    monkeypatch.setattr(image, "_docker", fake_docker)
    removed = image.purge_node_images(log=lambda _: None)
    assert removed == ["cnilab/node:aaaaaaaaaaaa", "cnilab/node:bbbbbbbbbbbb", "sha256:dangling"]
    assert ("image", "rm", "cnilab/node:aaaaaaaaaaaa") in calls


def test_build_dir_cleanup_never_crosses_mounts(tmp_path, monkeypatch):
    build = tmp_path / "cnilab-node-x"
    (build / "root" / "dev").mkdir(parents=True)
    monkeypatch.setattr(image, "_mounts_under", lambda p: [str(build / "root" / "dev")])
    monkeypatch.setattr(image.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", ""))
    with pytest.raises(NodeImageError, match="still has mounts.*not deleting"):
        image._remove_build_dir(build, log=lambda _: None)
    assert build.exists()


# --------------------------------------------------------------------------- the built image


@pytest.fixture(scope="session")
def node_image() -> str:
    try:
        image.check_docker()
    except NodeImageError as e:
        pytest.skip(f"no Docker daemon answers: {e}")
    return ensure_node_image(log=print)


@pytest.fixture(scope="session")
def priv(node_image) -> list[str]:
    return image.privileged_args(node_image)


def run_in_node(node_image: str, priv: list[str], script: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *priv, node_image, "sh", "-c", script],
        capture_output=True, text=True, timeout=timeout,
    )


def test_ensure_is_instant_when_cached(node_image):
    logged = []
    start = time.monotonic()
    assert ensure_node_image(log=logged.append) == node_image
    assert time.monotonic() - start < 1.0
    assert logged == [] and image_exists(node_image)
    assert not image_exists("cnilab/node:000000000000")


def test_image_config(node_image):
    out = subprocess.run(
        ["docker", "image", "inspect", "--format",
         "{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{index .Config.Labels \"org.cnilab.recipe\"}}|{{.Size}}",
         node_image],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    entrypoint, cmd, recipe, size = out.split("|")
    assert "/usr/bin/tini" in entrypoint and cmd == '["sleep","infinity"]'
    assert recipe == image.recipe_hash()
    assert int(size) < 250e6, f"node image grew to {int(size) / 1e6:.0f} MB"


def test_tools_run_in_the_node(node_image, priv):
    r = run_in_node(node_image, priv, """set -e
        ip -V; tc -V; bpftool version; tcpdump --version; ping -V; python3 --version
        bird --version; birdc --version 2>&1 | head -1; iptables --version; iperf3 --version
        curl --version; ps --version; sysctl --version; ss -V""")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    for expected in ("iproute2-6.", "bpftool v7.", "libbpf", "tcpdump version 4.", "ping from iputils",
                     "Python 3.11", "BIRD version 2.", "iptables v1.8", "iperf 3.", "curl 7.", "procps-ng"):
        assert expected in out, f"{expected!r} not in:\n{out}"


def test_node_init_prepares_a_privileged_node(node_image, priv):
    r = run_in_node(node_image, priv, """set -e
        mount | grep -q ' on /sys/fs/bpf type bpf '
        [ "$(sysctl -n net.ipv4.ip_forward)" = 1 ]
        [ "$(sysctl -n net.ipv4.conf.all.rp_filter)" = 0 ]
        [ -w /sys/class/net ]
        ip link add cilium_vxlan type vxlan external dstport 8472
        ip -d link show cilium_vxlan | grep -q 'vxlan external.*dstport 8472'
        tc qdisc add dev cilium_vxlan clsact
        tc qdisc show dev cilium_vxlan | grep -q clsact
        bpftool map create /sys/fs/bpf/probe type hash key 4 value 4 entries 1 name probe
        bpftool -j map show pinned /sys/fs/bpf/probe | grep -q '"name":"probe"'
        ip netns add p1
        ip link add lxc0 type veth peer name eth0 netns p1
        ip -n p1 -br link show eth0
        echo node-ready""")
    assert r.returncode == 0 and "node-ready" in r.stdout, r.stdout + r.stderr


def test_node_without_privileges_still_starts(node_image):
    r = run_in_node(node_image, [], "mount | grep -c ' type bpf ' || true; echo started")
    assert r.returncode == 0 and r.stdout.split() == ["0", "started"], r.stdout + r.stderr


def test_node_stays_up_and_stops_at_once(node_image, priv):
    name = f"cnilab-imagetest-{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none", *priv, node_image],
                       capture_output=True, text=True, check=True)
        time.sleep(1)
        state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert state == "true"
        start = time.monotonic()
        subprocess.run(["docker", "stop", name], capture_output=True, check=True)
        assert time.monotonic() - start < 5, "SIGTERM did not stop the node (tini missing as PID 1?)"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
