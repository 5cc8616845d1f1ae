"""Pods: a network namespace each, inside the node, with a responder on port 80."""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from ..facts.node import PID_DIR, RESPONDER_MARK, NetNamespaces, PodNetworks, ResponderState
from ..model.lab import PodInstance, Route
from .ip import Link, address_changes, ip_batch, link_changes, route_changes, sysctl_changes

RESPONDER_PATH = "/run/cnilab/responder.py"
# The system's interpreter when there is one (the responder needs only the standard
# library): a `python3` found first on PATH may be a wrapper (pyenv's shims run a dozen
# processes before Python starts, for every pod). Started -I -S: no site, no environment.
PYTHON = 'py=/usr/bin/python3; [ -x "$py" ] || py=python3'


def _stop(pod: str) -> str:
    # Only the PID we recorded, and only if it is still our responder.
    pidfile = shlex.quote(f"{PID_DIR}/{pod}.pid")
    return (
        f"if [ -f {pidfile} ]; then p=$(cat {pidfile}); "
        f"tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q {RESPONDER_MARK} && kill $p; rm -f {pidfile}; fi"
    )


def _namespace_changes(have: set[str], want: set[str]) -> list[str]:
    cmds = [f"{_stop(pod)}; ip netns del {shlex.quote(pod)}" for pod in sorted(have - want)]
    cmds += [f"ip netns add {shlex.quote(pod)} && ip -n {shlex.quote(pod)} link set lo up" for pod in sorted(want - have)]
    return cmds


@operation()
def namespaces(wanted: list[str]):
    """The node holds exactly these pod namespaces (a removed pod's responder is stopped first)."""
    cmds = _namespace_changes(set(host.get_fact(NetNamespaces)), set(wanted))
    if cmds:
        yield StringCommand(" && ".join(f"( {c} )" for c in cmds))
    else:
        host.noop(f"{len(wanted)} pod namespaces exist")


@dataclass(frozen=True)
class PodNetwork:
    """A pod's network as the node makes it: its namespace, the lxc veth whose peer is the
    pod's eth0, eth0's address, and the pod's routes."""

    name: str
    lxc: Link  # node side; peer "eth0" in the namespace ``name``
    address: str  # "10.0.1.134/32"
    routes: tuple[Route, ...]

    @property
    def eth0(self) -> Link:
        return Link("eth0", "veth", self.lxc.peer_mac, mtu=self.lxc.mtu, create=False)


@operation()
def network(pods: list[PodNetwork], sysctls: dict[str, str] | None = None):
    """
    The node holds exactly these pods' namespaces, each wired by its lxc veth, with eth0 up,
    its address and routes, and the lxc devices' sysctls: one fact (PodNetworks) and one
    command. A namespace or lxc made anew here starts empty, whatever the fact said.
    """
    sysctls = sysctls or {}
    have = host.get_fact(PodNetworks, sysctls=sorted(sysctls))
    node_links = dict(have["node"]["links"])
    want = {p.name for p in pods}
    new_ns = want - set(have["pods"])
    script = _namespace_changes(set(have["pods"]), want)

    lines: list[str] = []
    for p in pods:
        if p.name in new_ns and p.lxc.name in node_links:
            # Left from a namespace that is gone: made again with the new one.
            lines.append(f"link del {p.lxc.name}")
            del node_links[p.lxc.name]
    more, created = link_changes(node_links, [p.lxc for p in pods])
    lines += more
    if lines:
        script.append(ip_batch(lines).get_raw_value())
    changes = sysctl_changes(have["node"]["sysctls"], sysctls, created)
    if changes:
        script.append("sysctl -qw " + " ".join(changes))

    for p in pods:
        if p.name in new_ns or p.lxc.name in created:
            # eth0 as `link add ... peer` leaves it: down, nothing on it.
            eth0 = {"mac": p.lxc.peer_mac, "mtu": p.lxc.mtu, "noarp": False, "up": False}
            inside = {"links": {"eth0": eth0}, "addresses": {}, "routes": []}
        else:
            inside = have["pods"][p.name]
        pod_lines = link_changes(inside["links"], [p.eth0])[0]
        pod_lines += address_changes(inside["addresses"], "eth0", [(p.address, "global")])
        pod_lines += route_changes(inside["routes"], list(p.routes), ("eth0",))
        if pod_lines:
            script.append(ip_batch(pod_lines, p.name).get_raw_value())

    if script:
        yield StringCommand("\n".join(["set -e", *script]))
    else:
        host.noop(f"{len(pods)} pods are wired")


@operation()
def responders(pods: list[PodInstance], script: str):
    """
    Each pod runs its responder on port 80, answering like the seed's nettool image; the
    responder (the local file ``script``) is in the node, as it is here.
    """
    state = host.get_fact(ResponderState, path=RESPONDER_PATH)
    current = state["script"] == hashlib.sha256(Path(script).read_bytes()).hexdigest()
    if not current:
        yield FileUploadCommand(script, RESPONDER_PATH)
    running = state["running"]
    cmds = []
    for pod in pods:
        if pod.name in running:
            continue
        ns = shlex.quote(pod.name)
        cmds.append(
            f"{_stop(pod.name)}; mkdir -p {PID_DIR} && "
            f"ip netns exec {ns} setsid \"$py\" -I -S {RESPONDER_PATH} {RESPONDER_MARK} "
            f"--name {ns} --ip {pod.ip}/32 --port 80 --pidfile {shlex.quote(f'{PID_DIR}/{pod.name}.pid')} "
            "</dev/null >/dev/null 2>&1 &"
        )
    if cmds:
        # Wait until every started responder wrote its pid file, so `up` returns with
        # a lab that answers (up to 20 s: a loaded 2-core machine starts Python slowly).
        wait = " ".join(shlex.quote(f"{PID_DIR}/{p.name}.pid") for p in pods if p.name not in running)
        cmds.append(f"for i in $(seq 400); do ok=1; for f in {wait}; do [ -s $f ] || ok=; done; [ -n \"$ok\" ] && break; sleep 0.05; done; [ -n \"$ok\" ]")
        yield StringCommand("\n".join([PYTHON, *cmds]))
    elif current:
        host.noop(f"{len(pods)} responders run")
