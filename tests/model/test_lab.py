"""The lab built from the seed declaration: nodes, pods, identities and the expected state.

Where the seed article shows the real thing (`ip r s` on a worker and in a pod,
`cilium bpf tunnel list`, `cilium identity list`), the expectation is its shape with
our addresses.
"""

from __future__ import annotations

import copy
import re
from ipaddress import IPv4Address, IPv4Network

import pytest
import yaml

from cnilab.cni.cilium import maps
from cnilab.cni.cilium import identity as ids
from cnilab.cni.cilium.plan import CiliumLab
from cnilab.model import REPO_ROOT, build_lab, load_lab, parse_declaration

SEED = REPO_ROOT / "inventories" / "cilium_vxlan.yaml"
CLUSTER = "cilium-kubeproxy-replacement-ebpf-vxlan"
CP, W1, W2 = f"{CLUSTER}-control-plane", f"{CLUSTER}-worker", f"{CLUSTER}-worker2"


@pytest.fixture(scope="module")
def lab():
    return load_lab(SEED).cni


def lab_from(mutate) -> CiliumLab:
    data = yaml.safe_load(SEED.read_text())
    mutate(data)
    return build_lab(parse_declaration(copy.deepcopy(data)), "test").cni


# --- determinism -------------------------------------------------------------------------


def test_building_twice_gives_identical_labs(lab):
    again = load_lab(SEED).cni
    assert again.nodes == lab.nodes
    assert again.pods == lab.pods
    assert again.services == lab.services
    assert again.identities == lab.identities
    for n in lab.nodes:
        assert again.node_routes(n.name) == lab.node_routes(n.name)
        assert again.tunnel_entries(n.name) == lab.tunnel_entries(n.name)
        assert again.endpoint_entries(n.name) == lab.endpoint_entries(n.name)
        assert again.ipcache_entries(n.name) == lab.ipcache_entries(n.name)
        assert again.tc_attachments(n.name) == lab.tc_attachments(n.name)


def test_backend_does_not_change_the_lab(lab):
    other = lab_from(lambda d: d.update(backend="netns"))
    assert other.nodes == lab.nodes and other.pods == lab.pods and other.services == lab.services


# --- nodes -------------------------------------------------------------------------------


def test_node_names_follow_kind(lab):
    assert [n.name for n in lab.nodes] == [CP, W1, W2]
    assert [n.role for n in lab.nodes] == ["control-plane", "worker", "worker"]
    assert lab.control_plane.name == CP


def test_node_ips_in_kind_order(lab):
    assert [str(n.ip) for n in lab.nodes] == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]
    assert all(n.ip in lab.underlay for n in lab.nodes)


def test_node_macs_are_dockers(lab):
    # As in the seed's `ip a l` on the worker: 02:42:ac:12:00:03 for 172.18.0.3.
    assert lab.node(W1).mac == "02:42:ac:12:00:03"


def test_pod_cidrs(lab):
    assert [str(n.pod_cidr) for n in lab.nodes] == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
    cidrs = [n.pod_cidr for n in lab.nodes]
    assert all(c.subnet_of(lab.pod_pool) for c in cidrs)
    assert not any(a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])


def test_router_ip_inside_node_cidr_and_never_a_pod(lab):
    pod_ips = {p.ip for p in lab.pods}
    for n in lab.nodes:
        assert n.router_ip in n.pod_cidr
        assert n.router_ip not in (n.pod_cidr.network_address, n.pod_cidr.broadcast_address)
        assert n.router_ip not in pod_ips


def test_control_plane_is_tainted(lab):
    assert [n.schedulable for n in lab.nodes] == [False, True, True]


# --- pods --------------------------------------------------------------------------------


def test_daemonset_on_both_workers_only(lab):
    evescn = [p for p in lab.pods if p.owner == "DaemonSet/evescn"]
    assert sorted(p.node for p in evescn) == [W1, W2]
    for p in evescn:
        assert re.fullmatch(r"evescn-[bcdfghjklmnpqrstvwxz2456789]{5}", p.name), p.name


