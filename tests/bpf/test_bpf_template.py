"""Template objects: one compile per program and mode, each node's and endpoint's object the
template with its CONFIG values written in, equal to what its own headers compile to."""
from __future__ import annotations

import dataclasses

import pytest

import bpf_lab as lab
from cnilab.bpf import compile as bpf_compile
from cnilab.bpf import template
from cnilab.cni.cilium.sources import SOURCES, build_object, compile_object
from cnilab.cni.cilium.bpfconfig import ep_config_vars, node_config_vars
from cnilab.cni.cilium.headers import render_ep_config, render_node_config

needs_clang = pytest.mark.skipif(bpf_compile.shutil.which("clang") is None, reason="needs clang")

# Another node and another endpoint: every CONFIG value differs from bpf_lab's.
OTHER_NODE = dataclasses.replace(
    lab.NODE, node_name="kind-worker7", node_ip="172.18.0.9", node_mac="02:42:ac:12:00:09", router_ip="10.0.7.31",
    pod_cidr="10.0.7.0/24", host_ifindex=13, host_mac="6e:2a:1d:3c:4b:77", net_ifindex=12, encap_ifindex=14,
    native_ifindex=15,
)  # fmt: skip
OTHER_POD = dataclasses.replace(
    lab.POD_B, lxc_id=77, ip="10.0.7.20", mac="0a:58:0a:00:07:14", node_mac="0e:4f:10:00:07:14", ifindex=21,
    identity=4242, ifname="lxc777777777777",
)  # fmt: skip


def _parts(program: str, node, ep=None) -> tuple[dict, dict, dict]:
    headers = {"node_config.h": render_node_config(node)}
    tmpl = {"node_config.h": render_node_config(node, template=True)}
    values = {k: v.raw for k, v in node_config_vars(node).items()}
    if program == "bpf_lxc":
        headers["ep_config.h"] = render_ep_config(node, ep)
        tmpl["ep_config.h"] = render_ep_config(node, ep, template=True)
        values |= {k: v.raw for k, v in ep_config_vars(ep).items()}
    return headers, tmpl, values


def _sections(data: bytes) -> dict[str, bytes]:
    """Every section but debug info, whose include paths name the compile's build directory."""
    f = template._EHDR.unpack_from(data)
    shoff, shentsize, shnum, shstrndx = f[6], f[11], f[12], f[13]
    secs = [template._SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    names = data[secs[shstrndx][4] : secs[shstrndx][4] + secs[shstrndx][5]]
    out = {}
    for s in secs:
        name = template._cstr(names, s[0])
        if not name.startswith((".debug", ".rel.debug")):
            out[name] = data[s[4] : s[4] + s[5]] if s[1] != 8 else b""  # SHT_NOBITS holds no bytes
    return out


def test_template_headers_are_the_same_for_every_node_and_endpoint():
    assert render_node_config(lab.NODE, template=True) == render_node_config(OTHER_NODE, template=True)
    assert render_ep_config(lab.NODE, lab.POD_A, template=True) == render_ep_config(OTHER_NODE, OTHER_POD, template=True)
    t = render_node_config(lab.NODE, template=True)
    assert "DECLARE_CONFIG(__be32, node_ipv4, {0})" in t.splitlines()
    assert "172.18.0.3" not in t and "kind-worker" not in t
    # The modes stay compiled in: a template per mode.
    assert render_node_config(lab.mode_node("vxlan"), template=True) != t


@needs_clang
@pytest.mark.parametrize("mode", [None, *lab.MODES])
@pytest.mark.parametrize("program", ["bpf_host", "bpf_overlay", "bpf_lxc"])
def test_patched_template_equals_the_direct_compile(fresh_cache, program, mode):
    node = lab.mode_node(mode) if mode else lab.NODE
    node = dataclasses.replace(OTHER_NODE, **{f: getattr(node, f) for f in ("tunnel", "kube_proxy_replacement", "bpf_masquerade", "host_routing_bpf", "snat_exclusion_cidr")})
    headers, tmpl, values = _parts(program, node, OTHER_POD)
    direct = compile_object(program, headers).read_bytes()
    patched = template.patch(compile_object(program, tmpl).read_bytes(), values)
    assert _sections(patched) == _sections(direct)
    config = template.config_symbols(patched)
    assert {k: patched[o : o + n] for k, (o, n) in config.items()} == values


@needs_clang
def test_build_object_compiles_each_program_once_for_many_nodes(fresh_cache, monkeypatch):
    runs = []
    real_run = bpf_compile.subprocess.run
    monkeypatch.setattr(bpf_compile.subprocess, "run", lambda cmd, **kw: runs.append(cmd) or real_run(cmd, **kw))
    built = set()
    for node, ep in [(lab.NODE, lab.POD_A), (lab.NODE, lab.POD_B), (OTHER_NODE, OTHER_POD)]:
        for program in ("bpf_host", "bpf_overlay", "bpf_lxc"):
            headers, tmpl, values = _parts(program, node, ep)
            obj = build_object(program, headers, tmpl, values)
            # Stored as the direct compile would be: under its headers' digest, headers beside it.
            assert obj.parent.name == SOURCES.target(program, headers).parent.name
            assert (obj.parent / "node_config.h").read_text() == headers["node_config.h"]
            built.add(obj)
    clang = [c for c in runs if c[0].endswith("clang")]
    assert len(clang) == 3, clang
    assert len(built) == 2 * 2 + 3  # host+overlay share a directory per node; one lxc per endpoint
    monkeypatch.setattr(bpf_compile.subprocess, "run", lambda *a, **k: pytest.fail("cache hit expected"))
    headers, tmpl, values = _parts("bpf_lxc", OTHER_NODE, OTHER_POD)
    assert build_object("bpf_lxc", headers, tmpl, values) in built


@needs_clang
def test_patch_refuses_what_does_not_fit(fresh_cache):
    headers, tmpl, values = _parts("bpf_overlay", lab.NODE)
    data = compile_object("bpf_overlay", tmpl).read_bytes()
    with pytest.raises(template.TemplateError, match="missing \\['encap_ifindex'\\]"):
        template.patch(data, {k: v for k, v in values.items() if k != "encap_ifindex"})
    with pytest.raises(template.TemplateError, match="not in the object \\['sec_label'\\]"):
        template.patch(data, values | {"sec_label": b"\0" * 4})
    with pytest.raises(template.TemplateError, match="host_mac: 6 bytes given, the object holds 8"):
        template.patch(data, values | {"host_mac": b"\1" * 6})
    with pytest.raises(template.TemplateError, match="not a template"):
        template.patch(compile_object("bpf_overlay", headers).read_bytes(), values)
