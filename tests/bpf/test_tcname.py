"""bpf/tcname.py names a tc BPF filter as Cilium's loader does (`cilium-eth0`), keeping
its program: tried on a real filter, in a network namespace of its own."""

import struct
import subprocess
from pathlib import Path

import pytest

from cnilab.bpf import tcname

PROG = '__attribute__((section("from-netdev"), used)) int f(void *ctx) { return 0; }\n' \
       'char _license[] __attribute__((section("license"), used)) = "GPL";\n'


def test_the_request_is_tc_replace_with_a_name():
    msg = tcname.request(ifindex=7, direction="egress", fd=9, name="cilium-eth0")
    length, kind, flags = struct.unpack_from("=IHH", msg)
    assert (length, kind, flags) == (len(msg), 44, 0x1 | 0x4 | 0x400)  # RTM_NEWTFILTER, request|ack|create
    family, ifindex, handle, parent, info = struct.unpack_from("=BxxxiIII", msg, 16)
    assert (ifindex, handle, parent, info >> 16) == (7, 1, 0xFFFFFFF3, 1)
    assert b"bpf\0" in msg and b"cilium-eth0\0" in msg


def test_prog_id_reads_tc_json():
    line = ('[{"protocol":"all","pref":1,"kind":"bpf","chain":0},{"protocol":"all","pref":1,"kind":"bpf",'
            '"chain":0,"options":{"handle":"0x1","bpf_name":"bpf_host.o:[from-netdev]","prog":{"id":42}}}]')
    assert tcname.prog_id(line) == 42
    assert tcname.prog_id("[]") is None


def _sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    # A network namespace and a bpffs of its own: tc's object loader makes its pin
    # directories (tc/globals, ip, xdp) in whatever bpffs it sees, never the machine's here.
    script = "mount -t bpf bpf /sys/fs/bpf\n" + script
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--net", "sh", "-ec", script],
                          cwd=cwd, capture_output=True, text=True)


def test_a_filter_gets_the_name_and_keeps_its_program(tmp_path):
    (tmp_path / "p.c").write_text(PROG)
    subprocess.run(["clang", "-O2", "-target", "bpf", "-c", "p.c", "-o", "bpf_host.o"], cwd=tmp_path, check=True)
    script = (
        "ip link set lo up; tc qdisc add dev lo clsact\n"
        "tc filter replace dev lo ingress pref 1 handle 1 bpf da obj bpf_host.o sec from-netdev\n"
        "tc -j filter show dev lo ingress\n"
        f"echo 'filter show dev lo ingress' | tc -j -batch - | python3 {tcname.__file__} lo ingress cilium-lo\n"
        "tc -j filter show dev lo ingress\n"
    )
    p = _sh(script, tmp_path)
    assert p.returncode == 0, p.stderr
    before, after = (l for l in p.stdout.splitlines() if l.startswith("["))
    assert "bpf_host.o:[from-netdev]" in before and '"bpf_name":"cilium-lo"' in after
    assert tcname.prog_id(before) == tcname.prog_id(after)  # the same program, renamed
    assert '"direct-action":true' in after


def test_a_hook_without_a_filter_is_an_error(tmp_path):
    p = _sh(f"echo 'filter show dev lo egress' | tc -j -batch - | python3 {tcname.__file__} lo egress cilium-lo", tmp_path)
    assert p.returncode == 1 and "no BPF filter on lo egress" in p.stderr
