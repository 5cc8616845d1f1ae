"""Where the kernel has ipip, the lab uses its own tunl0, not the stand-in. This machine's
kernel has none, so the path is tested in its parts: the device wanted, the line that makes
it, and the diff against a tunl0 as a kernel with ipip shows it (calico.md §2.4's listing:
`tunl0@NONE: <NOARP,UP,LOWER_UP> mtu 1440 ... link/ipip 0.0.0.0 brd 0.0.0.0`; not captured here)."""

from cnilab.cni.calico.deploy import tunnel_link
from cnilab.model import load_lab
from cnilab.operations.ip import link_changes

LAB = load_lab("calico_ipip").cni
NODE = "calico-ipip-controlplane"


def test_the_kernels_tunl0_where_there_is_one():
    real = tunnel_link(LAB, NODE, real_ipip=True)
    assert (real.name, real.kind, real.mtu) == ("tunl0", "ipip", 1440)
    assert real.add() == "link add tunl0 mtu 1440 type ipip"
    stand_in = tunnel_link(LAB, NODE, real_ipip=False)
    assert (stand_in.kind, stand_in.txqueuelen) == ("ifb", 1000)


def test_the_fallback_tunl0_is_adjusted_not_made_again():
    # The ipip module makes tunl0 in every namespace, down, mtu 1480.
    have = {"tunl0": {"ifindex": 2, "kind": "ipip", "mac": "0.0.0.0", "mtu": 1480, "up": False, "noarp": True,
                      "peer": None, "master": None, "vxlan": None}}  # fmt: skip
    lines, created = link_changes(have, [tunnel_link(LAB, NODE, real_ipip=True)])
    assert lines == ["link set tunl0 mtu 1440", "link set tunl0 arp off up"] and not created
    # Where it is missing (module not loaded yet), adding it loads the module.
    lines, created = link_changes({}, [tunnel_link(LAB, NODE, real_ipip=True)])
    assert lines[0] == "link add tunl0 mtu 1440 type ipip" and created == {"tunl0"}
