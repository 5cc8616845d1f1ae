"""Placing a lab's nodes on an inventory's machines (cnilab/placement.py), reading a lab's
inventory outside pyinfra (cnilab/inventory.py), the underlay join's lines, and the
per-machine preflight's one line, on canned machine answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cnilab.backends import underlay
from cnilab.inventory import InventoryError, read_inventory
from cnilab.machines import Machine
from cnilab.model import load_lab
from cnilab.operations.node import _mtu_problem
from cnilab.placement import PlacementError, lab_group, place
from cnilab import preflight

SSH = {"ssh_user": "root"}
M3 = [("10.9.0.1", {**SSH, "machine": "m1"}), ("10.9.0.2", {**SSH, "machine": "m2"}), ("10.9.0.3", {**SSH, "machine": "m3"})]


@pytest.fixture(scope="module")
def seed():
    return load_lab("cilium_vxlan")


def test_spread_one_node_per_machine(seed):
    p = place(seed, M3)
    assert list(p.nodes.values()) == ["m1", "m2", "m3"]
    assert p.used() == ["m1", "m2", "m3"] and p.multihost


def test_spread_is_even_and_in_node_order(seed):
    p = place(seed, M3[:2])
    assert list(p.nodes.values()) == ["m1", "m1", "m2"]
    assert p.first_node_on("m1") == seed.nodes[0].name and p.first_node_on("m2") == seed.nodes[2].name


def test_explicit_placement_by_suffix_or_hostname(seed):
    p = place(seed, M3, {"control-plane": "m3", f"{seed.name}-worker": "10.9.0.3"})
    assert list(p.nodes.values()) == ["m3", "m3", "m1"]  # the rest spread over all machines
    assert p.used() == ["m1", "m3"]


def test_join_lists_every_other_machine_holding_nodes(seed):
    p = place(seed, M3)
    j = p.join(seed, "m2")
    assert j.peers == ("10.9.0.1", "10.9.0.3") and j.vni == underlay.vni(seed.name)
    assert j.port not in (8472, 4789)
    assert place(seed, M3[:1]).join(seed, "m1") is None  # one machine: nothing to join


def test_local_machine_needs_an_address_to_be_joined(seed):
    p = place(seed, ["@local", M3[0]])
    with pytest.raises(PlacementError, match="cnilab_underlay_address"):
        p.join(seed, "m1")
    p = place(seed, [("@local", {"cnilab_underlay_address": "10.9.0.9"}), M3[0]])
    assert p.join(seed, "m1").peers == ("10.9.0.9",)
    assert p.machine("local").local


@pytest.mark.parametrize(
    "machines, explicit, error",
    [
        (M3, {"worker7": "m1"}, "names node 'worker7', which the lab has not"),
        (M3, {"worker": "m9"}, "puts worker on 'm9', which cnilab_machines does not list"),
        ([M3[0], M3[0]], None, "names m1 twice"),
        (["@local", "local"], None, "lists this machine (@local) twice"),
        ([], {"worker": "m1"}, "cnilab_machines lists none"),
        ([("h", "not data")], None, "as in a pyinfra inventory"),
    ],
)
def test_bad_placements_are_refused_in_one_line(seed, machines, explicit, error):
    with pytest.raises(PlacementError, match=error.replace("(", r"\(").replace(")", r"\)")) as e:
        place(seed, machines, explicit)
    assert "\n" not in str(e.value)


def test_vni_is_the_labs_own():
    assert underlay.vni("a") == underlay.vni("a") != underlay.vni("b")
    assert 0 < underlay.vni("a") < 2**24


def test_join_lines_set_the_flood_list_to_exactly_the_peers():
    lines = "\n".join(underlay.ensure_lines("lab1", underlay.Join(77, ("10.0.0.2", "10.0.0.3"))))
    assert "ip link add ulx0 netns lab1-underlay mtu 1500 type vxlan id 77 dstport 4800" in lines
    two = "\n".join(underlay.ensure_lines("lab1", underlay.Join(77, ("10.0.0.2",), bridges=("br0", "br1"))))
    assert "ip link add ulx1 netns lab1-underlay mtu 1500 type vxlan id 78 dstport 4800" in two and "master br1" in two
    assert "want='10.0.0.2 10.0.0.3'" in lines and "fdb del" in lines and "fdb append" in lines
    assert "ulx0" not in "\n".join(underlay.ensure_lines("lab1"))


def test_inventory_is_read_as_pyinfra_reads_it(tmp_path):
    inv = tmp_path / "lab.py"
    inv.write_text(
        "from cnilab.placement import lab_group\n"
        f"_machines = {M3[:2]!r}\n"
        f"nodes = lab_group({str(Path('inventories/cilium_vxlan.yaml').resolve())!r}, _machines, placement={{'worker2': 'm1'}}, backend='netns')\n"
    )
    got = read_inventory(inv)
    assert got.lab.decl_name == "cilium_vxlan" and got.backend_name == "netns"
    assert list(got.placement.nodes.values()) == ["m1", "m2", "m1"]
    assert set(got.backend().backends) == {n.name for n in got.lab.nodes}


@pytest.mark.parametrize(
    "text, error",
    [
        ("nodes = []\n", "names no lab"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("nodes = (['@cnilab/inventories/cilium_vxlan.yaml'], {'cnilab_machines': ['a', 'a']})\n", "names a twice"),
    ],
)
def test_broken_inventories_are_refused_in_one_line(tmp_path, text, error):
    inv = tmp_path / "lab.py"
    inv.write_text(text)
    with pytest.raises(InventoryError, match=error):
        read_inventory(inv)
    with pytest.raises(InventoryError, match="does not exist"):
        read_inventory(tmp_path / "none.py")


def test_lab_group_is_a_pyinfra_group():
    hosts, data = lab_group("inventories/cilium_vxlan.yaml", M3, {"worker": "m2"})
    assert hosts == ["@cnilab/inventories/cilium_vxlan.yaml"]
    assert data == {"cnilab_machines": M3, "cnilab_placement": {"worker": "m2"}}


class Canned(Machine):
    """A machine whose shell answers from a script of (substring -> stdout)."""

    name = "m2"
    hostname = "10.9.0.2"

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def run(self, argv, input=None, timeout=None):
        script = argv[-1]
        for key, out in self.answers.items():
            if key in script:
                return subprocess.CompletedProcess(argv, 0, out.encode(), b"")
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    def run_lines(self, *a, **k):
        raise NotImplementedError


def test_a_link_too_small_for_the_join_is_named():
    join = underlay.Join(5, ("10.9.0.1",))
    assert _mtu_problem(Canned({"route get": "eth0 1600\n"}), join) is None
    problem = _mtu_problem(Canned({"route get": "eth0 1500\n"}), join)
    assert problem == (
        "the link eth0 towards 10.9.0.1 has MTU 1500; the lab's underlay needs 1550 "
        "(nodes' 1500 + 50 for the join's VXLAN): raise that link's MTU to 1550"
    )


def test_preflight_says_all_a_machine_lacks_in_one_line():
    m = Canned({"command -v": "tool: bird (apt-get install bird2)\ntool: birdc (apt-get install bird2)\nkernel: no vxlan\n"})
    assert preflight.line(m, "calico") == "m2 (10.9.0.2): missing bird (apt-get install bird2), birdc (apt-get install bird2); kernel: no vxlan"
    assert preflight.line(Canned({}), "cilium") is None


def test_preflight_script_asks_for_the_cnis_tools():
    calico = preflight.script({**preflight.BASE_TOOLS, **preflight.CNI_TOOLS["calico"]})
    assert "command -v bird " in calico and "command -v birdc " in calico
    assert "type vxlan id 1 dstport 4800" in calico and "clsact" in calico and "ip netns del" in calico
