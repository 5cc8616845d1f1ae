"""The monitor's reader on a real capture: bpftool's event_pipe stream of the worker of
the seed lab while pod `net` pinged a pod on worker2 (tests/fixtures/monitor)."""

import json
from pathlib import Path

import pytest

from cnilab.cni.cilium import monitor, monitor_expect
from cnilab.cni.cilium.monitor_format import format_sample
from cnilab.model import load_lab

FIXTURES = Path(__file__).parents[2] / "fixtures" / "monitor"
STREAM = (FIXTURES / "worker-event_pipe.json").read_text()
NAMES = monitor.ifnames((FIXTURES / "worker-ip-link.json").read_text())


def _lines(events) -> list[str]:
    return [line for e in events for line in format_sample(e, 2, NAMES).split("\n") if line]


def _pair():
    lab = load_lab("cilium_vxlan").cni
    src = next(p for p in lab.pods if p.name == "net")
    dst = next(p for p in lab.pods if p.node.endswith("-worker2"))
    return lab, src, dst


@pytest.mark.parametrize("step", [1, 2, 7, 64, 4096, len(STREAM)])
def test_the_stream_gives_every_sample_whatever_the_reads(step):
    d = monitor.StreamDecoder()
    got = [obj for i in range(0, len(STREAM), step) for obj in d.feed(STREAM[i : i + step])]
    assert len(got) == 19 and all("data" in o for o in got)
    assert [json.dumps(o) for o in got] == [json.dumps(o) for o in monitor.StreamDecoder().feed(STREAM)]


def test_a_sample_is_taken_before_bpftool_closes_it():
    # bpftool writes a sample's closing brace only with the next sample: the last one of a
    # burst must not wait for more traffic.
    head, _, _ = STREAM.rpartition("}")
    d = monitor.StreamDecoder()
    assert len(list(d.feed(head))) == 19
    assert list(d.feed("}]")) == []


def test_the_capture_reads_as_the_models_prediction():
    lab, src, dst = _pair()
    want, _ = monitor_expect.cross_node_ping(lab, src, dst)
    got = _lines(monitor.events(STREAM))
    assert monitor_expect.mismatch(want, got) is None
    assert got[0].endswith(f"FROM {src.lxc_id} DEBUG: Conntrack lookup 1/2: src={src.ip}:194 dst={dst.ip}:0")
    assert got[-1].endswith(f"interface {src.lxc}, , identity {dst.identity}->{src.identity}, orig-ip {dst.ip}, to endpoint {src.lxc_id}")


def test_a_different_capture_is_caught():
    lab, src, dst = _pair()
    want, _ = monitor_expect.cross_node_ping(lab, src, dst)
    got = _lines(monitor.events(STREAM))
    assert "line 1" in monitor_expect.mismatch(want, got[1:])
    assert "missing" in monitor_expect.mismatch(want, got[:-1])
    wrong_state = [line.replace("state new", "state established") for line in got]
    assert monitor_expect.mismatch(want, wrong_state) is not None


def test_only_the_chosen_types_print():
    events = monitor.events(STREAM)
    traces = [monitor.Options(verbosity=0, types=monitor.TYPES["trace"]).render(e, NAMES) for e in events]
    assert [t for t in traces if t] == [
        "-> overlay flow 0x0 , identity 7156->2015 state new ifindex cilium_vxlan orig-ip 0.0.0.0: "
        "10.0.1.134 -> 10.0.2.95 EchoRequest",
        f"-> endpoint {_pair()[1].lxc_id} flow 0x0 , identity 2015->7156 state reply ifindex {_pair()[1].lxc} "
        "orig-ip 10.0.2.95: 10.0.2.95 -> 10.0.1.134 EchoReply",
    ]
    debug = [monitor.Options(verbosity=1, types=monitor.TYPES["debug"]).render(e, NAMES) for e in events]
    assert sum(1 for d in debug if d) == 17


def test_the_other_nodes_prediction_mirrors_it():
    lab, src, dst = _pair()
    _, on_dst = monitor_expect.cross_node_ping(lab, src, dst)
    text = [p.pattern for p in on_dst]
    host = lab.node(dst.node).host_ep_id
    assert "Successfully" in text[0] and f"FROM\\ {host}\\ " in text[0]
    assert any("to\\-endpoint" in t for t in text)
    assert text[-1].endswith("CT\\ verdict:\\ Established,\\ revnat=0$")


def test_ct_list_reads_as_seed_001():
    # `cilium bpf ct list global` on the worker after `net` pinged and curled the pod on
    # worker2 (real dumps of both maps): the pod's flows as OUT, the node's VXLAN flows too.
    from cnilab.cni.cilium.listing import LISTS

    names, fmt = LISTS["ct"]
    assert names == ["cilium_ct4_global", "cilium_ct_any4_global"]
    text = fmt([(FIXTURES / "worker-ct4-dump.json").read_text(), (FIXTURES / "worker-ct-any4-dump.json").read_text()])
    lines = text.splitlines()
    assert lines[0].startswith("TCP OUT 10.0.1.134:58576 -> 10.0.2.95:80 expires=")
    assert " RxPackets=5 RxBytes=471 RxFlagsSeen=0x00 LastRxReport=" in lines[0]
    assert lines[0].endswith(" Flags=0x0000 [ ] RevNAT=0 SourceSecurityID=7156 IfIndex=0 ")
    assert any(line.startswith("ICMP OUT 10.0.1.134:135 -> 10.0.2.95:0 ") for line in lines)
    assert any(line.startswith("UDP OUT 172.18.0.3:55121 -> 172.18.0.4:8472 ") and "SourceSecurityID=0 " in line for line in lines)
    assert len(lines) == 4


@pytest.mark.parametrize(
    "debug,on",
    [
        ({"enabled": True, "verbose": "datapath"}, True),  # seed 000
        ({"enabled": True, "verbose": "flow, datapath"}, True),
        ({"enabled": False, "verbose": "datapath"}, False),  # the chart passes verbose only when enabled
        ({"enabled": True}, False),
        ({"enabled": True, "verbose": "datapathx"}, False),
        (None, False),
    ],
)
def test_datapath_debug_messages_need_debug_enabled_and_datapath(debug, on):
    from cnilab.cni.cilium.values import CiliumValues, datapath_debug

    values = CiliumValues.model_validate({} if debug is None else {"debug": debug})
    assert datapath_debug(values) is on