def test_pod_net_on_the_worker(lab):
    net = lab.pod("net")
    assert net.owner == "Pod/net"
    assert net.node == W1  # the scheduler's pick, as in the seed: net next to evescn on -worker
    assert lab.pods_on(CP) == []


def test_pod_ips_unique_and_inside_their_node_cidr(lab):
    ips = [p.ip for p in lab.pods]
    assert len(set(ips)) == len(ips)
    for p in lab.pods:
        cidr = lab.node(p.node).pod_cidr
        assert p.ip in cidr
        assert p.ip not in (cidr.network_address, cidr.broadcast_address)


def test_identities_in_range_and_one_per_label_set(lab):
    assert all(ids.IDENTITY_MIN <= i <= ids.IDENTITY_MAX for i in lab.identities.values())
    assert len(lab.identities) == 2
    assert len(set(lab.identities.values())) == 2
    evescn = [p for p in lab.pods if p.owner == "DaemonSet/evescn"]
    assert evescn[0].identity == evescn[1].identity
    assert lab.pod("net").identity != evescn[0].identity


def test_identity_labels_as_cilium_lists_them(lab):
    # The seed's `cilium identity list` entry for run=net.
    net_labels = {
        ("k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name", "default"),
        ("k8s:io.cilium.k8s.policy.cluster", CLUSTER),
        ("k8s:io.cilium.k8s.policy.serviceaccount", "default"),
        ("k8s:io.kubernetes.pod.namespace", "default"),
        ("k8s:run", "net"),
    }
    assert net_labels in [set(k) for k in lab.identities]
    key = next(k for k in lab.identities if set(k) == net_labels)
    assert lab.identities[key] == lab.pod("net").identity


def _locally_administered_unicast(mac: str) -> bool:
    first = int(mac.split(":")[0], 16)
    return bool(first & 0x02) and not first & 0x01


def test_macs_locally_administered_unicast(lab):
    macs = []
    for n in lab.nodes:
        macs += [n.host_mac, n.net_mac, n.vxlan_mac]
    for p in lab.pods:
        macs += [p.mac, p.lxc_mac]
    for mac in macs:
        assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac), mac
        assert _locally_administered_unicast(mac), mac
    assert len(set(macs)) == len(macs)


def test_lxc_names(lab):
    for p in lab.pods:
        assert re.fullmatch(r"lxc[0-9a-f]{12}", p.lxc), p.lxc
        assert len(p.lxc) <= 15  # IFNAMSIZ - 1
    assert len({p.lxc for p in lab.pods}) == len(lab.pods)


def test_endpoint_ids_unique_per_node(lab):
    for n in lab.nodes:
        ep_ids = [p.lxc_id for p in lab.pods_on(n.name)]
        assert len(set(ep_ids)) == len(ep_ids)
        assert all(1 <= i <= 4095 for i in ep_ids)


# --- services ----------------------------------------------------------------------------


def test_service(lab):
    (svc,) = lab.services
    assert svc.name == "serversvc" and svc.type == "NodePort"
    assert svc.cluster_ip in lab.service_cidr
    assert svc.cluster_ip != lab.service_cidr.network_address + 1  # the kubernetes Service
    (port,) = svc.ports
    assert (port.port, port.target_port, port.node_port, port.protocol) == (8080, 80, 32000, "TCP")
    assert sorted(svc.backends) == sorted(p.name for p in lab.pods if p.owner == "DaemonSet/evescn")


def test_nodeport_allocated_in_range_when_not_given(lab):
    other = lab_from(lambda d: d["workloads"][1]["spec"]["ports"][0].pop("nodePort"))
    assert 30000 <= other.services[0].ports[0].node_port <= 32767


