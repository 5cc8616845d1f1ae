"""`calicoctl node status` / `get workloadendpoints` against the seed, calico.md and real BIRD 2 output."""

from pathlib import Path

import pytest

from cnilab.cni.calico.calicoctl import (
    ProtocolRow,
    WorkloadEndpointRow,
    node_status,
    parse_bird_protocols,
    render_table,
    workload_endpoints,
)

FIX = Path(__file__).parent / "fixtures"
SEED_ROW = ProtocolRow("Mesh_172_17_0_40", "BGP", "---", "up", "00:24:04", "Established")


def _squash(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def test_node_status_exact_for_the_seed():
    assert node_status([SEED_ROW]) == (
        "Calico process is running.\n"
        "\n"
        "IPv4 BGP status\n"
        + (FIX / "calico_md_node_status_table.txt").read_text()
        + "\n"
        "IPv6 BGP status\n"
        "No IPv6 peers found.\n"
        "\n"
    )


def test_node_status_matches_seed_text():
    seed = _squash((FIX / "seed003_node_status.txt").read_text())
    # The seed stops after the IPv4 table; its scrape dropped blank lines and space runs.
    assert _squash(node_status([SEED_ROW]))[: len(seed)] == seed


def test_node_status_other_process_states():
    assert node_status([], process_running=False) == "Calico process is not running.\n"
    assert node_status([SEED_ROW], bird6_running=False).endswith(
        "+\n\nINFO: BIRDv6 process: 'bird6' is not running.\n\n"
    )
    assert node_status([], bird_running=False, bird6_running=False) == (
        "Calico process is running.\n\nNone of the BGP backend processes (BIRD or GoBGP) are running.\n\n"
    )
    assert node_status([]) == (
        "Calico process is running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n"
    )


def test_parse_real_bird2_capture_and_render():
    rows = parse_bird_protocols((FIX / "bird2_show_protocols_h1a.txt").read_text())
    assert [(r.name, r.proto, r.table, r.state) for r in rows] == [
        ("static1", "Static", "master4", "up"),
        ("kernel1", "Kernel", "master4", "up"),
        ("device1", "Device", "---", "up"),
        ("direct1", "Direct", "---", "up"),
        ("Mesh_192_0_2_2", "BGP", "---", "up"),
    ]
    assert rows[-1].info == "Established"
    since = rows[-1].since
    assert len(since) == 8 and since[2] == ":" and since[5] == ":"  # `timeformat protocol iso short`
    out = node_status(rows)
    assert f"| 192.0.2.2    | node-to-node mesh | up    | {since} | Established |\n" in out
    assert "kernel1" not in out


def test_parse_bird1_socket_reply_from_calico_md():
    rows = parse_bird_protocols((FIX / "calico_md_bird1_socket_reply.txt").read_text())
    assert [r.name for r in rows] == ["static1", "kernel1", "device1", "direct1", "Mesh_172_17_0_40"]
    assert rows[-1] == ProtocolRow("Mesh_172_17_0_40", "BGP", "master", "up", "13:31:25", "Established")


def test_parse_refuses_unknown_header():
    with pytest.raises(ValueError, match="unknown BIRD table output format"):
        parse_bird_protocols("BIRD 2.0.12 ready.\nName Proto Table State Since\nx BGP --- up 1 2\n")
    with pytest.raises(ValueError, match="no `show protocols` header"):
        parse_bird_protocols("BIRD 2.0.12 ready.\n")


def test_long_info_wraps_like_tablewriter():
    row = ProtocolRow("Node_10_0_0_1", "BGP", "---", "start", "13:30:56", "Active Socket: Connection refused")
    table = node_status([row]).split("IPv4 BGP status\n")[1].split("\n\nIPv6")[0]
    assert table.splitlines()[3:5] == [
        "| 10.0.0.1     | node specific | start | 13:30:56 | Active Socket: Connection |",
        "|              |               |       |          | refused                   |",
    ]


def test_numbers_are_right_aligned_and_odd_gap_goes_right():
    assert render_table(["a_b", "n"], [["x", "12345"]]) == (
        "+-----+-------+\n"
        "| A B |   N   |\n"
        "+-----+-------+\n"
        "| x   | 12345 |\n"
        "+-----+-------+\n"
    )


def test_workload_endpoints_seed_rows():
    rows = [
        WorkloadEndpointRow("busybox-deployment-8c7dc8548-btnkv", "node01", ("192.168.196.131/32",), "calib673e730d42"),
        WorkloadEndpointRow("busybox-deployment-8c7dc8548-x6ljh", "controlplane", ("192.168.49.66/32",), "cali9861acf9f07"),
    ]
    out = workload_endpoints(rows)
    assert out == (
        "WORKLOAD                             NODE           NETWORKS             INTERFACE         \n"
        "busybox-deployment-8c7dc8548-btnkv   node01         192.168.196.131/32   calib673e730d42   \n"
        "busybox-deployment-8c7dc8548-x6ljh   controlplane   192.168.49.66/32     cali9861acf9f07   \n"
        "\n"
    )
    assert _squash(out) == _squash((FIX / "seed003_workloadendpoints.txt").read_text())


def test_workload_endpoints_empty():
    out = workload_endpoints([])
    assert out == "WORKLOAD   NODE   NETWORKS   INTERFACE   \n\n"
    assert _squash(out) == _squash((FIX / "seed003_workloadendpoints_empty.txt").read_text())
    # minwidth 5: a short column is padded to 5, not to len+3.
    assert workload_endpoints([WorkloadEndpointRow("p", "n", ("a", "b"), "c")]).splitlines()[1] == "p          n      a,b        c           "
