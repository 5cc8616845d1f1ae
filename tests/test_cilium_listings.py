"""Cilium's listings and status lines against seed 000's real text (Cilium 1.13.0-rc5 on
kind): the same inputs give the same lines, character for character (trailing spaces
included); where the seed shows no text (the endpoint list) against Cilium 1.13's format
strings (pkg/maps/lxcmap, cilium/cmd TablePrinter)."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from cnilab.cni.cilium import identity, listing, maps
from cnilab.cni.cilium.status import IPV4_ONLY, expected_status, format_status, ipam_line
from cnilab.cli import main
from cnilab.model import load_lab

# seed 000, `cilium status` (lines 141 and 145 of the article; line 141 ends in a space)
SEED_IPAM = "IPAM:                    IPv4: 3/254 allocated from 10.0.0.0/24, "
SEED_MASQ = "Masquerading:            BPF   [eth0]   10.0.0.0/24 [IPv4: Enabled, IPv6: Disabled]"

# seed 000, `cilium identity list`
SEED_IDENTITIES = """\
ID      LABELS
1       reserved:host
2       reserved:world
3       reserved:unmanaged
4       reserved:health
5       reserved:init
6       reserved:remote-node
7       reserved:kube-apiserver
        reserved:remote-node
8       reserved:ingress
3178    k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=kube-system
        k8s:io.cilium.k8s.policy.cluster=cilium-kubeproxy-replacement-ebpf-vxlan
        k8s:io.cilium.k8s.policy.serviceaccount=coredns
        k8s:io.kubernetes.pod.namespace=kube-system
        k8s:k8s-app=kube-dns
32359   k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default
        k8s:io.cilium.k8s.policy.cluster=cilium-kubeproxy-replacement-ebpf-vxlan
        k8s:io.cilium.k8s.policy.serviceaccount=default
        k8s:io.kubernetes.pod.namespace=default
        k8s:run=net
42512   k8s:app=local-path-provisioner
        k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=local-path-storage
        k8s:io.cilium.k8s.policy.cluster=cilium-kubeproxy-replacement-ebpf-vxlan
        k8s:io.cilium.k8s.policy.serviceaccount=local-path-provisioner-service-account
        k8s:io.kubernetes.pod.namespace=local-path-storage
46188   k8s:app=evescn
        k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=default
        k8s:io.cilium.k8s.policy.cluster=cilium-kubeproxy-replacement-ebpf-vxlan
        k8s:io.cilium.k8s.policy.serviceaccount=default
        k8s:io.kubernetes.pod.namespace=default
