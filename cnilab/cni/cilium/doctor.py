"""Which of Cilium's kernel-dependent features a machine's kernel supports (seed 004's table,
"Cilium Feature | Minimum Kernel Version"), each decided by probing the running kernel as the
Cilium agent does, never from the version number (vendors backport; configs leave things out).

What Cilium itself checks (cilium/cilium, v1.13/v1.14, the docs version of the seed's table):

- Bandwidth Manager: pkg/bandwidth ProbeBandwidthManager, HaveProgramHelper(SchedCLS,
  FnSkbEcnSetCe) and net.core.default_qdisc readable; InitBandwidthManager then installs fq on
  the devices (mq with fq leaves, else fq) and stops the agent when it cannot.
- Egress Gateway: pkg/egressgateway manager.go, the manager's OnStart hook,
  HaveLargeInstructionLimit ("egress gateway needs kernel 5.2 or newer").
- VTEP: pkg/datapath/linux/requirements.go CheckMinRequirements (with EnableVTEP),
  HaveLargeInstructionLimit.
- WireGuard: pkg/wireguard/agent Init, netlink.LinkAdd(&netlink.Wireguard{...}); EOPNOTSUPP
  is "wireguard not supported by the Linux kernel".
- Session affinity: daemon/cmd kube_proxy_replacement.go probeKubeProxyReplacementOptions,
  FnGetNetnsCookie for CGroupSock and CGroupSockAddr.
- BPF-based proxy redirection: daemon_main.go (EnableBPFTProxy), HaveProgramHelper(SchedCLS,
  FnSkAssign) (Cilium before 1.14 asked bpftool's sched_act list: same kernel commit).
- Socket-level LB bypass in pod netns: kube_proxy_replacement.go (BPFSocketLBHostnsOnly),
  FnGetNetnsCookie for CGroupSockAddr.
- L3 devices: daemon/cmd devices.go / pkg/datapath/linux devices controller supportL3Dev,
  HaveProgramHelper(SchedCLS, FnSkbChangeHead): tc programs may call bpf_skb_change_head
  from 5.8 (kernel 6f3f65d80dac), which bpf_host uses to push an L2 header onto packets of
  devices that have none.
- BPF host routing: kube_proxy_replacement.go finishKubeProxyReplacementInit, FnRedirectNeigh
  and FnRedirectPeer for SchedCLS.
- BIG TCP: pkg/datapath/linux/bigtcp, lo's IFLA_TSO_MAX_SIZE (IPv6) and
  IFLA_{GSO,GRO}_IPV4_MAX_SIZE (IPv4) present, then gso/gro max sizes of 196608 set on the
  devices (a failure disables BIG TCP).

Helper availability is decided by loading a program calling the helper, as cilium/ebpf's
features.HaveProgramHelper does (accepted, or EACCES for badly set-up arguments: available;
EINVAL: not), not from `bpftool feature probe`'s lists: bpftool 7.1 (libbpf 1.1) only knows
the verifier's old "unknown func" wording, and kernels that say "program of this type cannot
use helper" get every helper listed for every program type (6.18 lists bpf_redirect_peer for
kprobe). bpftool's JSON is still taken once, for its large-program probe and as the fallback
when python3 is missing, and only when its lists pass that same kprobe check.

Every probe that makes devices runs in a throwaway network (and mount) namespace: when the
script ends, the namespace and all it holds are gone; programs loaded are freed when their
fd closes. Module autoloading (wireguard, sch_fq, veth) is the kernel's, as for the agent.
"""

from __future__ import annotations

import errno
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

MARK = "#cnilab-doctor"
VETH, VETH_PEER = "cdoc0", "cdoc1"
BIG_TCP_SIZE = 196608  # bigTCPGSOMaxSize / bigTCPGROMaxSize in Cilium's bigtcp.go


class DoctorError(RuntimeError):
    """The probe script could not run on the machine at all."""


@dataclass(frozen=True)
class Feature:
    name: str
    minimum: str  # as in the seed's table: ">= 5.1"
    supported: bool
    evidence: str


