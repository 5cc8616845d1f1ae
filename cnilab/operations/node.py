"""Lab nodes: a container or a namespace node comes to exist, or goes away.

These run on the controller (the node cannot make itself), as FunctionCommands at
execution time, and only when the node's existence differs from what is asked.
"""

from __future__ import annotations

import threading
import weakref

from pyinfra import host
from pyinfra.api import FunctionCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.context import ctx_state

from .. import teardown
from ..backends import underlay
from ..backends import available_backends
from ..connector import backend_for, running_elsewhere
from ..context import lab_of, node_of
from ..placement import placement_of

# What every node of a lab asks alike (which backends hold the lab, and which of its nodes
# they hold), asked once per pyinfra run: with Docker available each answer costs Docker
# CLI calls, a hundred nodes would ask a hundred times.
_PER_RUN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _once(key: tuple, compute):
    try:
        cache = _PER_RUN.setdefault(ctx_state.get(), {})
    except TypeError:  # no pyinfra run (a test's fake context): nothing to share
        return compute()
    # The first node computes; the others, arriving while its Docker calls run (greenlets),
    # wait for its answer.
    with cache.setdefault(("lock", key), threading.Lock()):
        if key not in cache:
            cache[key] = compute()
    return cache[key]


@operation()
def present():
    """The node exists on the lab's underlay with its node IP, bpffs and private /run."""
    backend = backend_for(host)
    lab, node = lab_of(host), node_of(host)
    other = backend.machine.local and _once(("elsewhere", lab.name, backend.name), lambda: running_elsewhere(lab.name, backend.name))
    if other:
        # One lab, one place: a second copy would share its name and underlay.
        raise OperationError(
            f"lab {lab.name} runs on the {other} backend: use --data backend={other}, or take it down first (deploys/down.py)"
        )
    if backend.node_exists(lab.name, node.name):
        if backend.node_complete(lab.name, node.name):
            host.noop(f"node {node.name} exists")
            return
        # Half-made by an interrupted up: made again from nothing.
        yield FunctionCommand(backend.remove_node, (lab.name, node.name), {})
    placement = placement_of(lab, host.data)
    yield FunctionCommand(backend.create_node, (lab, node), {"join": placement.join(lab, placement.nodes[node.name])})


def multihost(host) -> bool:
    """The inventory places the lab on machines of its own (one or more, maybe remote)."""
    return bool(host.data.get("cnilab_machines"))


def first_on_machine(host) -> bool:
    """The host that does its machine's share of the lab (underlay, teardown)."""
    lab = lab_of(host)
    placement = placement_of(lab, host.data)
    return placement.first_node_on(placement.nodes[host.data.cnilab_node]) == host.data.cnilab_node


@operation()
def underlay_joined():
    """This machine's underlay bridge is joined to the other machines' (multi-host labs):
    the VXLAN device with the lab's VNI and port, flooding to exactly the other machines."""
    lab = lab_of(host)
    placement = placement_of(lab, host.data)
    machine_name = placement.nodes[host.data.cnilab_node]
    machine = placement.machine(machine_name)
    join = placement.join(lab, machine_name)
    if join is None:
        host.noop("the lab's nodes share one machine")
        return
    have = underlay.join_state(lab.name, machine)
    if have == join.state():
        host.noop(f"underlay of {machine_name} joins {', '.join(join.peers)}")
        return
    problem = _mtu_problem(machine, join)
    if problem:
        raise OperationError(f"{machine_name}: {problem}")
    yield FunctionCommand(underlay.ensure, (lab.name, machine, join), {})


def _mtu_problem(machine, join) -> str | None:
    """Pod traffic must cross machines whole: the link to each peer carries the nodes'
    frames plus the join's own VXLAN header, or the lab is refused in one line."""
    need = join.mtu + underlay.JOIN_OVERHEAD
    for peer in join.peers:
        p = machine.sh(f"d=$(ip -o route get {peer} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'); echo $d $(cat /sys/class/net/$d/mtu)", check=False)
        parts = p.stdout.decode().split()
        if len(parts) == 2 and int(parts[1]) < need:
            return (
                f"the link {parts[0]} towards {peer} has MTU {parts[1]}; the lab's underlay needs {need} "
                f"(nodes' {join.mtu} + {underlay.JOIN_OVERHEAD} for the join's VXLAN): raise that link's MTU to {need}"
            )
    return None


def _backends_with(lab_name: str) -> list:
    """Every backend that holds something of the lab: teardown finds a lab wherever it runs,
    whatever `backend:` the declaration (or --data) names now. Asked once per run."""
    return _once(("holders", lab_name), lambda: [b for b in available_backends() if b.lab_exists(lab_name)])


def _nodes_on(backend, lab_name: str) -> set[str]:
    """The lab's nodes the backend held when the run began (each node removes only itself)."""
    return _once(("nodes", lab_name, backend.name), lambda: set(backend.lab_nodes(lab_name)))


@operation()
def world_present():
    """The lab's world host runs on the underlay (TEST-NET address, responder). Run once."""
    backend = backend_for(host)
    lab = lab_of(host)
    if backend.world_exists(lab):
        host.noop(f"world {lab.world.ip} answers")
        return
    placement = placement_of(lab, host.data)
    join = placement.join(lab, placement.nodes[host.data.cnilab_node])
    yield FunctionCommand(backend.create_world, (lab,), {"join": join})


@operation()
def absent():
    """The node is gone, with its pods, processes, pins and mounts."""
    lab_name, node = host.data.cnilab_lab, host.data.cnilab_node
    if multihost(host):
        backend = backend_for(host)
        if node not in backend.lab_nodes(lab_name) and not backend.node_exists(lab_name, node):
            host.noop(f"node {node} does not exist on {backend.machine.name}")
            return
        yield FunctionCommand(backend.remove_node, (lab_name, node), {})
        return
    holders = [b for b in _backends_with(lab_name) if node in _nodes_on(b, lab_name)]
    if not holders:
        host.noop(f"node {node} does not exist")
        return
    for backend in holders:
        yield FunctionCommand(backend.remove_node, (lab_name, node), {})


@operation()
def lab_absent():
    """Whatever else the lab made (its underlay, its state directory) is gone. Run once."""
    lab_name = host.data.cnilab_lab
    if multihost(host):
        # Each machine's share: the first node placed there removes it.
        backend = backend_for(host)
        if not first_on_machine(host):
            return
        if not backend.lab_exists(lab_name) and not underlay.exists(lab_name, backend.machine):
            host.noop(f"lab {lab_name} has nothing left on {backend.machine.name}")
            return
        yield FunctionCommand(backend.destroy_lab, (lab_name,), {})
        return
    holders = _backends_with(lab_name)
    if not holders and not underlay.exists(lab_name):
        host.noop(f"lab {lab_name} has nothing left")
        return
    # What `cnilab down <cluster>` does too: every backend's part, then a bare underlay
    # (made before any node of a Docker lab was: no backend claims it).
    yield FunctionCommand(teardown.destroy, (lab_name,), {})


@operation()
def image_absent():
    """No cnilab node image is left (the cache Docker labs start from). Run once."""
    from .. import image

    if not image.docker_available() or not image.node_images():
        host.noop("no node image")
        return
    yield FunctionCommand(image.purge_node_images, (), {})
