"""`calicoctl node status` and `calicoctl get workloadendpoints`, read from a live node: the
peer table comes from the node's own BIRD (`birdc show protocols`), not from the model."""

from __future__ import annotations

import json
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


def tunl0_line(host) -> str | None:
    """What carries IP-in-IP on the node, read from it: a real ipip tunl0, or the lab's stand-in."""
    link = host.run("ip -d -j link show dev tunl0")
    if link.rc != 0 or not link.stdout.strip():
        return None
    kind = json.loads(link.stdout)[0].get("linkinfo", {}).get("info_kind")
    if kind == "ipip":
        return "tunl0: the kernel's ipip device"
    hooks = []
    for dev, direction in (("tunl0", "egress"), ("eth0", "ingress")):
        out = host.run("tc -j filter show dev %s %s", dev, direction)
        names = [f["options"]["bpf_name"] for f in json.loads(out.stdout or "[]") if f.get("kind") == "bpf" and "options" in f]
        hooks.append(f"{dev} {direction} {', '.join(names) or 'nothing'}")
    return f"tunl0: the lab's IP-in-IP stand-in ({kind}, no ipip module here): {'; '.join(hooks)}"


def node_status(running_lab, node: str) -> str:
    c = running_lab.lab.cni
    host = running_lab.host(node)
    text = bird_protocols(host) if c.mode.bird else None
    rows = calicoctl.parse_bird_protocols(text) if text else ()
    out = calicoctl.node_status(rows, bird_running=text is not None, bird6_running=False)
    weps = [calicoctl.WorkloadEndpointRow(p.name, c.node(node).k8s_name, (f"{p.ip}/32",), p.veth) for p in c.pods_on(node)]
    tunl0 = tunl0_line(host)
    return (f"{tunl0}\n" if tunl0 else "") + out + calicoctl.workload_endpoints(weps)