# A check's outcome: whether it passed, and what the probe saw.
Check = tuple[bool, str]


# ---------------------------------------------------------------- what runs on the machine

# (program type number, expected attach type) as cilium/ebpf loads its helper probes:
# cgroup/sock_addr needs an attach type (it uses inet4_connect), cgroup/sock takes sock_create.
PROG_TYPES = {
    "kprobe": (2, 0),
    "sched_cls": (3, 0),
    "cgroup_sock": (9, 2),
    "cgroup_sock_addr": (18, 10),
}

# enum bpf_func_id (include/uapi/linux/bpf.h): fixed by the ABI.
HELPER_IDS = {
    "bpf_skb_change_head": 43,
    "bpf_skb_ecn_set_ce": 97,
    "bpf_get_netns_cookie": 122,
    "bpf_sk_assign": 124,
    "bpf_redirect_neigh": 152,
    "bpf_redirect_peer": 155,
}

# No kernel lets a kprobe redirect a packet: a probe that says it can cannot say "no".
CONTROL = ("kprobe", "bpf_redirect_peer")

# Shell steps (command, what the evidence calls it). net.core.default_qdisc exists in the
# initial network namespace only: read there (read only), as the agent does.
HOST_STEPS = {
    "default_qdisc": ("cat /proc/sys/net/core/default_qdisc", "read net.core.default_qdisc"),
}
# In the throwaway namespace, in order: the veth is used by fq and by the BIG TCP probes.
NS_STEPS = {
    "veth": (f"ip link add {VETH} type veth peer name {VETH_PEER}", "ip link add type veth"),
    "fq": (f"tc qdisc replace dev {VETH} root fq", "tc qdisc replace root fq"),
    "wireguard": ("ip link add cilium_wg0 type wireguard", "ip link add type wireguard"),
}
STEPS = {**HOST_STEPS, **NS_STEPS}

