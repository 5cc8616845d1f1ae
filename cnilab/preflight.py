"""What a machine needs to hold a part of a lab, asked in one round trip, said in one line.

    machine2 (172.30.77.12): missing bird (apt-get install bird2); kernel: no vxlan

Kernel features are tried, not guessed from module lists: in a namespace made for the
check and removed at once (`cnilab-preflight-<pid>`), a bridge, a VXLAN device on the
join's port, and a clsact qdisc are made; bpffs must be a known filesystem.
"""

from __future__ import annotations

import shlex
import threading

from .machines import Machine

# tool -> Debian package
BASE_TOOLS = {
    "ip": "iproute2", "bridge": "iproute2", "tc": "iproute2", "nsenter": "util-linux",
    "unshare": "util-linux", "mountpoint": "util-linux", "mount": "mount", "python3": "python3",
    "iptables": "iptables", "tcpdump": "tcpdump", "ping": "iputils-ping",
}  # fmt: skip
CNI_TOOLS = {
    "cilium": {"bpftool": "bpftool"},
    "calico": {"bird": "bird2", "birdc": "bird2", "ipset": "ipset", "bpftool": "bpftool"},
}

_DONE: dict[tuple[int, str], str | None] = {}
_LOCK = threading.Lock()


def script(tools: dict[str, str]) -> str:
    ns = "cnilab-preflight-$$"
    checks = [
        '[ "$(id -u)" = 0 ] || echo "root: log in as root"',
        *(f"command -v {t} >/dev/null 2>&1 || echo {shlex.quote(f'tool: {t} (apt-get install {p})')}" for t, p in sorted(tools.items())),
        "grep -qw bpf /proc/filesystems || echo 'kernel: no bpffs (CONFIG_BPF_SYSCALL)'",
        f"if ip netns add {ns} 2>/dev/null; then",
        f"  ip -n {ns} link add cnpf-br type bridge 2>/dev/null || echo 'kernel: no bridge'",
        f"  ip -n {ns} link add cnpf-vx type vxlan id 1 dstport 4800 2>/dev/null || echo 'kernel: no vxlan'",
        f"  ip -n {ns} link set lo up; tc -n {ns} qdisc add dev lo clsact 2>/dev/null || echo 'kernel: no tc clsact (sch_ingress)'",
        f"  ip netns del {ns}",
        "else echo 'kernel: cannot make a network namespace (ip netns add)'; fi",
    ]
    return "\n".join(checks)


def problems(machine: Machine, plugin: str) -> list[str]:
    tools = {**BASE_TOOLS, **CNI_TOOLS.get(plugin, {})}
    out = machine.sh(script(tools), check=False).stdout.decode()
    return [line.strip() for line in out.splitlines() if line.strip()]


def line(machine: Machine, plugin: str) -> str | None:
    """None when the machine has all a lab of `plugin` needs; else one line naming it all."""
    found = problems(machine, plugin)
    if not found:
        return None
    tools = [p.removeprefix("tool: ") for p in found if p.startswith("tool: ")]
    rest = [p for p in found if not p.startswith("tool: ")]
    parts = ([f"missing {', '.join(tools)}"] if tools else []) + rest
    where = machine.name if getattr(machine, "hostname", machine.name) == machine.name else f"{machine.name} ({machine.hostname})"
    return f"{where}: " + "; ".join(parts)


def ensure(machine: Machine, plugin: str) -> str | None:
    """`line`, asked once per machine and CNI per process (every node on it asks)."""
    key = (id(machine), plugin)
    with _LOCK:
        if key not in _DONE:
            _DONE[key] = line(machine, plugin)
        return _DONE[key]
