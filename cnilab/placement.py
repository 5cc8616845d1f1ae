"""Which machine each node of a lab lives on, from a pyinfra inventory.

A lab's inventory group carries, beside the declaration its `@cnilab/` host names:

    cnilab_machines:  the machines, as pyinfra inventory entries: "@local", or
                      (hostname, {"ssh_user": ..., "ssh_key": ..., "machine": "machine1"})
    cnilab_placement: optional {node: machine}: a node by its full or kind suffix name,
                      a machine by its `machine` name or hostname; every node not named
                      is spread evenly over the machines, in node order.

Without `cnilab_machines` the lab is on this machine alone, as before. The world host
lives on the machine of the lab's first node. `lab_group()` writes such a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .backends import underlay
from .machines import LOCAL, Machine, MachineError, entry_parts, get_machine, machine_name
from .model.lab import Lab


class PlacementError(ValueError):
    """The inventory's placement cannot be used: the message says what to change."""


@dataclass(frozen=True)
class Placement:
    entries: tuple  # inventory entries, one per machine, in order
    nodes: dict  # node name -> machine name

    @property
    def names(self) -> list[str]:
        return [machine_name(e) for e in self.entries]

    @property
    def multihost(self) -> bool:
        return len(self.entries) > 1

    def entry(self, machine: str):
        return self.entries[self.names.index(machine)]

    def machine(self, name: str) -> Machine:
        return get_machine(self.entry(name)) if self.entries else LOCAL

    def machine_of(self, node: str) -> Machine:
        return self.machine(self.nodes[node]) if self.entries else LOCAL

    def nodes_on(self, machine: str) -> list[str]:
        return [n for n, m in self.nodes.items() if m == machine]

    def used(self) -> list[str]:
        """Machines holding at least one node, in inventory order."""
        held = set(self.nodes.values())
        return [m for m in self.names if m in held]

    def join(self, lab: Lab, machine: str) -> underlay.Join | None:
        """The underlay join of `machine`: to every other machine holding nodes."""
        if not self.multihost or len(self.used()) < 2:
            return None
        peers = []
        for other in self.used():
            if other != machine:
                address = self.machine(other).address
                if not address:
                    raise PlacementError(
                        f"machine {other} has no address the others can reach: give it "
                        "cnilab_underlay_address in its inventory data"
                    )
                peers.append(address)
        bridges = ("br0", "br1") if lab.decl.privateNetwork else ("br0",)
        return underlay.Join(underlay.vni(lab.name), tuple(peers), bridges=bridges)

    def first_node_on(self, machine: str) -> str | None:
        on = self.nodes_on(machine)
        return on[0] if on else None


def place(lab: Lab, machines=None, explicit: dict | None = None) -> Placement:
    """Nodes onto machines: the explicit ones first, the rest spread evenly in node order."""
    if not machines:
        if explicit:
            raise PlacementError("cnilab_placement names machines but cnilab_machines lists none")
        return Placement((), {n.name: "local" for n in lab.nodes})
    try:
        entries = tuple(entry_parts(e) for e in machines)
    except MachineError as e:
        raise PlacementError(str(e)) from None
    names = [machine_name(e) for e in entries]
    if sum(1 for h, _ in entries if h in ("@local", "local", "localhost")) > 1:
        raise PlacementError("cnilab_machines lists this machine (@local) twice")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PlacementError(f"cnilab_machines names {', '.join(dup)} twice: give each machine its own `machine` name")
    hostnames = {h: machine_name((h, d)) for h, d in entries}
    nodes: dict[str, str] = {}
    for key, machine in (explicit or {}).items():
        node = key if key in [n.name for n in lab.nodes] else f"{lab.name}-{key}"
        if node not in [n.name for n in lab.nodes]:
            raise PlacementError(
                f"cnilab_placement names node {key!r}, which the lab has not "
                f"(nodes: {', '.join(n.name.removeprefix(lab.name + '-') for n in lab.nodes)})"
            )
        machine = hostnames.get(machine, machine)
        if machine not in names:
            raise PlacementError(f"cnilab_placement puts {key} on {machine!r}, which cnilab_machines does not list ({', '.join(names)})")
        nodes[node] = machine
    rest = [n.name for n in lab.nodes if n.name not in nodes]
    for i, node in enumerate(rest):
        nodes[node] = names[i * len(names) // len(rest)] if len(rest) >= len(names) else names[i]
    return Placement(entries, {n.name: nodes[n.name] for n in lab.nodes})


def placement_of(lab: Lab, data) -> Placement:
    """The placement a pyinfra host's data (or any mapping) gives."""
    get = data.get
    return place(lab, get("cnilab_machines"), get("cnilab_placement"))


def lab_group(declaration: str | Path, machines: list, placement: dict | None = None, **data):
    """A pyinfra inventory group for a lab over `machines`:

        cnilab = lab_group("inventories/cilium_vxlan.yaml", [("10.0.0.5", {...}), "@local"])
    """
    decl = Path(declaration)
    group_data = {"cnilab_machines": list(machines), **data}
    if placement:
        group_data["cnilab_placement"] = dict(placement)
    return [f"@cnilab/{decl}"], group_data


def testbed_machines(inventory: str | Path | None = None) -> list:
    """The SSH test bed's machines (`scripts/ssh-testbed up N`) as inventory entries."""
    from . import testbed

    path = Path(inventory) if inventory else testbed.INVENTORY
    if not path.is_file():
        raise PlacementError(f"no SSH test bed inventory at {path}: start one with `scripts/ssh-testbed up 3`")
    scope: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    hosts, ssh = scope["testbed"]
    return [(h, {**ssh, "machine": d.get("testbed_machine", h)}) for h, d in hosts]