# Runs inside the namespaces (python3 -c SRC SPEC): bpf(BPF_PROG_LOAD) and rtnetlink through
# the syscalls, since iproute2 6.1 neither shows nor sets the IPv4 GSO/GRO sizes. Prints one
# JSON line.
KERNEL_PROBES = r'''
import ctypes, json, os, platform, socket, struct, sys

spec = json.loads(sys.argv[1])
SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "loongarch64": 280, "s390x": 351,
           "ppc64le": 361, "ppc64": 361, "armv7l": 386, "i686": 357, "i386": 357}
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def insn(code, imm=0):
    return struct.pack("=BBhi", code, 0, 0, imm)


def verifier_line(log):
    # the reason the verifier gives: its last line that is neither an instruction nor the stats
    lines = [l for l in log.splitlines() if l and not l.startswith("processed ")
             and not (l.split(":")[0].isdigit() and ": (" in l)]
    return lines[-1] if lines else ""


def prog_load(prog_type, insns, attach=0, log=True):
    nr = SYS_BPF.get(platform.machine())
    if nr is None:
        return {"errno": 38, "error": "no bpf syscall number for " + platform.machine(), "verifier": ""}
    code = b"".join(insns)
    text = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    vlog = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("=IIQQIIQ", attr, 0, prog_type, len(insns), ctypes.addressof(text),
                     ctypes.addressof(lic), int(log), len(vlog) if log else 0,
                     ctypes.addressof(vlog) if log else 0)
    struct.pack_into("=I", attr, 68, attach)  # expected_attach_type
    fd = libc.syscall(nr, 5, attr, ctypes.sizeof(attr))  # BPF_PROG_LOAD
    err = 0 if fd >= 0 else ctypes.get_errno()
    if fd >= 0:
        os.close(fd)
    return {"errno": err, "error": os.strerror(err) if err else "",
            "verifier": verifier_line(vlog.value.decode(errors="replace"))}


def helper(prog_type, attach, fn):
    # what cilium/ebpf loads: call the helper, return 0
    return prog_load(prog_type, [insn(0x85, fn), insn(0xb7), insn(0x95)], attach)


def large_insns():
    # cilium/ebpf HaveLargeInstructions: BPF_MAXINSNS (4096) + 1 instructions, socket filter
    return dict(prog_load(1, [insn(0xb7, 1)] * 4096 + [insn(0x95)], log=False), insns=4097)


IFLA = {"gso_max_size": 41, "gro_max_size": 58, "tso_max_size": 59,
        "gso_ipv4_max_size": 63, "gro_ipv4_max_size": 64}


def rtnl(msg_type, flags, index, attrs=b""):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    try:
        body = struct.pack("=BxHiII", 0, 0, index, 0, 0) + attrs
        s.send(struct.pack("=IHHII", 16 + len(body), msg_type, flags, 1, 0) + body)
        data = s.recv(1 << 16)
    finally:
        s.close()
    length, typ = struct.unpack_from("=IH", data)
    if typ == 2:  # NLMSG_ERROR: 0 is the ack
        return -struct.unpack_from("=i", data, 16)[0], {}
    found, i, raw = {}, 0, data[32:length]
    while i + 4 <= len(raw):
        n, t = struct.unpack_from("=HH", raw, i)
        if n < 4:
            break
        if n == 8:
            found[t & 0x3FFF] = struct.unpack_from("=I", raw, i + 4)[0]
        i += (n + 3) & ~3
    return 0, found


def sizes(index):
    err, found = rtnl(18, 1, index)  # RTM_GETLINK
    return {name: found.get(nr) for name, nr in IFLA.items()}


def set_sizes(index, names, value):
    attrs = b"".join(struct.pack("=HHI", 8, IFLA[n], value) for n in names)
    err, _ = rtnl(16, 1 | 4, index, attrs)  # RTM_NEWLINK, NLM_F_REQUEST|NLM_F_ACK
    return {"errno": err, "error": os.strerror(err) if err else "", "after": sizes(index)}


def big_tcp(veth, size):
    # IPv6 first: the kernel resets the IPv4 sizes when gso/gro_max_size drop to 64K or less
    try:
        index = socket.if_nametoindex(veth)
    except OSError as e:
        return {"error": "no %s: %s" % (veth, e.strerror)}
    return {"ipv6": set_sizes(index, ["gso_max_size", "gro_max_size"], size),
            "ipv4": set_sizes(index, ["gso_ipv4_max_size", "gro_ipv4_max_size"], size)}


def guarded(probe, *args):
    # one probe failing leaves the others readable
    try:
        return probe(*args)
    except Exception as e:
        return {"errno": -1, "error": "%s: %s" % (type(e).__name__, e), "verifier": ""}


out = {"helpers": {}}
for prog, prog_type, attach, name, fn in spec["helpers"]:
    out["helpers"].setdefault(prog, {})[name] = guarded(helper, prog_type, attach, fn)
out["large_insns"] = guarded(large_insns)
out["lo"] = guarded(lambda: sizes(socket.if_nametoindex("lo")))
out["big_tcp"] = guarded(big_tcp, spec["veth"], spec["size"])
print(json.dumps(out, sort_keys=True))
'''


def _step_lines(steps: dict) -> list[str]:
    """Each step's output under a header naming it and its exit status."""
    return [f"out=$({cmd} 2>&1); echo '{MARK} step {key}' \"$?\"; printf '%s\\n' \"$out\""
            for key, (cmd, _) in steps.items()]


def _helper_spec() -> list[list]:
    """The (program type, helper) pairs the features need, and the control."""
    pairs = sorted({(c.prog, c.name) for row in ROWS for c in row.checks if isinstance(c, Helper)} | {CONTROL})
    return [[prog, *PROG_TYPES[prog], name, HELPER_IDS[name]] for prog, name in pairs]


