"""This machine: argvs are started here (posix_spawn under pyinfra's gevent, cnilab.spawn)."""

from __future__ import annotations

import subprocess

from .. import spawn
from .base import Machine, MachineError


class LocalMachine(Machine):
    name = "local"
    local = True

    def __init__(self, address: str | None = None, name: str = "local"):
        self._address = address
        self.name = name

    @property
    def address(self) -> str | None:
        return self._address

    def run(self, argv: list[str], input: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            return spawn.run(argv, input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise MachineError(f"`{' '.join(argv)[:120]}` did not finish in {timeout:.0f} s") from None

    def run_lines(self, argv, stdin=None, timeout=None, print_output=False, print_prefix=""):
        return spawn.run_lines(argv, stdin=stdin, timeout=timeout, print_output=print_output, print_prefix=print_prefix)


LOCAL = LocalMachine()
