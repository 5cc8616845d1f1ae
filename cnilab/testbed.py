"""The SSH test bed: N Docker containers running sshd, reached the way a multi-host
lab reaches its machines (pyinfra over SSH, from an inventory).

    up(n)   -> Testbed     # network, key, machines, known_hosts, inventory
    down()  -> list[str]   # removes exactly that; says what it removed
    machines() -> list[dict]

What ``up`` makes, all of it found again by ``down`` without any state file:

- the Docker network ``cnilab-testbed`` (``--internal``: no route out; bridge
  ``cnilab-tb0``, subnet 172.30.77.0/24 unless $CNILAB_TESTBED_SUBNET or
  ``subnet=`` says otherwise), labelled ``cnilab.testbed=1``;
- containers ``cnilab-testbed-1..N`` from ``cnilab/sshd:<hash>`` (images/sshd,
  built offline like the node image), privileged, hostname ``machine<i>``, address
  ``.10+i`` of the subnet, labelled ``cnilab.testbed=1``;
- ``/run/cnilab-testbed/``: an ed25519 key made for this run (installed as each
  machine's /root/.ssh/authorized_keys) and ``known_hosts`` with each machine's
  host key (ssh-keyscan of the machine's address, checked against the key read
  from inside the container);
- ``build/testbed/inventory.py``: the pyinfra inventory (group ``testbed``).

The host reaches the machines through the Docker bridge, which holds the
subnet's gateway address; nothing else is contacted, and no route, address or
iptables rule of the host is touched here (Docker makes its bridge).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import image

ROOT = Path(__file__).resolve().parent.parent
RECIPE_DIR = ROOT / "images" / "sshd"
IMAGE_REPO = "cnilab/sshd"
NETWORK = "cnilab-testbed"
BRIDGE = "cnilab-tb0"
LABEL = "cnilab.testbed"
MACHINE_LABEL = "cnilab.testbed.machine"
CONTAINER_PREFIX = "cnilab-testbed-"
SUBNET = "172.30.77.0/24"
SUBNET_ENV = "CNILAB_TESTBED_SUBNET"
FIRST_HOST = 11  # machine i has the subnet's address .10+i
MAX_MACHINES = 64
STATE_DIR = Path("/run/cnilab-testbed")
INVENTORY = ROOT / "build" / "testbed" / "inventory.py"
INVENTORY_MARK = "# cnilab SSH test bed inventory"
MTU = 1600
SSH_WAIT = 30.0  # seconds for every sshd to answer

Log = Callable[[str], object]


class TestbedError(RuntimeError):
    """The test bed cannot be started or removed; the message says why and what to do."""

    __test__ = False  # not a pytest class


@dataclass
class Machine:
    name: str  # machine1
    container: str  # cnilab-testbed-1
    address: str  # 172.30.77.11


@dataclass
class Testbed:
    machines: list[Machine]
    inventory: Path
    key: Path
    known_hosts: Path
    image: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def example(self) -> str:
        inv = os.path.relpath(self.inventory) if self.inventory.is_relative_to(Path.cwd()) else self.inventory
        return f".venv/bin/pyinfra {inv} exec -- uname -a"


# --------------------------------------------------------------------------- helpers


def _docker(*args: str, check: bool = True, timeout: float = 60, input: str | None = None):
    try:
        return image._docker(*args, check=check, timeout=timeout, input=input)
    except image.NodeImageError as e:
        raise TestbedError(str(e)) from None


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise TestbedError(f"{name} is not installed: `apt-get install -y {package}`")
    return path


def machine_image_tag(recipe_dir: str | os.PathLike | None = None) -> str:
    """``cnilab/sshd:<first 12 hex of the images/sshd recipe hash>``."""
    return image.node_image_tag(recipe_dir or RECIPE_DIR, IMAGE_REPO)


def ensure_machine_image(log: Log = print, recipe_dir: str | os.PathLike | None = None) -> str:
    """The machine image's tag, built first (about a minute, offline) when missing."""
    try:
        return image.ensure_node_image(log=log, recipe_dir=recipe_dir or RECIPE_DIR, repo=IMAGE_REPO)
    except image.NodeImageError as e:
        raise TestbedError(str(e)) from None