# --- expected routes ---------------------------------------------------------------------


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_node_routes_as_the_seed(lab, node):
    me = lab.node(node)
    r = str(me.router_ip)
    expected = []
    for n in lab.nodes:
        if n.name == node:
            expected.append(f"{n.pod_cidr} via {r} dev cilium_host src {r}")
        else:
            expected.append(f"{n.pod_cidr} via {r} dev cilium_host src {r} mtu 1450")
    expected.append(f"{r} dev cilium_host scope link")
    assert [route.line() for route in lab.node_routes(node)] == expected


def test_worker_routes_literally(lab):
    # The seed's `ip r s` on -worker, with this lab's router IP in place of 10.0.2.194.
    r = str(lab.node(W1).router_ip)
    seed = [
        "10.0.0.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194 mtu 1450",
        "10.0.1.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194",
        "10.0.2.0/24 via 10.0.2.194 dev cilium_host src 10.0.2.194 mtu 1450",
        "10.0.2.194 dev cilium_host scope link",
    ]
    assert [route.line() for route in lab.node_routes(W1)] == [line.replace("10.0.2.194", r) for line in seed]


@pytest.mark.parametrize("pod", ["net", "evescn"])
def test_pod_routes_as_the_seed(lab, pod):
    p = lab.pod(pod) if pod == "net" else next(x for x in lab.pods if x.owner == "DaemonSet/evescn")
    r = str(lab.node(p.node).router_ip)
    # The seed: `default via 10.0.2.194 dev eth0 mtu 1450` and `10.0.2.194 dev eth0 scope link`.
    assert [route.line() for route in lab.pod_routes(p.name)] == [
        f"default via {r} dev eth0 mtu 1450",
        f"{r} dev eth0 scope link",
    ]


def test_native_routing_routes_without_tunnel_mtu():
    native = lab_from(
        lambda d: d["cni"]["values"].update(
            tunnel="disabled", autoDirectNodeRoutes=True, ipv4NativeRoutingCIDR="10.0.0.0/8"
        )
    )
    assert native.tunnel_mtu == 1500
    lines = [r.line() for r in native.node_routes(W1)]
    assert "10.0.0.0/24 via 172.18.0.2 dev eth0" in lines
    assert all("mtu" not in line for line in lines)
    assert native.tunnel_entries(W1) == []


# --- expected map entries ----------------------------------------------------------------


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_tunnel_entries_every_other_node_never_itself(lab, node):
    entries = lab.tunnel_entries(node)
    expected = {(str(n.pod_cidr.network_address), str(n.ip)) for n in lab.nodes if n.name != node}
    assert {(e.prefix, e.endpoint) for e in entries} == expected
    assert len(entries) == len(lab.nodes) - 1
    assert str(lab.node(node).pod_cidr.network_address) not in {e.prefix for e in entries}


def test_worker_tunnel_entries_as_the_seed(lab):
    # `cilium bpf tunnel list` on the seed's -worker lists the two other nodes' CIDRs.
    assert sorted((e.prefix, e.endpoint) for e in lab.tunnel_entries(W1)) == [
        ("10.0.0.0", "172.18.0.2"),
        ("10.0.2.0", "172.18.0.4"),
    ]


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_endpoint_entries(lab, node):
    me = lab.node(node)
    entries = lab.endpoint_entries(node)
    pods = lab.pods_on(node)
    by_ip = {e.ip: e for e in entries}
    assert len(by_ip) == len(entries) == len(pods) + 3  # pods, health, router IP, eth0
    for p in pods:
        e = by_ip[p.ip]
        assert (e.lxc_id, e.identity, e.mac, e.node_mac, e.lxc, e.host) == (
            p.lxc_id,
            p.identity,
            p.mac,
            p.lxc_mac,
            p.lxc,
            False,
        )
    for ip in (me.router_ip, me.ip):
        assert by_ip[ip].host and by_ip[ip].identity == ids.ID_HOST
    # The health endpoint: lxc_health, reserved:health, a pod-like (non-host) entry.
    h = by_ip[me.health_ip]
    assert (h.lxc, h.identity, h.host, h.lxc_id) == ("lxc_health", ids.ID_HEALTH, False, me.health_lxc_id)
    assert (h.mac, h.node_mac) == (me.health_peer_mac, me.health_mac)


