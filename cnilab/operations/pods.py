"""Pods: a network namespace each, inside the node, with a responder on port 80."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..facts.node import PID_DIR, RESPONDER_MARK, NetNamespaces, Responders
from ..model.lab import PodInstance

RESPONDER_PATH = "/run/cnilab/responder.py"


def _stop(pod: str) -> str:
    # Only the PID we recorded, and only if it is still our responder.
    pidfile = shlex.quote(f"{PID_DIR}/{pod}.pid")
    return (
        f"if [ -f {pidfile} ]; then p=$(cat {pidfile}); "
        f"tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q {RESPONDER_MARK} && kill $p; rm -f {pidfile}; fi"
    )


@operation()
def namespaces(wanted: list[str]):
    """The node holds exactly these pod namespaces (a removed pod's responder is stopped first)."""
    have = set(host.get_fact(NetNamespaces))
    want = set(wanted)
    cmds = []
    for pod in sorted(have - want):
        cmds.append(f"{_stop(pod)}; ip netns del {shlex.quote(pod)}")
    for pod in sorted(want - have):
        cmds.append(f"ip netns add {shlex.quote(pod)} && ip -n {shlex.quote(pod)} link set lo up")
    if cmds:
        yield StringCommand(" && ".join(f"( {c} )" for c in cmds))
    else:
        host.noop(f"{len(want)} pod namespaces exist")


@operation()
def responders(pods: list[PodInstance]):
    """Each pod runs its responder on port 80, answering like the seed's nettool image."""
    running = host.get_fact(Responders)
    cmds = []
    for pod in pods:
        if pod.name in running:
            continue
        ns = shlex.quote(pod.name)
        cmds.append(
            f"{_stop(pod.name)}; mkdir -p {PID_DIR} && "
            f"ip netns exec {ns} setsid python3 {RESPONDER_PATH} {RESPONDER_MARK} "
            f"--name {ns} --ip {pod.ip}/32 --port 80 --pidfile {shlex.quote(f'{PID_DIR}/{pod.name}.pid')} "
            "</dev/null >/dev/null 2>&1 &"
        )
    if cmds:
        # Wait until every started responder wrote its pid file, so `up` returns with
        # a lab that answers.
        wait = " ".join(shlex.quote(f"{PID_DIR}/{p.name}.pid") for p in pods if p.name not in running)
        cmds.append(f"for i in $(seq 100); do ok=1; for f in {wait}; do [ -s $f ] || ok=; done; [ -n \"$ok\" ] && break; sleep 0.05; done; [ -n \"$ok\" ]")
        yield StringCommand("\n".join(cmds))
    else:
        host.noop(f"{len(pods)} responders run")