def _subnet(subnet: str | None) -> ipaddress.IPv4Network:
    text = subnet or os.environ.get(SUBNET_ENV) or SUBNET
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError as e:
        raise TestbedError(f"test-bed subnet {text!r} is not an IPv4 network: {e}") from None
    if not net.is_private:
        raise TestbedError(f"test-bed subnet {net} is not a private range: pick one with {SUBNET_ENV}")
    return net


def addresses(n: int, subnet: str | None = None) -> list[str]:
    net = _subnet(subnet)
    hosts = list(net.hosts())
    if n < 1 or n > min(MAX_MACHINES, len(hosts) - FIRST_HOST):
        raise TestbedError(f"{n} machines: the test bed holds 1 to {min(MAX_MACHINES, len(hosts) - FIRST_HOST)} in {net}")
    return [str(net.network_address + FIRST_HOST + i) for i in range(n)]


def _taken_networks() -> list[tuple[str, ipaddress.IPv4Network]]:
    """(what, network) for every IPv4 route and address of this machine and every Docker network."""
    taken = []
    for cmd in (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-j", "-4", "addr", "show"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        for item in json.loads(r.stdout or "[]") if r.returncode == 0 else []:
            if "dst" in item:
                if item["dst"] in ("default", "0.0.0.0/0") or item.get("type") in ("broadcast", "local"):
                    continue
                dst = item["dst"] if "/" in item["dst"] else item["dst"] + "/32"
                taken.append((f"route {item['dst']} dev {item.get('dev', '?')}", ipaddress.IPv4Network(dst, strict=False)))
            for a in item.get("addr_info", []):
                if a.get("family") == "inet":
                    net = ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
                    taken.append((f"address {a['local']}/{a['prefixlen']} on {item['ifname']}", net))
    ids = _docker("network", "ls", "-q").stdout.split()
    if ids:
        r = _docker("network", "inspect", "--format", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids)
        for line in r.stdout.splitlines():
            name, *subnets = line.split()
            for s in subnets:
                try:
                    taken.append((f"Docker network {name}", ipaddress.IPv4Network(s, strict=False)))
                except ValueError:
                    pass  # IPv6
    return taken


def check_subnet_free(subnet: str | None = None) -> ipaddress.IPv4Network:
    net = _subnet(subnet)
    for what, other in _taken_networks():
        if net.overlaps(other):
            raise TestbedError(
                f"test-bed subnet {net} overlaps {what} on this machine: "
                f"pick a free private /24 with {SUBNET_ENV}=... (or --subnet)"
            )
    return net


def _labelled(kind: str) -> list[str]:
    """Names of the containers or networks carrying the test bed's label."""
    if kind == "container":
        r = _docker("ps", "-a", "--filter", f"label={LABEL}=1", "--format", "{{.Names}}")
    else:
        r = _docker("network", "ls", "--filter", f"label={LABEL}=1", "--format", "{{.Name}}")
    return sorted(r.stdout.split(), key=lambda n: (len(n), n))


def machines() -> list[dict]:
    """The running test bed's machines: name, container, address, state."""
    out = []
    for c in _labelled("container"):
        r = _docker("inspect", "--format",
                    "{{index .Config.Labels \"" + MACHINE_LABEL + "\"}}|{{.State.Status}}|"
                    "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c, check=False)
        name, state, addr = (r.stdout.strip().split("|") + ["", "", ""])[:3]
        out.append({"name": name, "container": c, "address": addr, "state": state or "gone"})
    return out


# --------------------------------------------------------------------------- up


def _start_machine(i: int, address: str, tag: str, priv: list[str]) -> Machine:
    m = Machine(f"machine{i}", f"{CONTAINER_PREFIX}{i}", address)
    _docker("run", "-d", "--name", m.container, "--hostname", m.name,
            "--network", NETWORK, "--ip", m.address,
            "--label", f"{LABEL}=1", "--label", f"{MACHINE_LABEL}={m.name}",
            *priv, tag, timeout=120)
    return m


def _install_key(m: Machine, pubkey: str) -> str:
    """Put the run's key in the machine; return the machine's host key (``type base64``) read from inside."""
    _docker("exec", "-i", m.container, "sh", "-c",
            "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
            input=pubkey, timeout=30)
    deadline = time.monotonic() + SSH_WAIT
    while True:
        r = _docker("exec", m.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False, timeout=30)
        if r.returncode == 0 and r.stdout.startswith("ssh-ed25519 "):
            return " ".join(r.stdout.split()[:2])
        if time.monotonic() > deadline:
            raise TestbedError(f"{m.name} ({m.container}) made no host key: see `docker logs {m.container}`")
        time.sleep(0.2)


def _keyscan(m: Machine, net: ipaddress.IPv4Network, expected: str) -> str:
    """ssh-keyscan the machine's address until its sshd answers; check the key is the one inside."""
    if ipaddress.IPv4Address(m.address) not in net:  # contact nothing but the test bed
        raise TestbedError(f"{m.address} is not in the test-bed subnet {net}")
    keyscan = _tool("ssh-keyscan", "openssh-client")
    deadline = time.monotonic() + SSH_WAIT
    last = ""
    while time.monotonic() < deadline:
        try:
            r = subprocess.run([keyscan, "-T", "2", "-t", "ed25519", m.address],
                               capture_output=True, text=True, timeout=10)
        except subprocess.TimeoutExpired:
            r = subprocess.CompletedProcess([], 1, "", "timed out")
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == m.address:
                if " ".join(parts[1:3]) != expected:
                    raise TestbedError(
                        f"{m.address} answered with host key {parts[2][:16]}..., not {m.name}'s own: "
                        f"another machine holds that address? Run `scripts/ssh-testbed down`"
                    )
                return f"{m.address} {expected}"
        last = r.stderr.strip()
        time.sleep(0.3)
    raise TestbedError(f"sshd of {m.name} ({m.address}) did not answer in {SSH_WAIT:.0f} s ({last}): "
                       f"see `docker logs {m.container}`")


def wait_for_ssh(m: Machine, wait: float = SSH_WAIT) -> None:
    """Until the machine's sshd accepts a connection (after a restart of its container)."""
    import socket

    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((m.address, 22), timeout=2) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TestbedError(f"sshd of {m.name} ({m.address}) did not answer in {wait:.0f} s")
        time.sleep(0.2)


def _write_inventory(path: Path, ms: list[Machine], key: Path, known_hosts: Path, subnet: str) -> None:
    lines = [
        f"{INVENTORY_MARK}: {len(ms)} machines on {subnet}.",
        "# Written by `scripts/ssh-testbed up`; `scripts/ssh-testbed down` removes it with the",
        "# machines and the key. Each host is a machine's address; SSH as root with the run's key.",
        "",
        "_ssh = {",
        '    "ssh_user": "root",',
        f'    "ssh_key": {json.dumps(str(key))},',
        f'    "ssh_known_hosts_file": {json.dumps(str(known_hosts))},',
        '    "ssh_strict_host_key_checking": "yes",',
        '    "ssh_look_for_keys": False,',
        '    "ssh_allow_agent": False,',
        "}",
        "",
        "testbed = (",
        "    [",
        *(f'        ({json.dumps(m.address)}, {{"testbed_machine": {json.dumps(m.name)}, '
          f'"testbed_container": {json.dumps(m.container)}}}),' for m in ms),
        "    ],",
        "    _ssh,",
        ")",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)


def up(n: int, log: Log = print, subnet: str | None = None, state_dir: Path = STATE_DIR,
       inventory: Path = INVENTORY) -> Testbed:
    """Start N machines; on any failure (or Ctrl-C) remove what this call made, then raise."""
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    addrs = addresses(n, subnet)
    net = _subnet(subnet)
    keygen = _tool("ssh-keygen", "openssh-client")
    _tool("ssh-keyscan", "openssh-client")
    try:
        image.check_docker()
    except image.NodeImageError as e:
        raise TestbedError(str(e)) from None
    left = _labelled("container") + _labelled("network")
    if left or state_dir.exists():
        raise TestbedError(
            f"a test bed is already up ({', '.join(left) or state_dir}): `scripts/ssh-testbed down` first"
        )
    tag = ensure_machine_image(log=log)
    timings["image"] = time.monotonic() - t0
    check_subnet_free(str(net))
    try:
        priv = image.privileged_args(tag)
    except image.NodeImageError as e:
        raise TestbedError(str(e)) from None

    try:
        gateway = str(net.network_address + 1)
        _docker("network", "create", "--driver", "bridge", "--internal",
                "--subnet", str(net), "--gateway", gateway,
                "--opt", f"com.docker.network.bridge.name={BRIDGE}",
                # Room for a multi-host lab's underlay join (VXLAN, 50 bytes) around the
                # nodes' 1500-byte frames: pod traffic crosses machines unfragmented.
                "--opt", f"com.docker.network.driver.mtu={MTU}",
                "--label", f"{LABEL}=1", NETWORK)
        log(f"network {NETWORK} ({net}, bridge {BRIDGE}, internal)")

        state_dir.mkdir(mode=0o700, parents=True)
        key = state_dir / "id_ed25519"
        r = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "cnilab-testbed", "-f", str(key)],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise TestbedError(f"ssh-keygen failed: {r.stderr.strip()}")
        pubkey = (state_dir / "id_ed25519.pub").read_text()

        t1 = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(n, 8)) as pool:
            ms = list(pool.map(lambda ia: _start_machine(ia[0] + 1, ia[1], tag, priv), enumerate(addrs)))
            host_keys = list(pool.map(lambda m: _install_key(m, pubkey), ms))
            known = list(pool.map(lambda mk: _keyscan(mk[0], net, mk[1]), zip(ms, host_keys)))
        timings["machines"] = time.monotonic() - t1
        known_hosts = state_dir / "known_hosts"
        known_hosts.write_text("\n".join(known) + "\n")
        for m in ms:
            log(f"{m.name}: {m.container} at {m.address}, sshd answers")
        _write_inventory(inventory, ms, key, known_hosts, str(net))
    except BaseException:
        log("up failed: removing what it made")
        down(log=log, state_dir=state_dir, inventory=inventory)
        raise
    timings["total"] = time.monotonic() - t0
    return Testbed(ms, inventory, key, known_hosts, tag, timings)


