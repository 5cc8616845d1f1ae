"""What a real cluster's nodes and agents show, against what its API objects imply
(cnilab.kube.expect), each as a list of one-line differences (empty: as expected).

Pure functions over text a node or an agent printed, so they are tested on the seeds'
captured outputs; verify/kube/ runs them against a live cluster.
"""

from __future__ import annotations

from .agent import CiliumStatus
from .expect import Route, TunnelEntry


def route_lines(text: str) -> set[str]:
    """`ip route show` lines, words normalised (the trailing blank `ip` prints dropped)."""
    return {" ".join(line.split()) for line in text.splitlines() if line.strip()}


def routes_missing(expected: tuple[Route, ...] | list[Route], ip_route: str) -> list[str]:
    """Each expected cilium_host route that `ip route show` on the node lacks."""
    have = route_lines(ip_route)
    return [f"route missing: {r}" for r in expected if str(r) not in have]


def tunnel_differences(expected: tuple[TunnelEntry, ...] | list[TunnelEntry], listed: list[TunnelEntry]) -> list[str]:
    """`cilium bpf tunnel list` against every other node's pod CIDR -> its InternalIP."""
    want, got = set(expected), set(listed)
    return [f"tunnel entry missing: {t}" for t in sorted(want - got, key=str)] + [
        f"tunnel entry unexpected: {t}" for t in sorted(got - want, key=str)
    ]


def status_differences(status: CiliumStatus, values) -> list[str]:
    """`cilium status` against the declared Helm values (cnilab's CiliumValues): the
    kube-proxy replacement mode, and BPF masquerading when asked for."""
    out = []
    kpr = getattr(values, "kubeProxyReplacement", None)
    if kpr and status.kube_proxy_replacement is not None and status.kube_proxy_replacement.mode.lower() != str(kpr).lower():
        out.append(f"KubeProxyReplacement: {status.kube_proxy_replacement.mode}, declared {kpr}")
    bpf = getattr(values, "bpf", None)
    if getattr(bpf, "masquerade", False) and status.masquerading is not None and status.masquerading.mode != "BPF":
        out.append(f"Masquerading: {status.masquerading.mode}, declared bpf.masquerade: true")
    return out
