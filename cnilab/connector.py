"""`@cnilab/<declaration>`: a pyinfra connector whose hosts are the nodes of a lab.

    pyinfra -y inventories/cilium_vxlan.py deploys/up.py [--data backend=netns]

`make_names_data` turns one declaration into one host per node, named as kind names
them. Commands run inside the node through its backend (`nsenter` into a namespace
node, `docker exec` into a container node). Connecting only checks that the backend can
work here; nodes are made and removed by operations (`cnilab.operations.node`), so a
teardown never makes a node, and a node that does not exist yet reads as empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from pyinfra import logger
from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.exceptions import ConnectError, InventoryError
from pyinfra.api.state import StateStage
from pyinfra.api.util import get_file_io
from pyinfra.connectors.base import BaseConnector
from pyinfra.connectors.local import LocalConnector
from pyinfra.connectors.util import CommandOutput, OutputLine, extract_control_arguments, make_unix_command_for_host

from .backends import NodeBackend, available_backends, get_backend
from .machines import MachineError, MachineUnreachable
from .model import DeclarationError, load_lab, resolve_declaration

# Exit code of a command sent to a node on a remote machine that found no such node there
# (the check and the command travel as one, to save a round trip per command).
NODE_MISSING = 197

if TYPE_CHECKING:
    from pyinfra.api.host import Host
    from pyinfra.api.state import State


def backend_for(host: Host) -> NodeBackend:
    """The backend of the host's node, on the machine the inventory places it on.
    `--data backend=...` wins over the declaration's `backend:`."""
    from .context import lab_of
    from .placement import placement_of

    name = host.data.get("backend") or host.data.get("cnilab_backend")
    if not host.data.get("cnilab_machines"):
        return get_backend(name)
    placement = placement_of(lab_of(host), host.data)
    return get_backend(name, placement.machine_of(host.data.cnilab_node))


def running_elsewhere(lab_name: str, backend_name: str) -> str | None:
    """The other backend this lab's nodes run on, if any: one lab, one place."""
    for other in available_backends():
        if other.name != backend_name and other.lab_nodes(lab_name):
            return other.name
    return None


