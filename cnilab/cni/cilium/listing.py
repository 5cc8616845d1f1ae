"""A lab's maps listed the way `cilium bpf ... list` prints them (seed 000: `cilium bpf tunnel list`)."""

from __future__ import annotations

from . import maps


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    # cilium uses a tabwriter with padding 3
    width = max([len(header[0]), *(len(a) for a, _ in rows)]) + 3
    return "\n".join([header[0].ljust(width) + header[1], *(a.ljust(width) + b for a, b in rows)]) + "\n"


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
                    f"id={e.lxc_id:<5} sec_id={e.sec_id:<5} flags=0x{e.flags:04x} ifindex={e.ifindex:<3} "
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
