from __future__ import annotations

import os
import pathlib
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from cnilab.cni.cilium.sources import compile_object  # noqa: E402
from cnilab.cni.cilium.headers import render_ep_config, render_node_config  # noqa: E402
from cnilab.bpf.testrun import Sandbox  # noqa: E402
import bpf_lab as lab  # noqa: E402

# Test builds replace the tunnel-key helpers with map-backed mocks
# (bpf/lib/encap.h): BPF_PROG_TEST_RUN cannot hand a program tunnel metadata.
MOCK_DEFINE = "\n#define TEST_MOCK_TUNNEL_KEY 1\n"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("bpftool", "unshare", "nsenter", "clang")),
    reason="needs root, clang, bpftool, unshare and nsenter",
)


@pytest.fixture(scope="session")
def cache_dir() -> pathlib.Path:
    """A compile cache for the session, removed afterwards (tests leave nothing behind)."""
    with tempfile.TemporaryDirectory(prefix="cnilab-test-cache-") as path:
        old = os.environ.get("CNILAB_CACHE")
        os.environ["CNILAB_CACHE"] = path
        yield pathlib.Path(path)
        if old is None:
            os.environ.pop("CNILAB_CACHE", None)
        else:
            os.environ["CNILAB_CACHE"] = old


@pytest.fixture
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """An empty compile cache for one test."""
    with tempfile.TemporaryDirectory(prefix="cnilab-test-cache-") as path:
        monkeypatch.setenv("CNILAB_CACHE", path)
        yield pathlib.Path(path)


def build(variant: str) -> dict[str, pathlib.Path]:
    node_h = render_node_config(lab.NODE) + (MOCK_DEFINE if variant == "mock" else "")
    ep_h = render_ep_config(lab.NODE, lab.POD_A)
    return {
        "bpf_lxc": compile_object("bpf_lxc", {"node_config.h": node_h, "ep_config.h": ep_h}),
        "bpf_overlay": compile_object("bpf_overlay", {"node_config.h": node_h}),
        "bpf_host": compile_object("bpf_host", {"node_config.h": node_h}),
    }


@pytest.fixture(scope="session")
def objects(cache_dir: pathlib.Path) -> dict[str, dict[str, pathlib.Path]]:
    return {"real": build("real"), "mock": build("mock")}


def open_datapath(objs: dict[str, pathlib.Path], tunnels=lab.TUNNELS, ipcache=lab.IPCACHE) -> Sandbox:
    sb = Sandbox()
    sb.open()
    try:
        for obj in objs.values():
            sb.load(obj)
        for e in lab.ENDPOINTS:
            sb.update_map("cilium_lxc", e.pack_key(), e.pack_value())
        for t in tunnels:
            sb.update_map("cilium_tunnel_map", t.pack_key(), t.pack_value())
        for i in ipcache:
            sb.update_map("cilium_ipcache", i.pack_key(), i.pack_value())
    except Exception:
        sb.close()
        raise
    return sb


@pytest.fixture
def datapath(objects) -> Sandbox:
    """All three real objects loaded into one fresh sandbox, lab maps filled."""
    sb = open_datapath(objects["real"])
    yield sb
    sb.close()


@pytest.fixture
def mock_datapath(objects) -> Sandbox:
    """Same, built with TEST_MOCK_TUNNEL_KEY."""
    sb = open_datapath(objects["mock"])
    yield sb
    sb.close()


# --- kube-proxy replacement / masquerade / host routing builds ----------------

def build_mode(mode: str) -> dict[str, pathlib.Path]:
    """The three objects of a node in ``mode`` (bpf_lab.MODES), mock tunnel-key build."""
    node = lab.mode_node(mode)
    node_h = render_node_config(node) + MOCK_DEFINE
    return {
        "bpf_lxc": compile_object("bpf_lxc", {"node_config.h": node_h, "ep_config.h": render_ep_config(node, lab.POD_A)}),
        "bpf_overlay": compile_object("bpf_overlay", {"node_config.h": node_h}),
        "bpf_host": compile_object("bpf_host", {"node_config.h": node_h}),
    }


@pytest.fixture(scope="session")
def mode_objects(cache_dir: pathlib.Path) -> dict[str, dict[str, pathlib.Path]]:
    return {mode: build_mode(mode) for mode in lab.MODES}


def open_mode(objs: dict[str, pathlib.Path], mode: str) -> Sandbox:
    sb = Sandbox()
    sb.open()
    try:
        for obj in objs.values():
            sb.load(obj)
        for name, entries in lab.kpr_maps(mode).items():
            for e in entries:
                sb.update_map(name, e.pack_key(), e.pack_value())
    except Exception:
        sb.close()
        raise
    return sb


@pytest.fixture
def vxlan_dp(mode_objects) -> Sandbox:
    sb = open_mode(mode_objects["vxlan"], "vxlan")
    yield sb
    sb.close()


@pytest.fixture
def native_dp(mode_objects) -> Sandbox:
    sb = open_mode(mode_objects["native"], "native")
    yield sb
    sb.close()


@pytest.fixture
def legacy_dp(mode_objects) -> Sandbox:
    sb = open_mode(mode_objects["legacy"], "legacy")
    yield sb
    sb.close()


@pytest.fixture(params=list(lab.MODES))
def any_dp(request, mode_objects) -> Sandbox:
    sb = open_mode(mode_objects[request.param], request.param)
    sb.mode = request.param
    yield sb
    sb.close()
