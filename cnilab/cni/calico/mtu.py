"""Pod/tunnel MTU rule (reference/calico.md §1.5)."""

from __future__ import annotations

# Per-encapsulation header overhead on IPv4, as Felix's ConfigureDefaultMTUs subtracts it.
IPIP_OVERHEAD = 20
VXLAN_OVERHEAD = 50

# What the v3.16 manifests write into the calico-config ConfigMap key `veth_mtu`; the same value
# feeds the CNI "mtu" and FELIX_IPINIPMTU / FELIX_VXLANMTU / FELIX_WIREGUARDMTU, which is why the
# seed's vxlan.calico shows 1440 (IPIP manifest edited to VXLAN). v3.17+ manifests write "0" (auto).
MANIFEST_VETH_MTU_V316 = {"ipip": 1440, "vxlan": 1410}
# Felix's own defaults when no env sets them (v3.16).
FELIX_DEFAULT_MTU_V316 = {"ipip": 1440, "vxlan": 1410, "wireguard": 1420}

_MIN_IPV4_MTU = 68  # RFC 791 minimum; anything lower cannot carry an IPv4 header plus options.


def pod_mtu(host_mtu: int, veth_mtu: int = 0, ipip: bool = False, vxlan: bool = False) -> int:
    """MTU for both veth ends and the tunnel device.

    A non-zero declared ``veth_mtu`` wins (v3.16 behaviour); 0 means auto (v3.17+): the host MTU
    minus the largest overhead among the enabled encapsulations (Felix takes the smallest
    resulting MTU), or the host MTU when nothing is encapsulated.
    """
    if veth_mtu < 0:
        raise ValueError(f"veth_mtu must be 0 (auto) or positive, not {veth_mtu}")
    if veth_mtu:
        mtu = veth_mtu
    else:
        overhead = max([0] + [IPIP_OVERHEAD] * ipip + [VXLAN_OVERHEAD] * vxlan)
        mtu = host_mtu - overhead
    if mtu < _MIN_IPV4_MTU:
        raise ValueError(f"computed MTU {mtu} is below the IPv4 minimum of {_MIN_IPV4_MTU}")
    return mtu