def test_endpoint_entry_packs_the_live_ifindex(lab):
    e = next(x for x in lab.endpoint_entries(W1) if not x.host)
    entry = e.entry(ifindex=7)
    assert maps.EndpointEntry.unpack(entry.pack_key(), entry.pack_value()) == entry
    assert entry.ifindex == 7 and entry.flags == 0 and entry.sec_id == e.identity


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_ipcache_entries(lab, node):
    entries = {e.prefix: e for e in lab.ipcache_entries(node)}
    assert entries["0.0.0.0/0"].identity == ids.ID_WORLD
    for n in lab.nodes:
        local = n.name == node
        node_id = ids.ID_HOST if local else ids.ID_REMOTE_NODE
        # seen from the other nodes, the control-plane's address is the kube-apiserver's (7)
        apiserver = not local and n.name == CP
        assert entries[f"{n.ip}/32"].identity == (ids.ID_KUBE_APISERVER if apiserver else node_id)
        assert entries[f"{n.router_ip}/32"].identity == node_id
        assert entries[f"{n.router_ip}/32"].tunnel_endpoint == (None if local else str(n.ip))
    for p in lab.pods:
        e = entries[f"{p.ip}/32"]
        assert e.identity == p.identity
        assert e.tunnel_endpoint == (None if p.node == node else str(lab.node(p.node).ip))
    for n in lab.nodes:
        # Every node's health IP, reserved:health (4), behind its node when remote.
        e = entries[f"{n.health_ip}/32"]
        assert (e.identity, e.tunnel_endpoint) == (ids.ID_HEALTH, None if n.name == node else str(n.ip))
    assert len(entries) == len(lab.ipcache_entries(node)) == 1 + 3 * len(lab.nodes) + len(lab.pods)


# --- tc attachments ----------------------------------------------------------------------


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_tc_attachments(lab, node):
    got = {(a.dev, a.direction): a.name for a in lab.tc_attachments(node)}
    # Cilium 1.13 names what its loader attaches `cilium-<ifname>` (seed 000: cilium-eth0)
    # and what init.sh attaches with tc after object and section (bpf_overlay)
    expected = {
        ("cilium_host", "ingress"): "cilium-cilium_host",
        ("cilium_host", "egress"): "cilium-cilium_host",
        ("cilium_net", "ingress"): "cilium-cilium_net",
        ("cilium_vxlan", "ingress"): "bpf_overlay.o:[from-overlay]",
        ("cilium_vxlan", "egress"): "bpf_overlay.o:[to-overlay]",
        # seed 000's `tc filter show dev eth0 ingress/egress`: kube-proxy replacement and
        # BPF masquerade put from-netdev / to-netdev on the node's device
        ("eth0", "ingress"): "cilium-eth0",
        ("eth0", "egress"): "cilium-eth0",
    }
    for p in lab.pods_on(node):
        expected[(p.lxc, "ingress")] = f"cilium-{p.lxc}"
    expected[("lxc_health", "ingress")] = "cilium-lxc_health"  # the health endpoint's
    sections = {(a.dev, a.direction): a.section for a in lab.tc_attachments(node)}
    assert sections[("eth0", "ingress")] == "from-netdev" and sections[("cilium_host", "egress")] == "from-host"
    assert got == expected
    assert len(got) == len(lab.tc_attachments(node))
    endpoints = {a.dev: a.endpoint for a in lab.tc_attachments(node) if a.program == "bpf_lxc"}
    assert endpoints == {p.lxc: p.name for p in lab.pods_on(node)} | {"lxc_health": "cilium-health"}


