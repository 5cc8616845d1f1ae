"""A property-based fuzzer over the loader (the standard library's `random`, a fixed
seed): a few thousand declarations mutated from the shipped ones, as text and as data.
Whatever comes in, the loader returns a lab or raises DeclarationError whose lines each
name the declaration; never another exception; and it changes nothing on the machine
(it reads the file, nothing else)."""

from __future__ import annotations

import builtins
import copy
import os
import random
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from cnilab.model import REPO_ROOT, DeclarationError, build_lab, load_declaration, parse_declaration

SEEDS = [yaml.safe_load(p.read_text()) for p in sorted((REPO_ROOT / "inventories").glob("cilium_*.yaml"))]
ODD = [None, True, False, 0, -1, 1, 65536, 2**63, 1.5, "", "x", "A_B", "-", "a" * 300, "10.0.0.0/8", "::1",
       "strict", "none", [], [1], {}, {"a": 1}, {"": None}, "é", "\x00", "{{ x }}", "$(reboot)"]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _mutate(rng: random.Random, data):
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(data) if p]
        path = rng.choice(paths)
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        move = rng.random()
        if move < 0.45:
            parent[key] = copy.deepcopy(rng.choice(ODD))
        elif move < 0.6 and isinstance(parent, dict):
            del parent[key]
        elif move < 0.75 and isinstance(parent, dict):
            value = parent.pop(key)
            parent[str(key)[:-1] + rng.choice("sxe_") if key else "k"] = value  # a misspelt key
        elif move < 0.85 and isinstance(parent, list):
            parent.append(copy.deepcopy(rng.choice(ODD)))
        else:
            parent[key] = copy.deepcopy(rng.choice([p for p in _paths(data)] and [rng.choice(ODD), {"a": [1, {"b": None}]}]))
    return data


def _check(call, source: str):
    try:
        call()
    except DeclarationError as e:
        assert e.errors and all(line.startswith(source) and "\n" not in line for line in e.errors), e.errors
        assert "Traceback" not in str(e)


class SideEffect(AssertionError):
    pass


@contextmanager
def no_side_effects(monkeypatch):
    """Any attempt to write a file, make or remove one, run a program or open a
    connection fails the test (it is not a DeclarationError, so nothing swallows it)."""
    real_open = builtins.open

    def refuse(what):
        def fn(*a, **k):
            raise SideEffect(f"the loader tried {what} {a[:2]!r}")
        return fn

    def open_read_only(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            raise SideEffect(f"the loader opened {file!r} for writing")
        return real_open(file, mode, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(builtins, "open", open_read_only)
        for name in ("system", "mkdir", "makedirs", "remove", "unlink", "rename", "replace", "rmdir", "symlink", "chmod"):
            m.setattr(os, name, refuse(f"os.{name}"))
        m.setattr(subprocess.Popen, "__init__", refuse("to run"))
        m.setattr(socket.socket, "connect", refuse("to connect"))
        yield


def test_fuzz_data(monkeypatch):
    rng = random.Random(13)
    cases = [_mutate(rng, rng.choice(SEEDS)) for _ in range(2500)]
    with no_side_effects(monkeypatch):
        for n, data in enumerate(cases):
            _check(lambda: build_lab(parse_declaration(data, f"fuzz{n}"), f"fuzz{n}"), f"fuzz{n}")


def test_fuzz_text(tmp_path: Path, monkeypatch):
    rng = random.Random(31)
    texts = [p.read_text() for p in sorted((REPO_ROOT / "inventories").glob("cilium_*.yaml"))]
    paths = []
    for n in range(1000):
        text = list(rng.choice(texts))
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(text))
            op = rng.random()
            if op < 0.4:
                del text[i]
            elif op < 0.8:
                text.insert(i, rng.choice(":-[]{}\n \t#&*!|>'\"%@`,?x0é\x00"))
            else:
                text[i:i] = text[rng.randrange(len(text)):][:20]
        path = tmp_path / f"fuzz{n}.yaml"
        path.write_text("".join(text))
        paths.append(path)
    paths.append(tmp_path / "absent.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00kind")
    paths.append(tmp_path / "binary.yaml")
    with no_side_effects(monkeypatch):
        for path in paths:
            _check(lambda: load_declaration(path), str(path))


@pytest.mark.parametrize("data", [None, 1, "x", [], [{}], {"kind": None}, {"kind": {"kind": "Cluster"}, "cni": [], "workloads": {}}])
def test_odd_documents(data):
    _check(lambda: parse_declaration(data, "odd"), "odd")