def _inner_script() -> str:
    """What runs inside the throwaway namespaces."""
    spec = json.dumps({"helpers": _helper_spec(), "veth": VETH, "size": BIG_TCP_SIZE})
    return "\n".join([
        *_step_lines(NS_STEPS),
        # bpftool feature probe loads and frees test programs and pins nothing: inside the
        # namespaces all the same, so that whatever a bpftool version might leave goes too
        f"out=$(bpftool -j feature probe kernel 2>&1); echo '{MARK} bpftool' \"$?\"; printf '%s\\n' \"$out\"",
        # python3 as the node operations find it (a pyenv shim first on PATH is not wanted)
        'py=/usr/bin/python3; [ -x "$py" ] || py=python3',
        f'out=$("$py" -c {shlex.quote(KERNEL_PROBES)} {shlex.quote(spec)} 2>&1); '
        f"echo '{MARK} kernel-probes' \"$?\"; printf '%s\\n' \"$out\"",
    ])


def probe_script() -> str:
    """One shell script running every probe; sections of output, each under a `#cnilab-doctor`
    header line (name, exit status)."""
    return "\n".join([
        f"echo '{MARK} kernel'; uname -r",
        *_step_lines(HOST_STEPS),
        # a fresh net namespace for the devices, a private mount namespace so that nothing
        # mounted by a probe outlives it; unshare's own complaint lands under "namespace"
        f"echo '{MARK} namespace'",
        f"unshare --mount --propagation private --net sh -c {shlex.quote(_inner_script())} 2>&1",
        f"echo '{MARK} unshare' \"$?\"",
        f"echo '{MARK} end'",
    ])


# ---------------------------------------------------------------- reading what it printed

@dataclass
class Section:
    rc: int | None
    body: str


@dataclass
class Probes:
    """The probe script's output, by section."""

    sections: dict[str, Section] = field(default_factory=dict)

    def body(self, name: str) -> str | None:
        s = self.sections.get(name)
        return s.body if s else None

    def json(self, name: str) -> dict | None:
        s = self.sections.get(name)
        if not s or s.rc != 0:
            return None
        try:
            return json.loads(s.body)
        except ValueError:
            return None

    def why_missing(self, name: str) -> str:
        """Why a section has nothing usable: its own output, or the namespace's failure."""
        s = self.sections.get(name)
        if s is not None:
            return _last_line(s.body) or f"exit status {s.rc}"
        ns = self.sections.get("unshare")
        if ns is not None and ns.rc:
            said = _last_line(self.body("namespace") or "") or f"unshare: exit status {ns.rc}"
            return f"not probed: {said}"
        return "not probed"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _last_line(text: str) -> str:
    """A command's complaint (a traceback's is its last line)."""
    return _first_line("\n".join(reversed(text.splitlines())))


def sections(output: str) -> Probes:
    """Split the output on its header lines."""
    probes, name, rc, lines = Probes(), None, None, []
    for line in output.splitlines() + [f"{MARK} end"]:
        if line.startswith(MARK + " "):
            if name is not None:
                probes.sections[name] = Section(rc, "\n".join(lines).strip("\n"))
            words = line[len(MARK) + 1:].split()
            name = " ".join(w for w in words if not w.lstrip("-").isdigit())
            rc = next((int(w) for w in words if w.lstrip("-").isdigit()), None)
            lines = []
        else:
            lines.append(line)
    return probes


def kernel_release(output: str) -> str:
    return _first_line(sections(output).body("kernel") or "") or "unknown"


# ---------------------------------------------------------------- checks

def _direct_helper(probes: Probes, prog: str, name: str) -> Check | None:
    """The load of a program calling the helper (cilium/ebpf's semantics), None when there is
    no direct probe to read."""
    kp = probes.json("kernel-probes")
    if kp is None:
        return None
    helpers = kp.get("helpers", {})
    cprog, cname = CONTROL
    control = helpers.get(cprog, {}).get(cname)
    if control is None:
        return False, f"helper probe cannot tell: its control ({cname} for {cprog}) was not probed"
    if control["errno"] in (0, errno.EACCES):
        return False, f"helper probe cannot tell: {cprog} was allowed {cname}"
    got = helpers.get(prog, {}).get(name)
    if got is None:
        return False, f"helper {name} for {prog}: not probed"
    if got["errno"] in (0, errno.EACCES):
        return True, f"helper {name} for {prog}"
    why = got.get("verifier") or got.get("error") or f"errno {got['errno']}"
    return False, f"helper {name} for {prog}: {why}"


