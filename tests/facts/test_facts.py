"""Data-driven fact tests, like pyinfra's own: one JSON file per case.

``tests/facts/<module>.<Fact>/<case>.json`` holds

- ``arg``: the fact's keyword arguments,
- ``command`` (optional): the command the fact must run with them,
- ``output``: the lines that command really printed (captured on a lab node or a
  throw-away network namespace; ``source`` says where),
- ``fact``: what ``process()`` must return, in JSON form: tuple keys such as
  ``("cilium_vxlan", "egress")`` as ``"cilium_vxlan egress"``, sets as sorted lists,
  bytes as space-separated hex (``"0a 00 01 00"``), tuples as lists.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def to_json(value):
    """A fact's Python value in the JSON form the case files hold."""
    if isinstance(value, dict):
        return {_key(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(to_json(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex(" ")
    return value


def _key(key) -> str:
    if isinstance(key, tuple):
        return " ".join(str(part) for part in key)
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).hex(" ")
    return key


def _cases():
    for path in sorted(HERE.glob("*.*/*.json")):
        yield pytest.param(path, id=f"{path.parent.name}/{path.stem}")


def _fact_class(dirname: str):
    module_name, fact_name = dirname.split(".")
    module = importlib.import_module(f"cnilab.facts.{module_name}")
    return getattr(module, fact_name)


def test_every_fact_has_cases():
    import inspect

    from pyinfra.api import FactBase

    import pkgutil

    import cnilab.facts as facts

    covered = {p.name for p in HERE.glob("*.*") if p.is_dir()}
    modules = [m.name for m in pkgutil.iter_modules(facts.__path__) if not m.name.startswith("_")]
    assert {"bpf", "ip", "iptables", "ipset", "bird"} <= set(modules)
    for module_name in modules:
        module = importlib.import_module(f"cnilab.facts.{module_name}")
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, FactBase) and obj.__module__ == module.__name__:
                assert f"{module_name}.{name}" in covered, f"no tests/facts/{module_name}.{name}/ cases"


@pytest.mark.parametrize("path", list(_cases()))
def test_fact(path: Path):
    data = json.loads(path.read_text())
    fact = _fact_class(path.parent.name)()
    arg = data.get("arg", {})
    if "command" in data:
        assert fact.command(**arg) == data["command"]
    assert to_json(fact.process(data["output"])) == data["fact"]


def test_bpf_filters_refuses_lists_that_do_not_pair_with_the_devices():
    # A device went away between listing the devices and tc's batch: say so, never guess.
    from pyinfra.api.exceptions import FactProcessError

    from cnilab.facts.tc import BpfFilters

    with pytest.raises(FactProcessError, match="3 filter lists for 2 devices"):
        BpfFilters().process(["eth0 lo", "[]", "[]", "[]"])
