"""The health endpoint on every node, as Cilium 1.13 makes it (seed 000's `ip a`:
`6: lxc_health@if5: ... link-netnsid 1`): lxc_health on the node, its peer "cilium" in a
namespace of its own with the health IP and a pod's routes, counted by IPAM, in the
endpoint map and the ipcache (reserved:health), and reachable from the other nodes' health
endpoints through the datapath (what `Cluster health: 3/3 reachable` probes, ICMP part)."""

import pytest
import readers

from cnilab.cni.cilium import identity, maps
from cnilab.cni.cilium.listing import LISTS
from cnilab.cni.cilium.plan import HEALTH_DEV, HEALTH_NETNS_PATH, HEALTH_PEER
from cnilab.cni.cilium.status import node_status
from cnilab.pytest_plugin import lab_from_config

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_lxc_health_on_the_node(running_lab, lab, node):
    me = lab.node(node)
    link = readers.links(running_lab.host(node)).get(HEALTH_DEV)
    assert link is not None, f"{node}: no {HEALTH_DEV}"
    got = {k: link[k] for k in ("kind", "mac", "up", "mtu")}
    want = {"kind": "veth", "mac": me.health_mac, "up": True, "mtu": 1500}
    assert got == want, f"{node} {HEALTH_DEV}: expected {want}, got {got}"
    # As seed 000's `ip a` prints it: a peer in a namespace the node has no name for.
    line = running_lab.host(node).run("ip -o link show %s", HEALTH_DEV).stdout
    assert f"{HEALTH_DEV}@if" in line and "link-netnsid" in line and "link-netns " not in line, line


def test_health_namespace(running_lab, lab, node):
    me = lab.node(node)
    host = running_lab.host(node)
    bound = host.file(HEALTH_NETNS_PATH).exists and host.run("nsenter --net=%s true", HEALTH_NETNS_PATH).rc == 0
    assert bound, f"{node}: no health namespace at {HEALTH_NETNS_PATH}"
    links = readers.links(host, path=HEALTH_NETNS_PATH)
    peer = links.get(HEALTH_PEER)
    assert peer is not None and (peer["mac"], peer["up"]) == (me.health_peer_mac, True), f"{node} health {HEALTH_PEER}: {peer}"
    assert links.get("lo", {}).get("up"), f"{node}: lo is down in the health namespace"
    addrs = readers.addresses(host, path=HEALTH_NETNS_PATH).get(HEALTH_PEER)
    assert addrs == [{"local": str(me.health_ip), "prefixlen": 32, "scope": "global"}], f"{node} health addresses: {addrs}"
    want = sorted(r.line() for r in lab.health_routes(node))
    got = sorted(
        " ".join(
            x
            for x in [
                r["dst"],
                *(["via", r["via"]] if r["via"] else []),
                "dev",
                r["dev"],
                *(["scope", r["scope"]] if r["scope"] else []),
                *(["mtu", str(r["mtu"])] if r["mtu"] else []),
            ]
        )
        for r in readers.routes(host, path=HEALTH_NETNS_PATH)
    )
    assert got == want, f"{node} health routes: expected {want}, got {got}"


def test_health_endpoint_in_the_endpoint_map(running_lab, lab, node):
    me = lab.node(node)
    raw = readers.map_entries(running_lab.host(node), maps.ENDPOINTS_MAP)
    assert raw is not None, f"{node}: {maps.ENDPOINTS_MAP} is not pinned"
    entries = {e.ip: e for e in (maps.EndpointEntry.unpack(k, v) for k, v in raw.items())}
    e = entries.get(str(me.health_ip))
    assert e is not None, f"{node}: no cilium_lxc entry for the health IP {me.health_ip}"
    link = readers.links(running_lab.host(node)).get(HEALTH_DEV)
    assert link is not None, f"{node}: no {HEALTH_DEV}"
    ifindex = link["ifindex"]
    assert (e.lxc_id, e.ifindex, e.flags, e.mac, e.node_mac) == (
        me.health_lxc_id, ifindex, 0, me.health_peer_mac, me.health_mac
    ), f"{node} health endpoint entry: {e}"


