"""A machine reached over SSH, with pyinfra's own SSH connector.

The machine is a pyinfra host of its own (its inventory entry, `(hostname, data)`, in
pyinfra's terms: ssh_user, ssh_key, ssh_port, ssh_known_hosts_file,
ssh_strict_host_key_checking, ...), so connecting, authenticating and checking host keys
is pyinfra's SSHConnector, not an `ssh` spawned by hand. One connection per machine per
process; every node on the machine runs its commands as channels of it.

Commands run on the connection's channels with timeouts of their own: connecting gives up
after `connect_timeout`, and a command silent for `timeout` seconds is abandoned and the
machine marked lost (later commands fail at once, naming it), so nothing waits on a
machine that went away.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time

from pyinfra.connectors.util import CommandOutput, OutputLine

from .base import COMMAND_TIMEOUT, Machine, MachineUnreachable, command_line

CONNECT_TIMEOUT = 5


class SshMachine(Machine):
    local = False

    def __init__(self, hostname: str, data: dict, name: str | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT, timeout: float = COMMAND_TIMEOUT):
        self.hostname = hostname
        self.data = dict(data)
        self.name = name or data.get("machine") or hostname
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._transport = None
        self._lost: str | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return self.data.get("cnilab_underlay_address") or self.data.get("ssh_hostname") or self.hostname

    def _connect(self):
        from pyinfra.api import Config, Inventory, State
        from pyinfra.api.exceptions import ConnectError

        data = {"ssh_connect_retries": 0, **self.data}
        inventory = Inventory(([(self.hostname, data)], {}))
        state = State(inventory, Config(CONNECT_TIMEOUT=self.connect_timeout))
        host = inventory.get_host(self.hostname)
        try:
            host.connect(raise_exceptions=True, show_errors=False)
        except ConnectError as e:
            raise MachineUnreachable(f"machine {self.name} ({self.hostname}) is unreachable: {e}") from None
        transport = host.connector.client.get_transport()
        transport.set_keepalive(5)
        self._state = state  # the connector's state lives as long as its connection
        return transport

    def transport(self):
        if self._lost:
            raise MachineUnreachable(self._lost)
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                try:
                    self._transport = self._connect()
                except MachineUnreachable as e:
                    self._lost = str(e)
                    raise
            return self._transport

    def check(self) -> None:
        self.transport()

    def lose(self, why: str) -> None:
        self._lost = f"machine {self.name} ({self.hostname}) {why}"
        t, self._transport = self._transport, None
        if t is not None:
            t.close()

    def _exec(self, argv: list[str], input: bytes | None, timeout: float | None):
        timeout = timeout or self.timeout
        transport = self.transport()  # MachineUnreachable when it cannot connect
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
        except Exception as e:  # paramiko: SSHException, EOFError, socket errors
            self.lose(f"dropped the connection: {e}")
            raise MachineUnreachable(self._lost) from None
        chan.settimeout(timeout)
        out, err = bytearray(), bytearray()
        try:
            chan.exec_command(command_line(argv))
            if input:
                chan.sendall(input)
            chan.shutdown_write()
            # stderr is read beside stdout: a command filling one while the other is read
            # would stall on the channel's window.
            reader = threading.Thread(target=_drain_quietly, args=(chan.recv_stderr, err), daemon=True)
            reader.start()
            _drain(chan.recv, out)
            reader.join(timeout)
            if not chan.status_event.wait(timeout):
                raise socket.timeout()
            code = chan.recv_exit_status()
        except (socket.timeout, TimeoutError):
            chan.close()
            self.lose(f"stopped answering (a command was silent for {timeout:.0f} s)")
            raise MachineUnreachable(self._lost) from None
        except OSError as e:
            self.lose(f"dropped the connection: {e}")
            raise MachineUnreachable(self._lost) from None
        finally:
            chan.close()
        return code, bytes(out), bytes(err)

    def run(self, argv, input=None, timeout=None) -> subprocess.CompletedProcess:
        code, out, err = self._exec(argv, input, timeout)
        return subprocess.CompletedProcess(argv, code, out, err)

    def run_lines(self, argv, stdin=None, timeout=None, print_output=False, print_prefix=""):
        started = time.monotonic()
        try:
            code, out, err = self._exec(argv, stdin, timeout)
        except MachineUnreachable:
            if timeout and time.monotonic() - started >= timeout:
                raise TimeoutError() from None
            raise
        lines = [OutputLine("stdout", line) for line in out.decode(errors="replace").splitlines()]
        lines += [OutputLine("stderr", line) for line in err.decode(errors="replace").splitlines()]
        if print_output:
            for line in lines:
                print(f"{print_prefix}{line.line}")
        return code, CommandOutput(lines)


def _drain(recv, into: bytearray) -> None:
    while True:
        chunk = recv(65536)
        if not chunk:
            return
        into += chunk


def _drain_quietly(recv, into: bytearray) -> None:
    try:
        _drain(recv, into)
    except OSError:  # the stdout side reports the timeout or the lost connection
        pass
