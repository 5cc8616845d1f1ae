"""Felix rule ids and natOutgoing rules (calico.md §4.1, §4.3)."""

import os
import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network

import pytest

from cnilab.cni.calico import felix

# calico.md §4.1, as iptables-save prints them (PREROUTING's extra alignment spaces removed).
EXPECTED_SAVE = [
    '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
    '-A OUTPUT -m comment --comment "cali:tVnHkvAo15HuiPy0" -j cali-OUTPUT',
    '-A POSTROUTING -m comment --comment "cali:O3lYWMrLQYEMJtB5" -j cali-POSTROUTING',
    '-A cali-OUTPUT -m comment --comment "cali:GBTAv2p5CwevEyJm" -j cali-fip-dnat',
    '-A cali-PREROUTING -m comment --comment "cali:r6XmIziWUJsdOK6Z" -j cali-fip-dnat',
    '-A cali-POSTROUTING -m comment --comment "cali:Z-c7XtVd2Bq7s_hA" -j cali-fip-snat',
    '-A cali-POSTROUTING -m comment --comment "cali:nYKhEzDlr11Jccal" -j cali-nat-outgoing',
    '-A cali-POSTROUTING -o tunl0 -m comment --comment "cali:SXWvdsbh4Mw7wOln" -m addrtype ! --src-type LOCAL'
    " --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully",
    '-A cali-nat-outgoing -m comment --comment "cali:flqWnvo8yq4ULQLa" -m set --match-set cali40masq-ipam-pools src'
    " -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully",
]


def _ids(chains):
    return {c.name: felix.rule_hashes(c) for c in chains}


def test_ipip_nat_rules_match_calico_md_exactly():
    assert felix.nat_save_lines(felix.nat_chains()) == EXPECTED_SAVE


def test_all_nine_ids_of_calico_md():
    ids = _ids(felix.nat_chains(("tunl0",)))
    assert ids["PREROUTING"] == ("6gwbT8clXdHdC1b1",)
    assert ids["OUTPUT"] == ("tVnHkvAo15HuiPy0",)
    assert ids["POSTROUTING"] == ("O3lYWMrLQYEMJtB5",)
    assert ids["cali-OUTPUT"] == ("GBTAv2p5CwevEyJm",)
    assert ids["cali-PREROUTING"] == ("r6XmIziWUJsdOK6Z",)
    assert ids["cali-POSTROUTING"] == ("Z-c7XtVd2Bq7s_hA", "nYKhEzDlr11Jccal", "SXWvdsbh4Mw7wOln")
    assert ids["cali-nat-outgoing"] == ("flqWnvo8yq4ULQLa",)


def test_vxlan_tunnel_rule_id():
    ids = _ids(felix.nat_chains(("vxlan.calico",)))
    assert ids["cali-POSTROUTING"] == ("Z-c7XtVd2Bq7s_hA", "nYKhEzDlr11Jccal", "e9dnSgSVNmIcpVhP")


def test_ids_depend_on_position_and_random_fully():
    no_tunnel = _ids(felix.nat_chains(()))
    assert no_tunnel["cali-POSTROUTING"] == ("Z-c7XtVd2Bq7s_hA", "nYKhEzDlr11Jccal")
    both = _ids(felix.nat_chains(("tunl0", "vxlan.calico")))
    assert both["cali-POSTROUTING"][2] == "SXWvdsbh4Mw7wOln"
    assert both["cali-POSTROUTING"][3] != "e9dnSgSVNmIcpVhP"  # chained: the vxlan rule is now 4th
    plain = _ids(felix.nat_chains(random_fully=False))
    assert plain["cali-nat-outgoing"] == ("Dw4T8UWPnCLxRJiI",)  # calico.md §4.1's computed value


def test_hash_input_text_is_felix_spelling():
    rule = felix.nat_chains()[-1].rules[0]
    assert rule.render_for_hash("cali-nat-outgoing") == (
        "-A cali-nat-outgoing HASH -m set --match-set cali40masq-ipam-pools src"
        " -m set ! --match-set cali40all-ipam-pools dst --jump MASQUERADE --random-fully"
    )
    with pytest.raises(ValueError):
        felix.nat_chains(("eth0",))


def test_ipset_restore_lines():
    text = felix.ipset_restore(
        pools=[IPv4Network("192.168.0.0/16")],
        masq_pools=[IPv4Network("192.168.0.0/16")],
        host_ips=[IPv4Address("172.17.0.32"), IPv4Address("172.17.0.40")],
    )
    assert text == (
        "create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\n"
        "add cali40masq-ipam-pools 192.168.0.0/16\n"
        "create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576\n"
        "add cali40all-ipam-pools 192.168.0.0/16\n"
        "create cali40all-hosts-net hash:net family inet hashsize 1024 maxelem 1048576\n"
        "add cali40all-hosts-net 172.17.0.32\n"
        "add cali40all-hosts-net 172.17.0.40\n"
    )
    vx = felix.ipset_restore([], [], vxlan_host_ips=[IPv4Address("172.17.0.40")], ipip=False, vxlan=True)
    assert "cali40all-hosts-net" not in vx and "add cali40all-vxlan-net 172.17.0.40\n" in vx


_TOOLS = all(shutil.which(t) for t in ("ip", "ipset", "iptables-restore", "iptables-save"))


@pytest.mark.skipif(os.geteuid() != 0 or not _TOOLS, reason="needs root, ip, ipset and iptables")
def test_restore_round_trips_through_real_iptables_in_a_private_netns():
    """Feed our restore text to the real tools in a throw-away namespace; iptables-save must
    print exactly calico.md's lines, and the FORWARD accepts in order."""
    ns = f"cnilab-h1-{os.getpid()}-ipt"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        def run(argv, stdin=""):
            return subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, text=True, capture_output=True, check=True).stdout

        run(["ipset", "restore", "-exist"], felix.ipset_restore([IPv4Network("192.0.2.0/24")], [IPv4Network("192.0.2.0/24")], [IPv4Address("192.0.2.1")]))
        run(["iptables-restore", "--noflush"], felix.nat_restore(felix.nat_chains()))
        run(["iptables-restore", "--noflush"], felix.forward_accept_restore())
        nat = [l for l in run(["iptables-save", "-t", "nat"]).splitlines() if l.startswith("-A")]
        assert sorted(nat) == sorted(EXPECTED_SAVE)
        fwd = [l for l in run(["iptables-save", "-t", "filter"]).splitlines() if l.startswith("-A FORWARD")]
        assert fwd == [
            '-A FORWARD -i cali+ -m comment --comment "cnilab: from Calico pods" -j ACCEPT',
            '-A FORWARD -o cali+ -m comment --comment "cnilab: to Calico pods" -j ACCEPT',
        ]
        assert "192.0.2.0/24" in run(["ipset", "list", "cali40all-ipam-pools"])
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