def _bpftool_helper(probes: Probes, prog: str, name: str) -> Check:
    """bpftool's list, only when it passes the control (it can leave a helper out)."""
    bt = probes.json("bpftool")
    if bt is None:
        return False, f"helper {name} for {prog}: no probe (python3: {probes.why_missing('kernel-probes')}; " \
                      f"bpftool: {probes.why_missing('bpftool')})"
    lists = bt.get("helpers", {})
    cprog, cname = CONTROL
    if cname in lists.get(f"{cprog}_available_helpers", []):
        return False, f"helper {name} for {prog}: bpftool's lists are unusable here (they give {cprog} {cname})"
    if name in lists.get(f"{prog}_available_helpers", []):
        return True, f"helper {name} for {prog} (bpftool)"
    return False, f"helper {name} for {prog}: not in bpftool's list"


@dataclass(frozen=True)
class Helper:
    """HaveProgramHelper(prog, name)."""

    prog: str
    name: str

    def decide(self, probes: Probes) -> Check:
        return _direct_helper(probes, self.prog, self.name) or _bpftool_helper(probes, self.prog, self.name)


@dataclass(frozen=True)
class Step:
    """A shell step that must succeed: what it did, or what it answered."""

    key: str

    def decide(self, probes: Probes) -> Check:
        label = STEPS[self.key][1]
        s = probes.sections.get(f"step {self.key}")
        if s is not None and s.rc == 0:
            return True, label
        return False, f"{label}: {probes.why_missing(f'step {self.key}')}"


@dataclass(frozen=True)
class LargeInsns:
    """HaveLargeInstructionLimit: a program of 4097 instructions loads (4096 was the limit)."""

    def decide(self, probes: Probes) -> Check:
        kp = probes.json("kernel-probes")
        if kp is not None and "large_insns" in kp:
            got, insns = kp["large_insns"], kp["large_insns"].get("insns", 4097)
            if got["errno"] == 0:
                return True, f"a {insns}-instruction program loads"
            return False, f"a {insns}-instruction program: {got['error']}"
        bt = probes.json("bpftool")
        if bt is not None and "have_large_insn_limit" in bt.get("misc", {}):
            ok = bt["misc"]["have_large_insn_limit"]
            return ok, f"bpftool: large program size limit {'present' if ok else 'absent'}"
        return False, f"large programs: not probed ({probes.why_missing('kernel-probes')})"


@dataclass(frozen=True)
class BigTcp:
    """Cilium's bigtcp: lo reports the attributes (haveIPv6MaxSize / haveIPv4MaxSize), and a
    device takes the BIG TCP sizes (here the veth; read back, as an unknown attribute is
    ignored by older kernels rather than refused)."""

    family: str  # "ipv6" | "ipv4"

    @property
    def names(self) -> tuple[str, ...]:
        if self.family == "ipv6":
            return "gso_max_size", "gro_max_size"
        return "gso_ipv4_max_size", "gro_ipv4_max_size"

    @property
    def lo_attrs(self) -> tuple[str, ...]:
        return ("tso_max_size",) if self.family == "ipv6" else self.names

    def decide(self, probes: Probes) -> Check:
        kp = probes.json("kernel-probes")
        if kp is None:
            return False, f"not probed ({probes.why_missing('kernel-probes')})"
        lo = kp.get("lo", {})
        if lo.get("errno"):
            return False, f"lo: {lo['error']}"
        missing = [a for a in self.lo_attrs if not lo.get(a)]
        if missing:
            return False, f"lo reports no {', '.join(missing)}"
        got = kp.get("big_tcp", {})
        if "error" in got:
            return False, got["error"]
        res = got.get(self.family, {})
        setting = " ".join(f"{n} {BIG_TCP_SIZE}" for n in self.names)
        if res.get("errno"):
            return False, f"ip link set {setting}: {res['error']}"
        kept = {n: res.get("after", {}).get(n) for n in self.names}
        if any(v != BIG_TCP_SIZE for v in kept.values()):
            return False, f"ip link set {setting}: the veth kept " + ", ".join(f"{n} {v}" for n, v in kept.items())
        return True, f"a veth takes {setting}"


