"""MTU rule of calico.md §1.5."""

import pytest

from cnilab.cni.calico.mtu import MANIFEST_VETH_MTU_V316, pod_mtu


def test_declared_veth_mtu_wins():
    # The seed: v3.16 IPIP manifest, veth_mtu 1440, also used after switching to VXLAN.
    assert pod_mtu(1500, veth_mtu=MANIFEST_VETH_MTU_V316["ipip"], vxlan=True) == 1440


@pytest.mark.parametrize(
    "ipip, vxlan, expected",
    [(False, False, 1500), (True, False, 1480), (False, True, 1450), (True, True, 1450)],
)
def test_auto_mtu_subtracts_enabled_overhead(ipip, vxlan, expected):
    assert pod_mtu(1500, ipip=ipip, vxlan=vxlan) == expected


def test_rejects_nonsense():
    with pytest.raises(ValueError):
        pod_mtu(1500, veth_mtu=-1)
    with pytest.raises(ValueError):
        pod_mtu(100, vxlan=True)
