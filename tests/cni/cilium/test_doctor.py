"""The doctor's reading of a real capture: the probe script's output on this project's
machine (kernel 6.18.44, tests/fixtures/doctor/probe-output.txt), which has no WireGuard and
no fq qdisc (CONFIG_WIREGUARD, CONFIG_NET_SCH_FQ unset, no modules), and whose bpftool 7.1
lists every helper for every program type; then a kernel made to lack things by editing it,
and one live run."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cnilab.cni.cilium import doctor

CAPTURE = (Path(__file__).parents[2] / "fixtures" / "doctor" / "probe-output.txt").read_text()

SEED_TABLE = [
    ("Bandwidth Manager", ">= 5.1"),
    ("Egress Gateway", ">= 5.2"),
    ("VXLAN Tunnel Endpoint (VTEP) Integration", ">= 5.2"),
    ("WireGuard Transparent Encryption", ">= 5.6"),
    ("Full support for Session Affinity", ">= 5.7"),
    ("BPF-based proxy redirection", ">= 5.7"),
    ("Socket-level LB bypass in pod netns", ">= 5.7"),
    ("L3 devices", ">= 5.8"),
    ("BPF-based host routing", ">= 5.10"),
    ("IPv6 BIG TCP support", ">= 5.19"),
    ("IPv4 BIG TCP support", ">= 6.3"),
]


def _by_name(output: str) -> dict[str, doctor.Feature]:
    return {f.name: f for f in doctor.parse(output)}


def _edit_section(output: str, name: str, edit) -> str:
    """The capture with one section's JSON body passed through `edit` (None drops it)."""
    head = f"{doctor.MARK} {name} "
    lines = output.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(head))
    j = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(doctor.MARK))
    data = edit(json.loads("\n".join(lines[i + 1 : j])))
    body = [] if data is None else [json.dumps(data)]
    kept = [] if data is None else [lines[i]]
    return "\n".join(lines[:i] + kept + body + lines[j:]) + "\n"


def _kernel_probes(edit):
    return _edit_section(CAPTURE, "kernel-probes", edit)


def test_the_table_is_the_seeds():
    assert [(f.name, f.minimum) for f in doctor.parse(CAPTURE)] == SEED_TABLE


def test_each_verdict_from_the_capture():
    got = _by_name(CAPTURE)
    assert {n: f.supported for n, f in got.items()} == {
        "Bandwidth Manager": False,  # the helper is there, the fq qdisc is not
        "Egress Gateway": True,
        "VXLAN Tunnel Endpoint (VTEP) Integration": True,
        "WireGuard Transparent Encryption": False,
        "Full support for Session Affinity": True,
        "BPF-based proxy redirection": True,
        "Socket-level LB bypass in pod netns": True,
        "L3 devices": True,
        "BPF-based host routing": True,
        "IPv6 BIG TCP support": True,
        "IPv4 BIG TCP support": True,
    }


def test_the_evidence_names_the_probe():
    got = _by_name(CAPTURE)
    assert got["WireGuard Transparent Encryption"].evidence == "ip link add type wireguard: Error: Unknown device type."
    assert got["Bandwidth Manager"].evidence == "tc qdisc replace root fq: Error: Specified qdisc kind is unknown."
    assert got["BPF-based host routing"].evidence == \
        "helper bpf_redirect_neigh for sched_cls; helper bpf_redirect_peer for sched_cls"
    assert got["Egress Gateway"].evidence == "a 4097-instruction program loads"
    assert got["IPv4 BIG TCP support"].evidence == "a veth takes gso_ipv4_max_size 196608 gro_ipv4_max_size 196608"


def test_the_release_and_the_table():
    assert doctor.kernel_release(CAPTURE) == "6.18.44-fc-v1045"
    table = doctor.format_table(doctor.parse(CAPTURE), doctor.kernel_release(CAPTURE)).splitlines()
    assert table[0].split(" | ") == ["Cilium Feature                          ", "Minimum Kernel Version",
                                     "This kernel (6.18.44-fc-v1045)"]
    rows = [[cell.strip() for cell in line.split(" | ")] for line in table[1:]]
    assert [(r[0], r[1]) for r in rows] == SEED_TABLE
    assert rows[3][2] == "no: ip link add type wireguard: Error: Unknown device type."
    assert rows[8][2] == "yes"


def test_a_kernel_without_bpf_redirect_peer_has_no_bpf_host_routing():
    # as a 5.4 kernel answers: the verifier does not know helper 155
    def drop(kp):
        kp["helpers"]["sched_cls"]["bpf_redirect_peer"] = {
            "errno": 22, "error": "Invalid argument", "verifier": "invalid func unknown#155"}
        return kp

    got = _by_name(_kernel_probes(drop))
    routing = got["BPF-based host routing"]
    assert not routing.supported
    assert routing.evidence == "helper bpf_redirect_peer for sched_cls: invalid func unknown#155"
    assert got["L3 devices"].supported and got["BPF-based proxy redirection"].supported


