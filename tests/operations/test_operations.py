"""Data-driven operation tests, like pyinfra's own: one JSON file per case.

``tests/operations/<module>.<op>/<case>.json`` holds

- ``args``: the operation's keyword arguments, in JSON form (see ``ARGS`` for how
  dataclass arguments such as ``Link`` or ``Route`` are written),
- ``facts``: ``{"<module>.<Fact>": value}``, what ``host.get_fact`` returns, in the JSON
  form of tests/facts (tuple keys as ``"dev direction"``, bytes as space-separated hex);
  the values are facts parsed from real captures (tests/facts cases),
- optionally ``fact_kwargs``: ``{"<module>.<Fact>": {...}}``, the arguments the operation
  must ask the fact with,
- ``commands``: the commands the operation yields, each a string or a list of lines
  (joined with newlines: ``ip -batch`` and ``bpftool batch`` heredocs; a file upload
  as ``upload <file name> -> <path in the node>``), or
- ``noop``: true, when the state is already as wanted (no command, a noop message).

The runner calls the undecorated generator (``op._inner``) with pyinfra's ``host``
context set to a fake host whose ``get_fact`` answers from the case.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
from pathlib import Path

import pytest
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host

from cnilab.cni.cilium import maps
from cnilab.cni.cilium.plan import LocalEndpoint
from cnilab.model.lab import PodInstance, Route
from cnilab.operations.ip import Link
from cnilab.operations.pods import PodNetwork

HERE = Path(__file__).resolve().parent


# --- facts: JSON form -> what the fact's process() returns ------------------------------


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


def _map_entries(value):
    if value is None:
        return None
    return {_hex(k): tuple(_hex(x) for x in v) if isinstance(v, list) else _hex(v) for k, v in value.items()}


def _hook_keys(value):
    return {tuple(k.split(" ")): v for k, v in value.items()}


FACTS = {
    "bpf.MapEntries": _map_entries,
    "bpf.Maps": lambda v: {"links": v["links"], "maps": {k: _map_entries(x) for k, x in v["maps"].items()}},
    "tc.BpfFilters": _hook_keys,
    "tc.AttachRecords": _hook_keys,
    "tc.BpfObjects": set,
}


def _fact_name(cls) -> str:
    return f"{cls.__module__.removeprefix('cnilab.facts.')}.{cls.__name__}"


class FakeHost:
    """Just enough of pyinfra's Host for an operation's generator."""

    name = "cnxt-fake-node"

    def __init__(self, facts: dict):
        self.facts = {name: FACTS.get(name, lambda v: v)(value) for name, value in facts.items()}
        self.fact_calls: dict[str, dict] = {}
        self.noop_description: str | None = None

    def get_fact(self, cls, *args, **kwargs):
        name = _fact_name(cls)
        if args:
            raise AssertionError(f"{name}: pass fact arguments by keyword")
        if name not in self.facts:
            raise AssertionError(f"the operation asked for fact {name} that the case does not give")
        self.fact_calls[name] = kwargs
        return self.facts[name]

    def noop(self, description: str) -> None:
        self.noop_description = description


# --- arguments: JSON form -> Python ------------------------------------------------------


def _map_entry(d: dict):
    d = dict(d)
    return getattr(maps, d.pop("type"))(**d)


def _local_endpoint(d: dict) -> LocalEndpoint:
    return LocalEndpoint(**{**d, "ip": ipaddress.IPv4Address(d["ip"])})


def _pod_network(d: dict) -> PodNetwork:
    return PodNetwork(d["name"], Link(**d["lxc"]), d["address"], tuple(Route(**r) for r in d["routes"]))


def _pod(d: dict) -> PodInstance:
    return PodInstance(
        **{**d, "ip": ipaddress.IPv4Address(d["ip"]), "labels": tuple(tuple(kv) for kv in d.get("labels", []))}
    )


ARGS = {
    "ip.links": {"wanted": lambda v: [Link(**d) for d in v]},
    "ip.addresses": {"wanted": lambda v: [tuple(a) for a in v]},
    "ip.routes": {"wanted": lambda v: [Route(**d) for d in v], "own_devs": tuple},
    "bpf.map_entries": {"wanted": lambda v: [_map_entry(d) for d in v]},
    "pods.responders": {"pods": lambda v: [_pod(d) for d in v], "script": lambda v: str(HERE / "pods.responders" / v)},
    "ip.network": {
        "links": lambda v: [Link(**d) for d in v],
        "addresses": lambda v: {dev: [tuple(a) for a in addrs] for dev, addrs in v.items()},
        "routes": lambda v: [Route(**d) for d in v],
        "own_devs": tuple,
    },
    "pods.network": {"pods": lambda v: [_pod_network(d) for d in v]},
    "ip.routes_present": {"wanted": lambda v: [Route(**d) for d in v]},
    "ip.vxlan_peers": {"neighbours": lambda v: [tuple(x) for x in v], "fdb": lambda v: [tuple(x) for x in v]},
    "iptables.chains": {"prefixes": tuple},
    "ipset.sets": {"wanted": lambda v: {k: (o, m) for k, (o, m) in v.items()}},
    "bpf.node_maps": {
        "wanted": lambda v: {name: [_map_entry(d) for d in entries] for name, entries in v.items()},
        "linked": lambda v: [_local_endpoint(d) for d in v],
    },
}


def _args(op_path: str, args: dict) -> dict:
    convert = ARGS.get(op_path, {})
    return {k: convert[k](v) if k in convert else v for k, v in args.items()}


# --- commands ----------------------------------------------------------------------------


def _command_string(command) -> str:
    if isinstance(command, str):
        return command
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        src = command.src if isinstance(command.src, str) else "<data>"
        return f"upload {Path(src).name if isinstance(command.src, str) else src} -> {command.dest}"
    raise AssertionError(f"unexpected command type {type(command).__name__}: {command!r}")


def _expected(commands: list) -> list[str]:
    return ["\n".join(c) if isinstance(c, list) else c for c in commands]


def _cases():
    for path in sorted(HERE.glob("*.*/*.json")):
        yield pytest.param(path, id=f"{path.parent.name}/{path.stem}")


# Operations whose arguments a JSON case cannot hold, each with what tests it instead.
NOT_DATA_DRIVEN = {
    "tc.programs": "takes a function of the node's links; tests/test_seam.py, the whole-lab and drift tests",
    "node.present": "makes nodes through a backend; the whole-lab and fault tests",
    "node.world_present": "the same",
    "node.absent": "the same",
    "node.lab_absent": "the same",
    "node.underlay_joined": "joins machines' underlays over SSH; tests/test_multihost.py (and its lines: tests/test_placement.py)",
    "node.image_absent": "removes Docker images; tests/test_image.py",
}


def _operations() -> set[str]:
    """Every pyinfra operation of cnilab.operations, found by looking, not listed by hand."""
    import pkgutil

    import cnilab.operations as ops

    found = set()
    for info in pkgutil.iter_modules(ops.__path__):
        module = importlib.import_module(f"cnilab.operations.{info.name}")
        for name, obj in vars(module).items():
            if callable(obj) and hasattr(obj, "_inner") and getattr(obj, "__module__", "") == module.__name__:
                found.add(f"{info.name}.{name}")
    return found


def test_every_operation_has_cases_and_every_case_an_operation():
    ops = _operations()
    assert "ip.network" in ops and "tc.programs" in ops
    cased = {p.name for p in HERE.glob("*.*") if p.is_dir()}
    assert not cased - ops, f"cases for operations that do not exist: {sorted(cased - ops)}"
    missing = ops - cased - set(NOT_DATA_DRIVEN)
    assert not missing, f"operations without a case: {sorted(missing)}"
    assert not set(NOT_DATA_DRIVEN) - ops, f"NOT_DATA_DRIVEN names what is gone: {sorted(set(NOT_DATA_DRIVEN) - ops)}"


def test_every_operation_has_a_noop_case():
    dirs = [p for p in HERE.glob("*.*") if p.is_dir()]
    assert dirs
    for d in dirs:
        assert any(p.stem.endswith("noop") for p in d.glob("*.json")), f"{d.name} has no *_noop case"


@pytest.mark.parametrize("path", list(_cases()))
def test_operation(path: Path):
    data = json.loads(path.read_text())
    module_name, op_name = path.parent.name.split(".")
    op = getattr(importlib.import_module(f"cnilab.operations.{module_name}"), op_name)
    assert ("commands" in data) != bool(data.get("noop")), "a case gives either commands or noop: true"

    host = FakeHost(data.get("facts", {}))
    with ctx_host.use(host):
        commands = [_command_string(c) for c in op._inner(**_args(path.parent.name, data.get("args", {})))]

    for name, kwargs in data.get("fact_kwargs", {}).items():
        assert host.fact_calls.get(name) == kwargs, f"{name} asked with {host.fact_calls.get(name)}"
    if data.get("noop"):
        assert commands == []
        assert host.noop_description, "a noop must say why"
    else:
        assert commands == _expected(data["commands"])
        assert host.noop_description is None