def test_no_overlay_programs_without_a_tunnel():
    native = lab_from(
        lambda d: d["cni"]["values"].update(
            tunnel="disabled", autoDirectNodeRoutes=True, ipv4NativeRoutingCIDR="10.0.0.0/8"
        )
    )
    assert all(a.dev != "cilium_vxlan" for a in native.tc_attachments(W1))


# --- scheduling and addressing beyond the seed -------------------------------------------


def test_deployment_spreads_over_workers():
    def add(d):
        d["workloads"].append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 4,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                    },
                },
            }
        )

    lab = lab_from(add)
    web = [p for p in lab.pods if p.owner == "Deployment/web"]
    assert len(web) == 4 and len({p.name for p in web}) == 4
    assert {p.node for p in web} == {W1, W2}
    assert len({p.identity for p in web}) == 1
    assert len(lab.identities) == 3


def test_untainted_control_plane_runs_the_daemonset():
    lab = lab_from(lambda d: d.update(untaintControlPlane=True))
    assert sorted(p.node for p in lab.pods if p.owner == "DaemonSet/evescn") == sorted([CP, W1, W2])


def test_toleration_puts_the_daemonset_on_the_control_plane():
    def tolerate(d):
        d["workloads"][0]["spec"]["template"]["spec"]["tolerations"] = [
            {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}
        ]

    lab = lab_from(tolerate)
    assert len([p for p in lab.pods if p.owner == "DaemonSet/evescn"]) == 3


def _pods_in_a_28(d: dict, count: int) -> None:
    """Node CIDRs of /28, and ``count`` pods on worker W1."""
    d["cni"]["values"]["ipam"] = {"mode": "cluster-pool", "operator": {"clusterPoolIPv4MaskSize": 28}}
    d["workloads"] = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}"},
            "spec": {"nodeName": W1, "containers": [{"name": "c", "image": "busybox"}]},
        }
        for i in range(count)
    ]


def test_a_full_node_cidr():
    # /28: 14 host addresses, one is the router IP, one the health endpoint's; 12 pods fit.
    def fill(d):
        _pods_in_a_28(d, 12)

    lab = lab_from(fill)
    node = lab.node(W1)
    assert node.pod_cidr.prefixlen == 28
    ips = {p.ip for p in lab.pods} | {node.router_ip, node.health_ip}
    assert ips == set(node.pod_cidr.hosts())
    assert lab.ipam_used(W1) == 14


def test_one_pod_more_than_a_full_node_cidr_holds_is_refused():
    def overfill(d):
        _pods_in_a_28(d, 13)

    with pytest.raises(Exception, match="more pods than its pod CIDR"):
        lab_from(overfill)


def test_second_lab_on_its_own_underlay():
    lab = lab_from(lambda d: d.update(underlay="172.19.0.0/16"))
    assert [n.ip for n in lab.nodes] == [IPv4Address(f"172.19.0.{i}") for i in (2, 3, 4)]
    assert lab.underlay == IPv4Network("172.19.0.0/16")


# --- seed 001: a second NIC carries the pod routes; partial kube-proxy replacement -------


def test_private_network_gives_eth1_and_routes_pods_over_it():
    lab = load_lab("cilium_native_iptables").cni
    cp, w1, w2 = lab.nodes
    assert [str(n.private_ip) for n in lab.nodes] == ["10.135.0.2", "10.135.0.3", "10.135.0.4"]
    assert [str(n.pod_cidr) for n in lab.nodes] == ["10.244.0.0/25", "10.244.0.128/25", "10.244.1.0/25"]
    lines = [r.line() for r in lab.node_routes(w1.name)]
    # seed 001: `10.244.0.0/25 via 10.135.152.71 dev eth1`, own block via cilium_host
    assert "10.244.0.0/25 via 10.135.0.2 dev eth1" in lines
    assert f"10.244.0.128/25 via {w1.router_ip} dev cilium_host src {w1.router_ip}" in lines
    assert lab.pod_routes("net")[0].mtu == 1500
    # the eth1 address is the node's too
    assert any(str(e.ip) == "10.135.0.3" and e.host for e in lab.endpoint_entries(w1.name))