"""

# seed 000, `cilium bpf tunnel list` on the -worker (each row ends in three spaces)
SEED_TUNNEL = "TUNNEL       VALUE\n10.0.1.0:0   172.18.0.4:0   \n10.0.0.0:0   172.18.0.2:0   \n"

WORKER2 = "cilium-kubeproxy-replacement-ebpf-vxlan-worker2"


def _seed_identities() -> dict[int, tuple[str, ...]]:
    out: dict[int, list[str]] = {}
    current = None
    for line in SEED_IDENTITIES.splitlines()[1:]:
        num, label = line[:8].strip(), line[8:]
        if num:
            current = int(num)
        out.setdefault(current, []).append(label)
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def lab():
    return load_lab("cilium_vxlan").cni


# --- cilium status -------------------------------------------------------------------------


def test_ipam_line_as_the_seed_prints_it():
    line = format_status({"IPAM": ipam_line(3, IPv4Network("10.0.0.0/24"))})
    assert line == SEED_IPAM


def test_masquerading_line_as_the_seed_prints_it():
    assert format_status({"Masquerading": f"BPF   [eth0]   10.0.0.0/24 {IPV4_ONLY}"}) == SEED_MASQ


def test_status_of_the_seeds_node_reads_as_the_seed(lab):
    # worker2 holds 10.0.0.0/24's counterpart in the lab (10.0.2.0/24) and, as in the seed,
    # one evescn pod: router + health + pod = 3, the exclusion its own pod CIDR.
    cidr = str(lab.node(WORKER2).pod_cidr)
    lines = format_status(expected_status(lab, WORKER2)).splitlines()
    assert SEED_IPAM.replace("10.0.0.0/24", cidr) in lines
    assert SEED_MASQ.replace("10.0.0.0/24", cidr) in lines


# --- cilium identity list ------------------------------------------------------------------


def test_identity_list_as_the_seed_prints_it():
    assert listing.identity_list(_seed_identities()) == SEED_IDENTITIES


def test_reserved_identities_are_the_seeds():
    assert {k: v for k, v in _seed_identities().items() if k < 256} == identity.RESERVED_LABELS


def test_lab_identity_list_has_the_seeds_shape(lab):
    text = listing.identity_list(lab.identity_labels())
    lines = text.splitlines()
    seed = SEED_IDENTITIES.splitlines()
    # The header and the reserved identities as the seed prints them, up to column width
    # (the seed's widest identity has five digits, the lab's may have four).
    width = len(lines[0]) - len("LABELS")
    assert [line[:width].strip() + "|" + line[width:] for line in lines[:10]] == [
        line[:8].strip() + "|" + line[8:] for line in seed[:10]
    ]
    # The run=net identity's labels, as the seed lists them, with the lab's number.
    net = lab.pod("net").identity
    start = lines.index(f"{net}".ljust(width) + seed[15][8:])
    assert [line[width:] for line in lines[start : start + 5]] == [line[8:] for line in seed[15:20]]


def test_cnilab_identity_list(capsys, lab):
    assert main(["identity", "list", "cilium_vxlan"]) == 0
    out = capsys.readouterr().out
    assert out == listing.identity_list(lab.identity_labels())
    assert main(["identity", "cilium_vxlan", "list"]) == 0
    assert capsys.readouterr().out == out


def test_cnilab_identity_list_refuses_a_lab_without_identities(capsys):
    assert main(["identity", "list", "calico_ipip"]) == 2
    assert "no identities" in capsys.readouterr().err


# --- cilium bpf ... list -------------------------------------------------------------------


def test_tunnel_list_as_the_seed_prints_it():
    entries = [maps.TunnelEntry("10.0.1.0", "172.18.0.4"), maps.TunnelEntry("10.0.0.0", "172.18.0.2")]
    assert listing.tunnel_list(entries) == SEED_TUNNEL


def _endpoint(ip, lxc_id=0, flags=0, ifindex=0, mac="00:00:00:00:00:00", node_mac="00:00:00:00:00:00", sec_id=0):
    return maps.EndpointEntry(ip, ifindex, lxc_id, flags, mac, node_mac, sec_id)


def test_endpoint_list_is_1_13s_without_sec_id():
    # 1.13 lxcmap: "id=%-5d flags=0x%04X ifindex=%-3d mac=%s nodemac=%s"; `(localhost)` for
    # the host's addresses; TablePrinter pads both cells by three. sec_id= came with 1.14.
    rows = [
        _endpoint("10.0.0.109", flags=maps.ENDPOINT_F_HOST),
        _endpoint("10.0.0.24", 2546, 0, 8, "b6:f7:9a:c4:59:73", "36:07:df:de:f9:af", sec_id=46188),
        _endpoint("10.0.0.77", 1023, 0, 6, "02:30:97:b1:cc:18", "02:30:97:b1:cc:17", sec_id=4),
    ]
    text = listing.endpoint_list(rows)
    assert "sec_id" not in text
    info = "id=2546  flags=0x0000 ifindex=8   mac=B6:F7:9A:C4:59:73 nodemac=36:07:DF:DE:F9:AF"
    width = len(info) + 3
    assert text.splitlines() == [
        "IP ADDRESS     LOCAL ENDPOINT INFO",
        "10.0.0.109:0   " + "(localhost)".ljust(width),
        "10.0.0.24:0    " + info.ljust(width),
        "10.0.0.77:0    " + "id=1023  flags=0x0000 ifindex=6   mac=02:30:97:B1:CC:18 nodemac=02:30:97:B1:CC:17".ljust(width),
    ]


def test_endpoint_list_flags_in_upper_case_hex():
    text = listing.endpoint_list([_endpoint("10.0.0.24", 1, 0xAA, 3)])
    assert "flags=0x00AA " in text


def test_ipcache_list_pads_as_the_table_printer(lab):
    text = listing.ipcache_list(lab.ipcache_entries(WORKER2))
    lines = text.splitlines()
    assert lines[0].startswith("IP PREFIX/ADDRESS   IDENTITY") and lines[0].endswith("IDENTITY")
    assert len({len(line) for line in lines[1:]}) == 1 and all(line.endswith("   ") for line in lines[1:])
    health = lab.node(WORKER2).health_ip
    assert any(line.startswith(f"{health}/32 ") and "identity=4 encryptkey=0 tunnelendpoint=0.0.0.0" in line for line in lines)
