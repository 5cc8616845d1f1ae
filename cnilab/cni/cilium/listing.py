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
LISTS = {
    "tunnel": ([maps.TUNNEL_MAP], lambda d: tunnel_list(maps.tunnel_entries(d[0]))),
    "endpoint": ([maps.ENDPOINTS_MAP], lambda d: endpoint_list(maps.endpoint_entries(d[0]))),
    "ipcache": ([maps.IPCACHE_MAP], lambda d: ipcache_list(maps.ipcache_entries(d[0]))),
    "lb": (
        [maps.LB_SERVICES_MAP, maps.LB_BACKENDS_MAP],
        lambda d: maps.format_lb_list(maps.lb_service_entries(d[0]), maps.lb_backend_entries(d[1])),
    ),
    "nat": ([maps.SNAT_MAP], lambda d: maps.format_nat_list(maps.nat_entries(d[0]))),
}