class LabNodeConnector(BaseConnector):
    handles_execution = True

    def __init__(self, state: State, host: Host):
        super().__init__(state, host)
        self.local = LocalConnector(state, host)
        self.backend: NodeBackend | None = None
        self.remote = False
        self._lab_name: str | None = None
        self._node: str | None = None

    @staticmethod
    def make_names_data(name: str | None = None):
        if not name:
            raise InventoryError("@cnilab needs a lab declaration: @cnilab/inventories/cilium_vxlan.yaml")
        try:
            path = resolve_declaration(name)
            lab = load_lab(path)
        except DeclarationError as e:
            raise InventoryError(str(e)) from None
        for node in lab.nodes:
            data = {
                "cnilab_declaration": str(path.resolve()),
                "cnilab_lab": lab.name,
                "cnilab_node": node.name,
                "cnilab_backend": lab.decl.backend,
            }
            yield node.name, data, ["cnilab", node.role.replace("-", "_")]

    @property
    def lab_name(self) -> str:
        # Asked for every command; pyinfra's host.data lookup is not free.
        if self._lab_name is None:
            self._lab_name = self.host.data.cnilab_lab
        return self._lab_name

    @property
    def node(self) -> str:
        if self._node is None:
            self._node = self.host.data.cnilab_node
        return self._node

    def connect(self) -> None:
        self.local.connect()
        try:
            self.backend = backend_for(self.host)
            self.backend.check()
        except MachineUnreachable as e:
            raise ConnectError(
                f"{e}; node {self.node} and the lab's part on that machine left as they were (run again once it is back)"
            ) from None
        except (MachineError, ValueError) as e:
            raise ConnectError(str(e)) from None
        self.remote = not self.backend.machine.local
        if self.remote:
            from . import preflight
            from .context import lab_of

            problem = preflight.ensure(self.backend.machine, lab_of(self.host).plugin.name)
            if problem:
                raise ConnectError(f"{problem}; node {self.node} not made there")

    def _missing(self) -> bool:
        return not self.backend.node_exists(self.lab_name, self.node)

    def run_shell_command(self, command, print_output: bool = False, print_input: bool = False, **arguments):
        local_arguments = extract_control_arguments(arguments)
        if self.remote:
            return self._run_remote(command, print_output, print_input, local_arguments, arguments)
        if self._missing():
            if self.state.current_stage != StateStage.Execute:
                # Before `up` has made the node there is nothing in it: every fact is empty.
                return True, CommandOutput([])
            return False, CommandOutput(
                [OutputLine("stderr", f"node {self.node} of lab {self.lab_name} does not exist (run deploys/up.py)")]
            )
        if local_arguments.get("_stdin") is not None:
            command = make_unix_command_for_host(self.state, self.host, command, **arguments)
            argv = self.backend.exec_argv(self.lab_name, self.node, command.get_raw_value())
            logger.debug("--> Running in node %s: %s", self.node, command)
            node_command = StringCommand(*argv[:-1], QuoteString(argv[-1]))
            return self.local.run_shell_command(
                node_command, print_output=print_output, print_input=print_input, **local_arguments
            )
        # The command reaches the node's shell on its stdin, not as an argument: the
        # commands of a large lab's node (a map batch of hundreds of entries) are longer
        # than one argument may be (128 KiB). The shell reads it whole, then runs it, so
        # what it runs finds stdin at its end, as before. Started with posix_spawn, not a
        # fork of this process (cnilab.spawn).
        command = make_unix_command_for_host(self.state, self.host, command, **{**arguments, "_shell_executable": None})
        argv = self.backend.exec_argv(self.lab_name, self.node, 'eval "$(cat)"')
        logger.debug("--> Running in node %s: %s", self.node, command)
        if print_input:
            click.echo(f"{self.host.print_prefix}>>> {command}", err=True)
        code, output = self.backend.machine.run_lines(
            argv,
            stdin=command.get_raw_value().encode(),
            timeout=local_arguments.get("_timeout"),
            print_output=print_output,
            print_prefix=self.host.print_prefix,
        )
        codes = local_arguments.get("_success_exit_codes")
        return (code in codes if codes else code == 0), output

    def _run_remote(self, command, print_output, print_input, local_arguments, arguments):
        """A command for a node on another machine: the existence check and the command go
        as one (one round trip); the command reaches the node's shell on its stdin."""
        stdin = local_arguments.get("_stdin")
        if stdin is not None:
            # pyinfra's own stdin for the command: it goes in the argument instead.
            command = make_unix_command_for_host(self.state, self.host, command, **arguments)
            inner, data = command.get_raw_value(), (stdin if isinstance(stdin, str) else "\n".join(stdin)).encode()
        else:
            command = make_unix_command_for_host(self.state, self.host, command, **{**arguments, "_shell_executable": None})
            inner, data = 'eval "$(cat)"', command.get_raw_value().encode()
        argv = self.backend.guarded_exec_argv(self.lab_name, self.node, inner, NODE_MISSING)
        logger.debug("--> Running in node %s on %s: %s", self.node, self.backend.machine.name, command)
        if print_input:
            click.echo(f"{self.host.print_prefix}>>> {command}", err=True)
        try:
            code, output = self.backend.machine.run_lines(
                argv, stdin=data, timeout=local_arguments.get("_timeout"),
                print_output=print_output, print_prefix=self.host.print_prefix,
            )
        except MachineUnreachable as e:
            return False, CommandOutput([OutputLine("stderr", f"{e}; node {self.node} not reached")])
        if code == NODE_MISSING:
            if self.state.current_stage != StateStage.Execute:
                return True, CommandOutput([])
            return False, CommandOutput(
                [OutputLine("stderr", f"node {self.node} of lab {self.lab_name} does not exist on {self.backend.machine.name} (run deploys/up.py)")]
            )
        codes = local_arguments.get("_success_exit_codes")
        return (code in codes if codes else code == 0), output

    def put_file(self, filename_or_io, remote_filename, remote_temp_filename=None, print_output=False, print_input=False, **kwargs):
        with get_file_io(filename_or_io) as f:
            data = f.read()
        if isinstance(data, str):
            data = data.encode()
        try:
            self.backend.write_file(self.lab_name, self.node, data, remote_filename)
        except MachineError as e:
            raise OSError(str(e)) from None
        return True

    def get_file(self, remote_filename, filename_or_io, remote_temp_filename=None, print_output=False, print_input=False, **kwargs):
        try:
            data = self.backend.read_file(self.lab_name, self.node, remote_filename)
        except MachineError as e:
            raise OSError(str(e)) from None
        with get_file_io(filename_or_io, "wb") as f:
            f.write(data)
        return True

