"""A BIRD daemon per node, as a process of the lab's own (Calico's BGP)."""

from __future__ import annotations

import hashlib
import io
import shlex

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation

from ..facts.bird import BirdDaemon


@operation()
def daemon(config: str, config_path: str, socket: str, pidfile: str):
    """
    BIRD runs in the node with ``config``: the file is written when it differs and checked
    with `bird -p`; a BIRD that is not running is started (its control socket and pid file
    where given), one that runs reloads the new file with `birdc configure`.
    """
    have = host.get_fact(BirdDaemon, pidfile=pidfile, config=config_path)
    current = have["config"] == hashlib.sha256(config.encode()).hexdigest()
    if current and have["pid"]:
        host.noop(f"BIRD runs (pid {have['pid']}) with its configuration")
        return
    c, s, p = shlex.quote(config_path), shlex.quote(socket), shlex.quote(pidfile)
    if not current:
        yield StringCommand(f"mkdir -p \"$(dirname {c})\" \"$(dirname {s})\" \"$(dirname {p})\"")
        yield FileUploadCommand(io.BytesIO(config.encode()), config_path)
        yield StringCommand(f"bird -p -c {c}")
    if have["pid"]:
        yield StringCommand(f"birdc -s {s} configure >/dev/null")
    else:
        # bird daemonises once its configuration is read; the pid file says it runs.
        yield StringCommand(
            f"rm -f {s} {p}; bird -c {c} -s {s} -P {p} && "
            f"for i in $(seq 100); do [ -s {p} ] && [ -S {s} ] && exit 0; sleep 0.05; done; "
            f"echo 'bird did not start' >&2; exit 1"
        )
