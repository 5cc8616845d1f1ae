"""What a machine is to a lab: somewhere commands run (this one, or one reached over SSH).

A backend makes and enters a lab's nodes by running argvs; on which machine they run is
this object's business alone, so the same backend code serves a local lab and the part
of a multi-host lab that lives on a remote machine.
"""

from __future__ import annotations

import shlex
import subprocess
from abc import ABC, abstractmethod

# How long a command may stay silent before it is taken as hung (seconds). A lab's
# commands are short; a machine that stops answering mid-command is given up on.
COMMAND_TIMEOUT = 120.0


class MachineError(RuntimeError):
    """A machine cannot be used: the message names it and says why."""


class MachineUnreachable(MachineError):
    """The machine does not answer (connect failed, or a command stayed silent too long)."""


class Machine(ABC):
    name: str  # what messages call it: "local", "machine1", "10.0.0.5"
    local: bool = False

    @property
    def address(self) -> str | None:
        """Where the other machines of a lab reach this one's underlay (VXLAN), if anywhere."""
        return None

    @abstractmethod
    def run(self, argv: list[str], input: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run argv here; stdout and stderr as bytes. MachineUnreachable if the machine is gone."""

    @abstractmethod
    def run_lines(self, argv: list[str], stdin: bytes | None = None, timeout: float | None = None,
                  print_output: bool = False, print_prefix: str = ""):
        """(exit code, pyinfra CommandOutput): what a pyinfra connector returns."""

    def sh(self, script: str, input: bytes | None = None, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        """A shell script run here; MachineError naming the machine when it fails."""
        p = self.run(["sh", "-c", script], input=input, timeout=timeout)
        if check and p.returncode != 0:
            first = script.strip().splitlines()[0] if script.strip() else script
            raise MachineError(f"{self.name}: `{first[:120]}` failed: {p.stderr.decode(errors='replace').strip()}")
        return p

    def check(self) -> None:
        """Raise MachineUnreachable when the machine cannot be reached now."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def command_line(argv: list[str]) -> str:
    return shlex.join(argv)