# --------------------------------------------------------------------------- down


def down(log: Log = print, state_dir: Path = STATE_DIR, inventory: Path = INVENTORY) -> list[str]:
    """Remove the test bed's containers and network (by label), its key directory and inventory."""
    removed, failed = [], []
    containers = _labelled("container")
    if containers:
        r = _docker("rm", "-f", *containers, check=False, timeout=120)
        gone = set(_labelled("container"))
        for c in containers:
            (failed if c in gone else removed).append(f"container {c}")
        if r.returncode != 0 and gone:
            failed.append(r.stderr.strip())
    for netname in _labelled("network"):
        r = _docker("network", "rm", netname, check=False)
        (removed if r.returncode == 0 else failed).append(
            f"network {netname}" if r.returncode == 0 else f"network {netname}: {r.stderr.strip()}")
    if state_dir.exists():
        shutil.rmtree(state_dir, ignore_errors=True)
        (failed if state_dir.exists() else removed).append(f"key directory {state_dir}")
    if inventory.is_file() and inventory.read_text().startswith(INVENTORY_MARK):
        inventory.unlink()
        removed.append(f"inventory {inventory}")
        try:
            inventory.parent.rmdir()  # only when empty
        except OSError:
            pass
    for item in removed:
        log(f"removed {item}")
    if failed:
        raise TestbedError("could not remove: " + "; ".join(failed))
    if not removed:
        log("no test bed to remove")
    return removed