def test_a_helper_left_out_of_the_probes_is_not_taken_as_there():
    def drop(kp):
        del kp["helpers"]["sched_cls"]["bpf_redirect_peer"]
        return kp

    routing = _by_name(_kernel_probes(drop))["BPF-based host routing"]
    assert not routing.supported and "bpf_redirect_peer" in routing.evidence


def test_a_probe_that_cannot_say_no_decides_nothing():
    # the control: were kprobe allowed bpf_redirect_peer, "allowed" would mean nothing
    def accept_all(kp):
        kp["helpers"]["kprobe"]["bpf_redirect_peer"] = {"errno": 0, "error": "", "verifier": ""}
        return kp

    routing = _by_name(_kernel_probes(accept_all))["BPF-based host routing"]
    assert not routing.supported and "cannot tell" in routing.evidence


def test_without_python_bpftools_lists_are_refused_when_they_list_everything():
    # this bpftool (7.1) lists bpf_redirect_peer for kprobe on 6.18: its lists are unusable
    got = _by_name(_kernel_probes(lambda kp: None))
    routing = got["BPF-based host routing"]
    assert not routing.supported and "bpftool's lists are unusable here" in routing.evidence
    # its large-program probe does not read the verifier's wording: still used
    assert got["Egress Gateway"].supported
    assert got["Egress Gateway"].evidence == "bpftool: large program size limit present"


def test_without_python_a_sound_bpftool_list_decides():
    no_python = _kernel_probes(lambda kp: None)

    def sound_without_peer(bt):
        # a bpftool that can leave helpers out (kprobe lacks bpf_redirect_peer), on a kernel
        # without bpf_redirect_peer at all
        for prog, helpers in bt["helpers"].items():
            bt["helpers"][prog] = [h for h in helpers if h != "bpf_redirect_peer"]
        return bt

    got = _by_name(_edit_section(no_python, "bpftool", sound_without_peer))
    routing = got["BPF-based host routing"]
    assert not routing.supported
    assert routing.evidence == "helper bpf_redirect_peer for sched_cls: not in bpftool's list"
    assert got["L3 devices"].supported
    assert got["L3 devices"].evidence == "helper bpf_skb_change_head for sched_cls (bpftool)"


def test_a_kernel_before_6_3_has_ipv6_big_tcp_only():
    # before 6.3 lo has no IFLA_{GSO,GRO}_IPV4_MAX_SIZE and the veth ignores them
    def before_6_3(kp):
        for sizes in [kp["lo"], kp["big_tcp"]["ipv6"]["after"], kp["big_tcp"]["ipv4"]["after"]]:
            sizes["gso_ipv4_max_size"] = sizes["gro_ipv4_max_size"] = None
        return kp

    got = _by_name(_kernel_probes(before_6_3))
    assert got["IPv6 BIG TCP support"].supported
    assert not got["IPv4 BIG TCP support"].supported
    assert got["IPv4 BIG TCP support"].evidence == "lo reports no gso_ipv4_max_size, gro_ipv4_max_size"


def test_a_size_the_kernel_ignores_is_not_taken():
    def ignored(kp):
        kp["big_tcp"]["ipv4"]["after"]["gso_ipv4_max_size"] = 65536
        return kp

    big = _by_name(_kernel_probes(ignored))["IPv4 BIG TCP support"]
    assert not big.supported and "kept gso_ipv4_max_size 65536" in big.evidence


def test_no_namespace_no_verdicts():
    out = "\n".join([
        f"{doctor.MARK} kernel", "6.1.0",
        f"{doctor.MARK} step default_qdisc 0", "fq_codel",
        f"{doctor.MARK} namespace", "unshare: unshare failed: Operation not permitted",
        f"{doctor.MARK} unshare 1",
        f"{doctor.MARK} end",
    ])
    got = _by_name(out)
    assert not any(f.supported for f in got.values())
    assert got["WireGuard Transparent Encryption"].evidence == \
        "ip link add type wireguard: not probed: unshare: unshare failed: Operation not permitted"


def test_a_failing_script_is_an_error():
    with pytest.raises(doctor.DoctorError, match="sh: 1: unshare: not found"):
        doctor.doctor(lambda script: (127, "", "sh: 1: unshare: not found\n"))


def _local_run(script: str) -> tuple[int, str, str]:
    p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def _host_state() -> tuple[str, list[str], list[str]]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = sorted(line.split(": ")[1] for line in links.splitlines())
    bpf_mounts = [line for line in Path("/proc/mounts").read_text().splitlines() if "bpf" in line]
    return netns, names, bpf_mounts


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare")
def test_live_on_this_machine_leaves_nothing():
    before = _host_state()
    got = {f.name: f for f in doctor.doctor(_local_run)}
    assert _host_state() == before
    assert not got["WireGuard Transparent Encryption"].supported
    assert "wireguard" in got["WireGuard Transparent Encryption"].evidence
    assert got["BPF-based host routing"].supported
