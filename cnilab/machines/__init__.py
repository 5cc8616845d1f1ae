"""The machines a lab runs on: this one, and machines reached over SSH with pyinfra.

A machine is named in pyinfra's own inventory terms, `(hostname, data)`: `"@local"` for
this machine, or an SSH host with ssh_user, ssh_key, ssh_port, ssh_known_hosts_file, ...
`data["machine"]` gives it a short name; `data["cnilab_underlay_address"]` the address the
other machines reach its underlay on (default: its SSH hostname).
"""

from __future__ import annotations

import json
import threading

from .base import COMMAND_TIMEOUT, Machine, MachineError, MachineUnreachable
from .local import LOCAL, LocalMachine

LOCAL_NAMES = ("@local", "local", "localhost")
_MACHINES: dict[str, Machine] = {}
_LOCK = threading.Lock()


def entry_parts(entry) -> tuple[str, dict]:
    """(hostname, data) of an inventory entry: a string, or a (hostname, data) pair."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], dict):
        return entry[0], dict(entry[1])
    raise MachineError(f"machine {entry!r}: give a hostname, or (hostname, {{ssh data}}) as in a pyinfra inventory")


def machine_name(entry) -> str:
    hostname, data = entry_parts(entry)
    if hostname in LOCAL_NAMES:
        return data.get("machine") or "local"
    return data.get("machine") or hostname


def get_machine(entry) -> Machine:
    """One Machine per inventory entry per process (one SSH connection per machine)."""
    hostname, data = entry_parts(entry)
    key = json.dumps([hostname, data], sort_keys=True, default=str)
    with _LOCK:
        if key not in _MACHINES:
            if hostname in LOCAL_NAMES:
                m: Machine = LocalMachine(data.get("cnilab_underlay_address"), data.get("machine") or "local")
            else:
                from .ssh import SshMachine

                m = SshMachine(hostname, data, timeout=float(data.get("cnilab_command_timeout") or COMMAND_TIMEOUT))
            _MACHINES[key] = m
        return _MACHINES[key]


__all__ = ["LOCAL", "LocalMachine", "Machine", "MachineError", "MachineUnreachable", "entry_parts", "get_machine", "machine_name"]