# ---------------------------------------------------------------- the table

@dataclass(frozen=True)
class Row:
    name: str
    minimum: str
    checks: tuple


ROWS = (
    Row("Bandwidth Manager", ">= 5.1", (Helper("sched_cls", "bpf_skb_ecn_set_ce"), Step("default_qdisc"), Step("veth"), Step("fq"))),
    Row("Egress Gateway", ">= 5.2", (LargeInsns(),)),
    Row("VXLAN Tunnel Endpoint (VTEP) Integration", ">= 5.2", (LargeInsns(),)),
    Row("WireGuard Transparent Encryption", ">= 5.6", (Step("wireguard"),)),
    Row("Full support for Session Affinity", ">= 5.7",
        (Helper("cgroup_sock", "bpf_get_netns_cookie"), Helper("cgroup_sock_addr", "bpf_get_netns_cookie"))),
    Row("BPF-based proxy redirection", ">= 5.7", (Helper("sched_cls", "bpf_sk_assign"),)),
    Row("Socket-level LB bypass in pod netns", ">= 5.7", (Helper("cgroup_sock_addr", "bpf_get_netns_cookie"),)),
    Row("L3 devices", ">= 5.8", (Helper("sched_cls", "bpf_skb_change_head"),)),
    Row("BPF-based host routing", ">= 5.10", (Helper("sched_cls", "bpf_redirect_neigh"), Helper("sched_cls", "bpf_redirect_peer"))),
    Row("IPv6 BIG TCP support", ">= 5.19", (BigTcp("ipv6"),)),
    Row("IPv4 BIG TCP support", ">= 6.3", (BigTcp("ipv4"),)),
)


def decide(row: Row, probes: Probes) -> Feature:
    """Supported when every check passes; the evidence is the first failure, else all passes."""
    results = [c.decide(probes) for c in row.checks]
    failed = [why for ok, why in results if not ok]
    evidence = failed[0] if failed else "; ".join(why for _, why in results)
    return Feature(row.name, row.minimum, not failed, evidence)


def parse(output: str) -> list[Feature]:
    probes = sections(output)
    return [decide(row, probes) for row in ROWS]


PROBE_SCRIPT = probe_script()

Run = Callable[[str], tuple[int, str, str]]


def probe(run: Run) -> str:
    """The probe script's output from the machine `run` reaches."""
    rc, out, err = run(PROBE_SCRIPT)
    if rc != 0 or f"{MARK} kernel" not in out:
        raise DoctorError(f"the probe script failed (exit status {rc}): {_first_line(err) or _first_line(out)}")
    return out


def doctor(run: Run) -> list[Feature]:
    return parse(probe(run))


def format_table(features: list[Feature], kernel_release: str, evidence: bool = False) -> str:
    """The seed's table with a column for this kernel: "yes", or "no: <why>" (with evidence,
    what decided "yes" too)."""
    head = ("Cilium Feature", "Minimum Kernel Version", f"This kernel ({kernel_release})")
    rows = [(f.name, f.minimum, _verdict(f, evidence)) for f in features]
    w0 = max(len(r[0]) for r in [head, *rows])
    w1 = max(len(r[1]) for r in [head, *rows])
    return "\n".join(f"{a:<{w0}} | {b:<{w1}} | {c}".rstrip() for a, b, c in [head, *rows])


def _verdict(f: Feature, evidence: bool) -> str:
    if not f.supported:
        return f"no: {f.evidence}"
    return f"yes: {f.evidence}" if evidence else "yes"