def test_partial_without_node_port_balances_cluster_ips_only():
    lab = load_lab("cilium_native_iptables").cni
    assert lab.mode.kpr and not lab.mode.node_port and lab.mode.kube_proxy
    assert [s.node_port for s in lab.lb_services()] == [None]
    assert not lab.mode.netdev_programs
    assert all(a.dev != "eth0" for n in lab.nodes for a in lab.tc_attachments(n.name))
    with_np = lab_from(lambda d: d["cni"]["values"].update(kubeProxyReplacement="partial", nodePort={"enabled": True}))
    assert with_np.mode.node_port and [s.node_port for s in with_np.lb_services()] == [32000]


# --- the health endpoint (Cilium 1.13's cilium-health; seed 000's lxc_health) -------------


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_health_endpoint_per_node(lab, node):
    me = lab.node(node)
    h = lab.health_endpoint(node)
    assert (h.ip, h.lxc, h.identity, h.name) == (me.health_ip, "lxc_health", ids.ID_HEALTH, "cilium-health")
    # An address of the node's pod CIDR, allocated after the router IP, never a pod's.
    assert me.health_ip in me.pod_cidr and me.health_ip != me.router_ip
    assert me.health_ip not in {p.ip for p in lab.pods}
    # Its endpoint ID is unique on the node; its MACs locally administered.
    assert me.health_lxc_id not in {p.lxc_id for p in lab.pods_on(node)} and 1 <= me.health_lxc_id <= 4095
    for mac in (me.health_mac, me.health_peer_mac):
        assert int(mac.split(":")[0], 16) & 0x03 == 0x02
    assert lab.endpoints_on(node)[-1] == h
    # The routes inside its namespace: a pod's, on its device "cilium".
    r = str(me.router_ip)
    assert [x.line() for x in lab.health_routes(node)] == [f"default via {r} dev cilium mtu 1450", f"{r} dev cilium scope link"]


def test_health_ips_differ_between_nodes(lab):
    assert len({n.health_ip for n in lab.nodes}) == len(lab.nodes)


@pytest.mark.parametrize("node, used", [(CP, 2), (W1, 4), (W2, 3)])
def test_ipam_counts_router_health_and_pods(lab, node, used):
    # Seed 000's `IPAM: IPv4: 3/254` is worker2's: router, health, one evescn pod.
    assert lab.ipam_used(node) == used == 2 + len(lab.pods_on(node))


@pytest.mark.parametrize("node", [CP, W1, W2])
def test_masquerade_exclusion_is_the_nodes_pod_cidr_when_tunnelled(lab, node):
    # Seed 000: `Masquerading: BPF   [eth0]   10.0.0.0/24 [...]` on the node of 10.0.0.0/24.
    assert lab.masquerade_exclusion(node) == str(lab.node(node).pod_cidr)


def test_masquerade_exclusion_is_the_native_routing_cidr_without_a_tunnel():
    native = lab_from(
        lambda d: d["cni"]["values"].update(
            tunnel="disabled", autoDirectNodeRoutes=True, ipv4NativeRoutingCIDR="10.0.0.0/8"
        )
    )
    assert {native.masquerade_exclusion(n.name) for n in native.nodes} == {"10.0.0.0/8"}


def test_identity_labels_reserved_then_the_pods(lab):
    got = lab.identity_labels()
    assert list(got)[:8] == list(range(1, 9))
    assert got[ids.ID_HEALTH] == ("reserved:health",)
    assert got[ids.ID_KUBE_APISERVER] == ("reserved:kube-apiserver", "reserved:remote-node")
    assert got[lab.pod("net").identity][-1] == "k8s:run=net"
    assert len(got) == 8 + len(lab.identities)
