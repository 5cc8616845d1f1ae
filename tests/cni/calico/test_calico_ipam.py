"""Block affinity and address order (calico.md §2.1; seed 003's addresses)."""

from ipaddress import IPv4Address, IPv4Network

import pytest

from cnilab.cni.calico.ipam import allocate_pods, assign_blocks, fnv1_32, validate_block_size

POOL = IPv4Network("192.168.0.0/16")
SEED_PINS = {"controlplane": IPv4Network("192.168.49.64/26"), "node01": IPv4Network("192.168.196.128/26")}


def test_seed_blocks_tunnel_addresses_and_pods():
    blocks = assign_blocks(POOL, ["controlplane", "node01"], pinned=SEED_PINS, tunnel=True)
    assert [(b.node, str(b.block), str(b.tunnel_ip)) for b in blocks] == [
        ("controlplane", "192.168.49.64/26", "192.168.49.64"),
        ("node01", "192.168.196.128/26", "192.168.196.128"),
    ]
    pods = allocate_pods(
        blocks,
        [
            ("calico-kube-controllers", "controlplane"),
            ("coredns-a", "node01"),
            ("coredns-b", "node01"),
            ("busybox-deployment-8c7dc8548-btnkv", "node01"),
            ("busybox-deployment-8c7dc8548-x6ljh", "controlplane"),
        ],
    )
    got = {p.pod: str(p.ip) for p in pods}
    # Seed: `kubectl get pods -o wide` and the two `ip route` listings.
    assert got["busybox-deployment-8c7dc8548-btnkv"] == "192.168.196.131"
    assert got["busybox-deployment-8c7dc8548-x6ljh"] == "192.168.49.66"
    assert got["calico-kube-controllers"] == "192.168.49.65"
    assert [got["coredns-a"], got["coredns-b"]] == ["192.168.196.129", "192.168.196.130"]


def test_without_tunnel_ordinal_zero_goes_to_the_first_pod():
    blocks = assign_blocks(POOL, ["controlplane"], pinned={"controlplane": SEED_PINS["controlplane"]})
    assert blocks[0].tunnel_ip is None
    assert allocate_pods(blocks, [("p", "controlplane")])[0].ip == IPv4Address("192.168.49.64")


def test_unpinned_blocks_are_deterministic_distinct_and_aligned():
    nodes = [f"node{i:02d}" for i in range(20)]
    first = assign_blocks(POOL, nodes)
    assert first == assign_blocks(POOL, nodes)
    assert len({b.block for b in first}) == 20
    for b in first:
        assert b.block.prefixlen == 26 and b.block.subnet_of(POOL)
    # Start index is the documented FNV-1 of the name (not Calico's math/rand choice).
    assert first[0].block.network_address == POOL.network_address + (fnv1_32("node00") % 1024) * 64


def test_fnv1_32_reference_values():
    # FNV-1 (not FNV-1a) test vectors.
    assert fnv1_32("") == 0x811C9DC5
    assert fnv1_32("a") == 0x050C5D7E


def test_collision_walks_forward_and_wraps():
    pool = IPv4Network("10.0.0.0/30")  # four /32 blocks
    nodes = ["a", "b", "c", "d"]
    blocks = assign_blocks(pool, nodes, block_size=32)
    assert sorted(str(b.block) for b in blocks) == ["10.0.0.0/32", "10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
    with pytest.raises(ValueError, match="no free /32 block"):
        assign_blocks(pool, nodes + ["e"], block_size=32)


def test_unpinned_node_never_takes_a_pinned_block():
    pool = IPv4Network("10.0.0.0/31")
    start = fnv1_32("x") % 2
    pinned_block = IPv4Network((int(pool.network_address) + start, 32))
    blocks = assign_blocks(pool, ["x", "y"], block_size=32, pinned={"y": pinned_block})
    assert blocks[0].block != pinned_block and blocks[1].block == pinned_block


@pytest.mark.parametrize("size", [19, 33, 8])
def test_block_size_outside_20_32_is_refused(size):
    with pytest.raises(ValueError, match="between 20 and 32"):
        validate_block_size(POOL, size)


def test_block_larger_than_pool_is_refused():
    with pytest.raises(ValueError, match="smaller than one /20"):
        assign_blocks(IPv4Network("10.0.0.0/24"), ["a"], block_size=20)


@pytest.mark.parametrize(
    "pins, message",
    [
        ({"a": IPv4Network("10.9.0.0/26")}, "outside the pool"),
        ({"a": IPv4Network("192.168.0.0/27")}, "not a /26"),
        ({"a": IPv4Network("192.168.0.0/26"), "b": IPv4Network("192.168.0.0/26")}, "pinned to both"),
        ({"zz": IPv4Network("192.168.0.0/26")}, "not a node"),
        ({"a": IPv4Network("192.168.0.32/26", strict=False)}, None),  # strict=False rounds down: fine
    ],
)
def test_bad_pins(pins, message):
    if message is None:
        assert assign_blocks(POOL, ["a", "b"], pinned=pins)[0].block == IPv4Network("192.168.0.0/26")
        return
    with pytest.raises(ValueError, match=message):
        assign_blocks(POOL, ["a", "b"], pinned=pins)


def test_full_block_is_an_error():
    blocks = assign_blocks(IPv4Network("10.0.0.0/30"), ["a"], block_size=30, tunnel=True)
    pods = [(f"p{i}", "a") for i in range(3)]
    assert [str(p.ip) for p in allocate_pods(blocks, pods)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    with pytest.raises(ValueError, match="is full"):
        allocate_pods(blocks, pods + [("p3", "a")])


def test_pod_on_unknown_node_or_twice():
    blocks = assign_blocks(POOL, ["a"])
    with pytest.raises(ValueError, match="has no block"):
        allocate_pods(blocks, [("p", "b")])
    with pytest.raises(ValueError, match="twice"):
        allocate_pods(blocks, [("p", "a"), ("p", "a")])