def test_every_health_ip_in_the_ipcache_as_reserved_health(running_lab, lab, node):
    raw = readers.map_entries(running_lab.host(node), maps.IPCACHE_MAP)
    assert raw is not None, f"{node}: {maps.IPCACHE_MAP} is not pinned"
    got = {e.prefix: e for e in (maps.IpcacheEntry.unpack(k, v) for k, v in raw.items())}
    for n in lab.nodes:
        e = got.get(f"{n.health_ip}/32")
        tep = None if n.name == node else str(n.ip)  # behind its node, tunnel or native routing (1.13's agent)
        assert e is not None and (e.identity, e.tunnel_endpoint) == (identity.ID_HEALTH, tep), (
            f"{node} ipcache {n.health_ip}/32 ({n.name}'s health): {e}"
        )


def test_ipam_counts_the_health_endpoint(running_lab, lab, node):
    # Seed 000: `IPAM: IPv4: 3/254 allocated from 10.0.0.0/24, ` on a node with one pod.
    me = lab.node(node)
    want = f"IPv4: {2 + len(lab.pods_on(node))}/{me.pod_cidr.num_addresses - 2} allocated from {me.pod_cidr}, "
    got = node_status(running_lab, node)["IPAM"]
    assert got == want, f"{node} IPAM: expected {want!r}, got {got!r}"


def test_endpoint_list_as_cilium_1_13_prints_it(running_lab, lab, node):
    # `cnilab bpf LAB NODE endpoint list`: 1.13's format, no `sec_id=` (1.14's), the health
    # endpoint on its lxc_health.
    me = lab.node(node)
    names, fmt = LISTS["endpoint"]
    out = running_lab.host(node).run("bpftool -j map dump pinned %s", f"{maps.PIN_DIR}/{names[0]}")
    assert out.rc == 0, f"{node}: {out.stderr}"
    text = fmt([out.stdout])
    assert "sec_id=" not in text, text
    link = readers.links(running_lab.host(node)).get(HEALTH_DEV)
    assert link is not None, f"{node}: no {HEALTH_DEV}"
    ifindex = link["ifindex"]
    row = f"{me.health_ip}:0"
    lines = [line for line in text.splitlines() if line.startswith(row + " ")]
    assert lines and f"id={me.health_lxc_id:<5} flags=0x0000 ifindex={ifindex:<3} " in lines[0], text


def pytest_generate_tests(metafunc):
    if "health_pair" not in metafunc.fixturenames:
        return
    lab = lab_from_config(metafunc.config)
    pairs = [(a.name, b.name) for a in lab.nodes for b in lab.nodes if a.name != b.name] if lab else []
    short = (lambda n: n.removeprefix(f"{lab.name}-")) if lab else str
    metafunc.parametrize("health_pair", pairs, ids=[f"{short(a)}->{short(b)}" for a, b in pairs])


def test_health_endpoints_reach_each_other(running_lab, lab, health_pair):
    src, dst = health_pair
    target = lab.node(dst).health_ip
    out = running_lab.host(src).run("nsenter --net=%s ping -c1 -W2 %s", HEALTH_NETNS_PATH, str(target))
    assert out.rc == 0, f"ping {target} ({dst}'s health endpoint) from {src}'s failed:\n{out.stdout}{out.stderr}"


def test_identity_list_names_every_live_identity(running_lab, lab, node):
    # `cnilab identity list` comes from the model: every identity the node's ipcache holds
    # must be in it, the health endpoints' as reserved:health.
    raw = readers.map_entries(running_lab.host(node), maps.IPCACHE_MAP)
    assert raw is not None, f"{node}: {maps.IPCACHE_MAP} is not pinned"
    live = {maps.IpcacheEntry.unpack(k, v).identity for k, v in raw.items()}
    listed = lab.identity_labels()
    assert live <= set(listed), f"{node}: identities in the ipcache but not listed: {sorted(live - set(listed))}"
    assert identity.ID_HEALTH in live and listed[identity.ID_HEALTH] == ("reserved:health",)
