"""The Cilium agent's own view, read with ``kubectl -n kube-system exec <cilium pod> -- cilium ...``.

Parsers of what the agent prints (tested on the seeds' captured outputs, both the aligned
form of seed 000 and the whitespace-collapsed copy of seed 004):

- ``cilium bpf tunnel list``: ``10.0.1.0:0   172.18.0.4:0`` -> :class:`TunnelEntry`;
- ``cilium status``: every ``Key:  value`` line, and the four the seeds tell the modes apart
  by: KubeProxyReplacement, Host Routing, Masquerading, IPAM.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from .expect import AGENT_NAMESPACE, TunnelEntry

_TUNNEL = re.compile(r"^\s*([0-9a-fA-F.:]+?):(\d+)\s+([0-9a-fA-F.:]+?):(\d+)\s*$")
_STATUS_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9 ./-]*?):\s+(.*?)\s*$")


def parse_tunnel_list(text: str) -> list[TunnelEntry]:
    """The entries of ``cilium bpf tunnel list`` (header and blank lines skipped)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.split()[:2] == ["TUNNEL", "VALUE"]:
            continue
        m = _TUNNEL.match(line)
        if m is None:
            raise ValueError(f"not a `cilium bpf tunnel list` line: {line!r}")
        out.append(TunnelEntry(m.group(1), m.group(3)))
    return out


@dataclass(frozen=True)
class KprDevice:
    name: str
    ip: str | None
    direct_routing: bool = False


@dataclass(frozen=True)
class KubeProxyReplacement:
    mode: str  # Strict, Partial, Probe, Disabled (1.13); True/False in later releases
    devices: tuple[KprDevice, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.mode.lower() not in ("disabled", "false")

    @property
    def direct_routing_device(self) -> str | None:
        return next((d.name for d in self.devices if d.direct_routing), None)


@dataclass(frozen=True)
class Masquerading:
    mode: str  # BPF, IPTables, Disabled
    devices: tuple[str, ...] = ()
    native_cidr: str | None = None  # the range not masqueraded (ipv4NativeRoutingCIDR)
    ipv4: bool | None = None
    ipv6: bool | None = None


@dataclass(frozen=True)
class Ipam:
    used: int
    total: int
    cidrs: tuple[str, ...]


@dataclass
class CiliumStatus:
    fields: dict[str, str] = field(default_factory=dict)
    kube_proxy_replacement: KubeProxyReplacement | None = None
    host_routing: str | None = None  # BPF or Legacy
    masquerading: Masquerading | None = None
    ipam: Ipam | None = None


def _kpr(value: str) -> KubeProxyReplacement:
    m = re.match(r"^(\S+)\s*(?:\[(.*)\])?", value)
    devices = []
    for item in (m.group(2) or "").split(","):
        words = item.replace("(Direct Routing)", "").split()
        if words:
            devices.append(KprDevice(words[0], words[1] if len(words) > 1 else None, "(Direct Routing)" in item))
    return KubeProxyReplacement(m.group(1), tuple(devices))


def _masq(value: str) -> Masquerading:
    m = re.match(
        r"^(\S+)(?:\s+\[([^\]:]*)\])?(?:\s+(\S+/\d+))?(?:\s+\[IPv4:\s*(\w+),\s*IPv6:\s*(\w+)\])?", value)
    devs = tuple(d for d in re.split(r"[,\s]+", m.group(2) or "") if d)
    on = lambda s: None if s is None else s.lower() == "enabled"  # noqa: E731
    return Masquerading(m.group(1), devs, m.group(3), on(m.group(4)), on(m.group(5)))


def _ipam(value: str) -> Ipam | None:
    m = re.match(r"^IPv4:\s*(\d+)/(\d+) allocated from (.*)$", value)
    if m is None:
        return None
    cidrs = tuple(c for c in re.split(r"[,\s]+", m.group(3)) if c)
    return Ipam(int(m.group(1)), int(m.group(2)), cidrs)


def parse_status(text: str) -> CiliumStatus:
    """``cilium status`` (brief form); the first occurrence of each key wins."""
    st = CiliumStatus()
    for line in text.splitlines():
        m = _STATUS_LINE.match(line)
        if m and m.group(1) not in st.fields:
            st.fields[m.group(1)] = m.group(2)
    f = st.fields
    if "KubeProxyReplacement" in f:
        st.kube_proxy_replacement = _kpr(f["KubeProxyReplacement"])
    if "Host Routing" in f:
        st.host_routing = f["Host Routing"].split()[0]
    if "Masquerading" in f:
        st.masquerading = _masq(f["Masquerading"])
    if "IPAM" in f:
        st.ipam = _ipam(f["IPAM"])
    return st


def kubectl_argv(context: str | None = None, kubeconfig: str | None = None) -> list[str]:
    """``kubectl [--kubeconfig K] [--context C]``."""
    argv = ["kubectl"]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    if context:
        argv += ["--context", context]
    return argv


def exec_argv(pod: str, *cilium_args: str, context: str | None = None, kubeconfig: str | None = None,
              namespace: str = AGENT_NAMESPACE) -> list[str]:
    """``kubectl [--kubeconfig K] [--context C] -n kube-system exec POD -- cilium ARGS...``."""
    return kubectl_argv(context, kubeconfig) + ["-n", namespace, "exec", pod, "-c", "cilium-agent", "--", "cilium", *cilium_args]


def run_cilium(pod: str, *cilium_args: str, context: str | None = None, kubeconfig: str | None = None,
               timeout: float = 30) -> str:
    """What the agent in ``pod`` prints (not run here: no cluster on this machine)."""
    argv = exec_argv(pod, *cilium_args, context=context, kubeconfig=kubeconfig)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {' '.join(r.stderr.split())[:300]}")
    return r.stdout


def tunnel_list(pod: str, **kw) -> list[TunnelEntry]:
    return parse_tunnel_list(run_cilium(pod, "bpf", "tunnel", "list", **kw))


def status(pod: str, **kw) -> CiliumStatus:
    return parse_status(run_cilium(pod, "status", **kw))
