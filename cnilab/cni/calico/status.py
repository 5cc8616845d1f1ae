"""`calicoctl node status` and `calicoctl get workloadendpoints`, read from a live node: the
peer table comes from the node's own BIRD (`birdc show protocols`), not from the model."""

from __future__ import annotations

import shlex

from . import calicoctl
from .plan import BIRD_PIDFILE, BIRD_SOCKET


def bird_protocols(host) -> str | None:
    """`birdc show protocols` of the node's BIRD (testinfra host), None when BIRD does not answer."""
    out = host.run("birdc -s %s show protocols", BIRD_SOCKET)
    return out.stdout if out.rc == 0 else None


def bird_pid(host) -> int | None:
    """The PID of the node's BIRD, if it runs (its pid file names a live `bird`)."""
    out = host.run(f"p=$(cat {shlex.quote(BIRD_PIDFILE)} 2>/dev/null) && [ -n \"$p\" ] && grep -qa bird /proc/$p/cmdline && echo $p")
    return int(out.stdout) if out.rc == 0 and out.stdout.strip().isdigit() else None


def node_status(running_lab, node: str) -> str:
    c = running_lab.lab.cni
    host = running_lab.host(node)
    text = bird_protocols(host) if c.mode.bird else None
    rows = calicoctl.parse_bird_protocols(text) if text else ()
    out = calicoctl.node_status(rows, bird_running=text is not None, bird6_running=False)
    weps = [calicoctl.WorkloadEndpointRow(p.name, c.node(node).k8s_name, (f"{p.ip}/32",), p.veth) for p in c.pods_on(node)]
    return out + calicoctl.workload_endpoints(weps)
