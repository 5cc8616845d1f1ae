"""The SSH test bed (scripts/ssh-testbed, cnilab/testbed.py, images/sshd).

The recipe tests need nothing. The test-bed tests start 2 machines with the real
command (building cnilab/sshd once, about a minute, when the engine lacks it),
reach them with pyinfra over SSH, and end with `down` leaving nothing. They are
skipped, with the reason, when no Docker daemon answers, when not root, or when a
test bed is already up (it is someone's: the tests do not touch it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnilab import image, testbed

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "images" / "sshd"
SCRIPT = ROOT / "scripts" / "ssh-testbed"
PYINFRA = Path(sys.executable).parent / "pyinfra"
INVENTORY = ROOT / "build" / "testbed" / "inventory.py"


# --------------------------------------------------------------------------- recipe and tag


@pytest.fixture
def recipe_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "sshd"
    shutil.copytree(RECIPE, dst, symlinks=True)
    return dst


def test_machine_tag_is_its_own():
    tag = testbed.machine_image_tag()
    assert re.fullmatch(r"cnilab/sshd:[0-9a-f]{12}", tag)
    assert tag.split(":")[1] == image.recipe_hash(RECIPE)[:12]
    assert tag.split(":")[1] != image.node_image_tag().split(":")[1]
    assert image.node_image_tag().startswith("cnilab/node:")  # the node image's default is unchanged


def test_machine_tag_changes_when_the_recipe_changes(recipe_copy):
    base = testbed.machine_image_tag(recipe_copy)
    assert base == testbed.machine_image_tag(RECIPE)  # not where the recipe lives
    for rel in ("packages.txt", "rootfs/etc/ssh/sshd_config", "rootfs/usr/local/sbin/cnilab-machine-init"):
        f = recipe_copy / rel
        original = f.read_text()
        f.write_text(original + "# changed\n")
        assert testbed.machine_image_tag(recipe_copy) != base, rel
        f.write_text(original)
        assert testbed.machine_image_tag(recipe_copy) == base
    (recipe_copy / "README.md").write_text("notes\n")  # docs do not shape the image
    assert testbed.machine_image_tag(recipe_copy) == base


def test_machine_recipe():
    recipe = image.load_recipe(RECIPE)
    assert recipe["debootstrap"]["suite"] == "bookworm"
    for pkg in ("openssh-server", "python3", "iproute2", "iptables", "ipset", "bpftool", "tcpdump",
                "iputils-ping", "procps", "bird2", "curl", "iperf3", "util-linux"):
        assert pkg in recipe["packages"]
    assert "sudo" not in recipe["packages"]
    changes = image._import_changes(recipe, "f" * 64, "sshd")
    assert 'LABEL "org.cnilab.image"="sshd"' in changes
    assert any(c.startswith("CMD") and "sshd" in c for c in changes)
    sshd = (RECIPE / "rootfs" / "etc" / "ssh" / "sshd_config").read_text().splitlines()
    assert "PermitRootLogin prohibit-password" in sshd and "PasswordAuthentication no" in sshd
    assert not list((RECIPE / "rootfs" / "etc" / "ssh").glob("ssh_host_*"))  # host keys are made per machine


def test_addresses_and_subnet_checks(monkeypatch):
    assert testbed.addresses(3) == ["172.30.77.11", "172.30.77.12", "172.30.77.13"]
    assert testbed.addresses(1, "10.250.3.0/24") == ["10.250.3.11"]
    for n in (0, testbed.MAX_MACHINES + 1):
        with pytest.raises(testbed.TestbedError, match="the test bed holds 1 to"):
            testbed.addresses(n)
    with pytest.raises(testbed.TestbedError, match="not a private range"):
        testbed.addresses(1, "8.8.8.0/24")
    monkeypatch.setattr(testbed, "_taken_networks", lambda: [("Docker network x", testbed._subnet("172.30.0.0/16"))])
    with pytest.raises(testbed.TestbedError, match="overlaps Docker network x.*CNILAB_TESTBED_SUBNET"):
        testbed.check_subnet_free()


# --------------------------------------------------------------------------- the test bed


def _run(*cmd, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def pyinfra_exec(command: str) -> str:
    """Run a shell command on every machine with pyinfra over SSH; return its output."""
    r = _run(PYINFRA, "-y", INVENTORY.relative_to(ROOT), "exec", "--", command, timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    return out


def _leftovers() -> list[str]:
    return (testbed._labelled("container") + testbed._labelled("network")
            + [str(p) for p in (testbed.STATE_DIR, INVENTORY) if p.exists()])


def _skip_unless_a_bed_can_start() -> None:
    if os.geteuid() != 0:
        pytest.skip("the test bed needs root")
    try:
        image.check_docker()
    except image.NodeImageError as e:
        pytest.skip(f"no Docker daemon answers: {e}")
    if _leftovers():
        pytest.skip(f"a test bed is already up ({', '.join(_leftovers())}); not touching it")


@pytest.fixture(scope="module")
def bed():
    _skip_unless_a_bed_can_start()
    r = _run(sys.executable, SCRIPT, "up", "2", timeout=900)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"inventory: {INVENTORY}" in r.stdout and "pyinfra build/testbed/inventory.py exec" in r.stdout
        print(r.stderr)
        yield ["172.30.77.11", "172.30.77.12"]
    finally:
        _run(sys.executable, SCRIPT, "down", timeout=300)


def test_pyinfra_reaches_both_machines_over_ssh(bed):
    out = pyinfra_exec("cat /etc/hostname")
    assert f"[{bed[0]}] machine1" in out and f"[{bed[1]}] machine2" in out, out
    text = INVENTORY.read_text()
    for key in ("ssh_user", "ssh_key", "ssh_known_hosts_file"):
        assert f'"{key}"' in text
    known = (testbed.STATE_DIR / "known_hosts").read_text().split("\n")
    assert [line.split()[0] for line in known if line] == bed


def test_machines_run_the_machine_image(bed):
    tag = testbed.machine_image_tag()
    for i in (1, 2):
        r = _run("docker", "inspect", "--format", "{{.Config.Image}}|{{.Config.Hostname}}|"
                 "{{index .Config.Labels \"org.cnilab.image\"}}|{{index .Config.Labels \"cnilab.testbed\"}}",
                 f"cnilab-testbed-{i}", timeout=30)
        assert r.stdout.strip() == f"{tag}|machine{i}|sshd|1", r.stdout + r.stderr


def test_root_logs_in_by_key_only(bed):
    out = pyinfra_exec("sshd -T | grep -E '^(permitrootlogin|passwordauthentication|kbdinteractiveauthentication) '")
    for machine in bed:
        for line in ("permitrootlogin without-password", "passwordauthentication no",
                     "kbdinteractiveauthentication no"):
            assert f"[{machine}] {line}" in out, out
    ssh = shutil.which("ssh")
    if ssh:  # no password is asked, no other key is tried: without the run's key there is no way in
        r = _run(ssh, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityFile=/dev/null",
                 "-o", f"UserKnownHostsFile={testbed.STATE_DIR / 'known_hosts'}", "-o", "ConnectTimeout=5",
                 f"root@{bed[0]}", "true", timeout=30)
        assert r.returncode == 255 and "Permission denied (publickey)" in r.stderr, r.stderr


def test_machine_has_bpffs_netns_and_makes_a_vxlan_device(bed):
    out = pyinfra_exec("""set -e
        mount | grep -q ' on /sys/fs/bpf type bpf '
        mountpoint -q /run/netns
        ip netns add tbprobe
        ip -n tbprobe link add vx-probe type vxlan id 4242 dstport 4790 local 127.0.0.1 dev lo
        ip -n tbprobe link set vx-probe up
        ip -n tbprobe -d link show vx-probe | grep -q 'vxlan id 4242'
        bpftool map create /sys/fs/bpf/tbprobe type hash key 4 value 4 entries 1 name tbprobe
        rm /sys/fs/bpf/tbprobe
        ip netns del tbprobe
        echo probe-ok""")
    assert all(f"[{m}] probe-ok" in out for m in bed), out


def test_machines_reach_each_other(bed):
    out = pyinfra_exec(f"for a in {' '.join(bed)}; do ping -c1 -W2 $a >/dev/null && echo reached $a; done")
    for m in bed:
        for other in bed:
            assert f"[{m}] reached {other}" in out, out


def test_vxlan_across_machines(bed):
    """What a multi-host lab's underlay does: a VXLAN device per machine, inside a namespace of
    the lab's, its packets carried between the machines' addresses (VNI 77, UDP 4790)."""
    m1, m2 = bed
    out = pyinfra_exec(f"""set -e
        case $(cat /etc/hostname) in machine1) me=1 peer={m2} ;; *) me=2 peer={m1} ;; esac
        ip netns add tbvx
        ip link add tbvx0 type vxlan id 77 remote $peer dstport 4790 dev eth0
        ip link set tbvx0 netns tbvx
        ip -n tbvx addr add 10.77.0.$me/24 dev tbvx0
        ip -n tbvx link set tbvx0 up
        other=$((3 - me)); ok=
        for i in $(seq 20); do ip netns exec tbvx ping -c1 -W1 10.77.0.$other >/dev/null && ok=1 && break; done
        ip netns del tbvx
        [ -n "$ok" ] && echo "vxlan reached 10.77.0.$other" """)
    assert f"[{m1}] vxlan reached 10.77.0.2" in out and f"[{m2}] vxlan reached 10.77.0.1" in out, out


def test_up_twice_is_refused_and_changes_nothing(bed):
    before = testbed.machines()
    with pytest.raises(testbed.TestbedError, match="already up.*down"):
        testbed.up(1, log=lambda _: None)
    assert testbed.machines() == before and INVENTORY.is_file()


def test_down_leaves_nothing(bed):
    r = _run(sys.executable, SCRIPT, "down")
    assert r.returncode == 0, r.stderr
    for item in ("container cnilab-testbed-1", "container cnilab-testbed-2", "network cnilab-testbed",
                 f"key directory {testbed.STATE_DIR}", f"inventory {INVENTORY}"):
        assert f"removed {item}" in r.stderr, r.stderr
    assert _leftovers() == []
    assert _run("ip", "link", "show", testbed.BRIDGE).returncode != 0
    again = _run(sys.executable, SCRIPT, "down")
    assert again.returncode == 0 and "no test bed to remove" in again.stderr


def test_failed_up_removes_what_it_made(monkeypatch):
    """An up that fails half-way (here: sshd never answers) leaves nothing behind."""
    _skip_unless_a_bed_can_start()

    def no_answer(m, net, expected):
        assert testbed._labelled("container") and testbed.STATE_DIR.exists()  # made before failing
        raise testbed.TestbedError(f"sshd of {m.name} did not answer")

    monkeypatch.setattr(testbed, "_keyscan", no_answer)
    logged = []
    with pytest.raises(testbed.TestbedError, match="did not answer"):
        testbed.up(2, log=logged.append)
    assert "up failed: removing what it made" in logged
    assert _leftovers() == []
