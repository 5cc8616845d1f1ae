"""Give tc BPF filters the name Cilium 1.13's loader gives them (``cilium-eth0``).

iproute2 names a filter after its object (``bpf_host.o:[from-netdev]``) or its pin
(``x:[*fsobj]``) and has no option for a name of one's own; Cilium 1.13 attaches through
netlink with ``Name: "cilium-<ifname>"`` (pkg/datapath/loader/netlink.go). So the lab lets
tc load the object (its maps are pinned as iproute2 pins them) and then replaces the filter
with the same program under that name: ``BPF_PROG_GET_FD_BY_ID`` and one
``RTM_NEWTFILTER`` with ``TCA_BPF_NAME``. The program id does not change.

It runs in the node (``python3 -c``; no cnilab there), reading ``tc -j -batch`` output on
stdin, one ``filter show`` line per hook, with ``DEV DIRECTION NAME`` triples as arguments
in the same order. This file has no imports from cnilab for that reason.
"""

import ctypes
import json
import os
import platform
import socket
import struct
import sys

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280}
_BPF_PROG_GET_FD_BY_ID = 13
_RTM_NEWTFILTER = 44
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_CREATE = 0x1, 0x4, 0x400
_NLMSG_ERROR = 2
_TCA_KIND, _TCA_OPTIONS = 1, 2
_TCA_BPF_FD, _TCA_BPF_NAME, _TCA_BPF_FLAGS = 6, 7, 8
_TCA_BPF_FLAG_ACT_DIRECT = 1
_PARENT = {"ingress": 0xFFFFFFF2, "egress": 0xFFFFFFF3}  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*)
_PREF, _HANDLE = 1, 1  # as attached: `pref 1 handle 1`, what Cilium uses
_ETH_P_ALL = 0x0003


def _prog_fd(prog_id: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(struct.pack("=III", prog_id, 0, 0))
    fd = libc.syscall(_SYS_BPF[platform.machine()], _BPF_PROG_GET_FD_BY_ID, attr, len(attr.raw))
    if fd < 0:
        raise OSError(ctypes.get_errno(), f"BPF_PROG_GET_FD_BY_ID {prog_id}: {os.strerror(ctypes.get_errno())}")
    return fd


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def request(ifindex: int, direction: str, fd: int, name: str, seq: int = 1) -> bytes:
    """The RTM_NEWTFILTER message `tc filter replace dev X DIRECTION pref 1 handle 1 bpf da`
    would send for the program behind ``fd``, with ``name`` as TCA_BPF_NAME."""
    info = (_PREF << 16) | socket.htons(_ETH_P_ALL)
    tcmsg = struct.pack("=BxxxiIII", socket.AF_UNSPEC, ifindex, _HANDLE, _PARENT[direction], info)
    options = (
        _attr(_TCA_BPF_FD, struct.pack("=I", fd))
        + _attr(_TCA_BPF_NAME, name.encode() + b"\0")
        + _attr(_TCA_BPF_FLAGS, struct.pack("=I", _TCA_BPF_FLAG_ACT_DIRECT))
    )
    body = tcmsg + _attr(_TCA_KIND, b"bpf\0") + _attr(_TCA_OPTIONS, options)
    flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE  # what `tc filter replace` sends
    return struct.pack("=IHHII", 16 + len(body), _RTM_NEWTFILTER, flags, seq, 0) + body


def prog_id(tc_json: str) -> int | None:
    """The program id of the one BPF filter in a `tc -j filter show dev X DIRECTION` line."""
    for f in json.loads(tc_json or "[]"):
        prog = (f.get("options") or {}).get("prog") or {}
        if prog.get("id"):
            return int(prog["id"])
    return None


def rename(sock: socket.socket, dev: str, direction: str, pid: int, name: str, seq: int) -> None:
    fd = _prog_fd(pid)
    try:
        sock.send(request(socket.if_nametoindex(dev), direction, fd, name, seq))
        reply = sock.recv(65536)
    finally:
        os.close(fd)
    kind = struct.unpack_from("=H", reply, 4)[0]
    error = struct.unpack_from("=i", reply, 16)[0] if kind == _NLMSG_ERROR else 0
    if error:
        raise OSError(-error, f"{dev} {direction}: naming the filter {name}: {os.strerror(-error)}")


def main(argv: list[str]) -> int:
    triples = [argv[i : i + 3] for i in range(0, len(argv), 3)]
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if len(lines) != len(triples) or any(len(t) != 3 for t in triples):
        print(f"tcname: {len(lines)} tc lines for {len(triples)} hooks", file=sys.stderr)
        return 2
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        for seq, ((dev, direction, name), line) in enumerate(zip(triples, lines), 1):
            pid = prog_id(line)
            if pid is None:
                print(f"tcname: no BPF filter on {dev} {direction}", file=sys.stderr)
                return 1
            try:
                rename(sock, dev, direction, pid, name, seq)
            except OSError as e:
                print(f"tcname: {e.strerror}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
