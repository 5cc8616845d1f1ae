"""A lab's maps listed the way `cilium bpf ... list` prints them (seed 000: `cilium bpf tunnel list`),
and its identities as `cilium identity list` prints them (seed 000)."""

from __future__ import annotations

from . import maps


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    # Cilium 1.13's TablePrinter: tabwriter(minwidth 5, padding 3), the header "%s\t%s\n",
    # the rows "%s\t%s\t\n", so a row's value cell is padded to its column and the
    # header's is not (seed 000's tunnel list ends its rows in three spaces).
    width = max([5, len(header[0]) + 3, *(len(a) + 3 for a, _ in rows)])
    value_width = max([5, *(len(b) + 3 for _, b in rows)])
    return "\n".join([header[0].ljust(width) + header[1], *(a.ljust(width) + b.ljust(value_width) for a, b in rows)]) + "\n"


def tunnel_list(entries: list[maps.TunnelEntry]) -> str:
    return maps.format_tunnel_list(entries)


def endpoint_list(entries: list[maps.EndpointEntry]) -> str:
    rows = []
    for e in sorted(entries, key=lambda e: (not e.flags & maps.ENDPOINT_F_HOST, e.ip)):
        if e.flags & maps.ENDPOINT_F_HOST:
            rows.append((f"{e.ip}:0", "(localhost)"))
        else:
            rows.append(
                (
                    f"{e.ip}:0",
                    # Cilium 1.13 (pkg/maps/lxcmap): no sec_id= column, which came with 1.14.
                    f"id={e.lxc_id:<5} flags=0x{e.flags:04X} ifindex={e.ifindex:<3} "
                    f"mac={e.mac.upper()} nodemac={e.node_mac.upper()}",
                )
            )
    return _table(("IP ADDRESS", "LOCAL ENDPOINT INFO"), rows)


def ipcache_list(entries: list[maps.IpcacheEntry]) -> str:
    rows = [
        (e.prefix, f"identity={e.identity} encryptkey=0 tunnelendpoint={e.tunnel_endpoint or '0.0.0.0'}")
        for e in sorted(entries, key=lambda e: e.prefix)
    ]
    return _table(("IP PREFIX/ADDRESS", "IDENTITY"), rows)


def identity_list(identities: dict[int, tuple[str, ...]]) -> str:
    """`cilium identity list`: "ID\tLABELS", then each identity in numeric order with its
    first label, and each further label on a line of its own under it (1.13
    cilium/cmd/identity_list.go: tabwriter minwidth 2, padding 3; GetPrintableModel sorts
    the labels)."""
    width = max([2, len("ID") + 3, *(len(str(i)) + 3 for i in identities)])
    lines = ["ID".ljust(width) + "LABELS"]
    for num in sorted(identities):
        for i, label in enumerate(identities[num]):
            lines.append((str(num) if i == 0 else "").ljust(width) + label)
    return "\n".join(lines) + "\n"


# name -> (the maps it reads, a formatter of their `bpftool -j map dump` outputs)
# ct_entry's flag bits as `cilium bpf ct list` names them (1.13 pkg/maps/ctmap/types.go).
_CT_FLAGS = ("RxClosing", "TxClosing", "Nat64", "LBLoopback", "SeenNonSyn", "NodePort", "ProxyRedirect", "DSR", "FromL7LB")
_PROTOS = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP"}


def _ct_line(key: bytes, value: bytes) -> str:
    daddr, saddr, dport, sport, nexthdr, flags = maps._unpack_tuple(key)
    (rx_packets, rx_bytes, tx_packets, tx_bytes, lifetime, bits, rev_nat, ifindex, tx_seen, rx_seen, src_id,
     last_tx, last_rx) = maps._CT_ENTRY.unpack(value)
    # CtKey4Global.Dump(reverse=true): the stored tuple is the reply's, so its daddr is the source.
    line = f"{_PROTOS.get(nexthdr, str(nexthdr))} {'IN' if flags & 1 else 'OUT'} {daddr}:{sport} -> {saddr}:{dport} "
    line += "related " if flags & 2 else ""
    line += "service " if flags & 4 else ""
    names = "".join(f"{n} " for i, n in enumerate(_CT_FLAGS) if bits & (1 << i))
    return (
        f"{line}expires={lifetime} RxPackets={rx_packets} RxBytes={rx_bytes} RxFlagsSeen=0x{rx_seen:02x} "
        f"LastRxReport={last_rx} TxPackets={tx_packets} TxBytes={tx_bytes} TxFlagsSeen=0x{tx_seen:02x} "
        f"LastTxReport={last_tx} Flags=0x{bits:04x} [ {names}] RevNAT={rev_nat} SourceSecurityID={src_id} "
        f"IfIndex={ifindex} "
    )


def ct_list(dumps: list) -> str:
    """`cilium bpf ct list global`: the TCP map's entries, then the other protocols' (seed 001)."""
    from ...bpf.bpftool import parse_dump

    return "".join(_ct_line(e.key, e.value) + "\n" for d in dumps for e in parse_dump(d))


LISTS = {
    "ct": ([maps.CT_MAP, maps.CT_ANY_MAP], ct_list),
    "tunnel": ([maps.TUNNEL_MAP], lambda d: tunnel_list(maps.tunnel_entries(d[0]))),
    "endpoint": ([maps.ENDPOINTS_MAP], lambda d: endpoint_list(maps.endpoint_entries(d[0]))),
    "ipcache": ([maps.IPCACHE_MAP], lambda d: ipcache_list(maps.ipcache_entries(d[0]))),
    "lb": (
        [maps.LB_SERVICES_MAP, maps.LB_BACKENDS_MAP],
        lambda d: maps.format_lb_list(maps.lb_service_entries(d[0]), maps.lb_backend_entries(d[1])),
    ),
    "nat": ([maps.SNAT_MAP], lambda d: maps.format_nat_list(maps.nat_entries(d[0]))),
}
