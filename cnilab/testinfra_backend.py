"""testinfra hosts for lab nodes and pods: `cnilab://<lab>/<node>[/<pod>]`.

    testinfra.get_host("cnilab://cilium_vxlan/worker")        # a node, by its kind suffix
    testinfra.get_host("cnilab://cilium_vxlan/worker/net")    # pod `net`, from its node
    pytest --hosts='cnilab://cilium_vxlan/*'                  # every node of the lab
    pytest --hosts='cnilab://cilium_vxlan/*/*'                # every pod (`worker/*`: a node's)

`<lab>` is, in this order:
- a path to a declaration file, up to its `.yaml`/`.yml` segment
  (`cnilab://inventories/cilium_vxlan.yaml/worker`, `cnilab:///tmp/lab/mine.yaml/*`);
- a declaration name, `inventories/<name>.yaml` (what `--lab` and `cnilab exec` take);
- the cluster name of a lab running here (what `cnilab labs` lists), when no declaration
  of that name exists: its nodes are then found on the machine, its pods by `ip netns list`
  in the node.

`<node>` is a node's full name or its kind suffix (`control-plane`, `worker`, `worker2`;
`controlplane`, `node01` in the Calico labs), as `cnilab exec` takes it; `<pod>` a pod's
name. A command runs inside the node the way the deploy enters it
(`NodeBackend.exec_argv`: nsenter into a namespace node, or into a container by its PID,
no `docker exec`), and inside a pod as `ip netns exec <pod> sh -c <command>` from its node.

Registering: testinfra has a fixed table of backends and keeps only the network location
of a host URL, so `register()` adds `cnilab` to that table and has `cnilab://` URLs keep
their path (other schemes are untouched). cnilab's pytest plugin, loaded by pytest from
its entry point, registers it; outside pytest, `import cnilab.testinfra_backend` does.
`--connection=cnilab --hosts=cilium_vxlan/worker` works too.
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass
from typing import Any

from testinfra.backend import base as tbase

SCHEME = "cnilab"


class LabNotFound(RuntimeError):
    pass


class NodeUnreachable(RuntimeError):
    """The machine a node is placed on does not answer (a multi-host lab)."""


def register_lab(arg: str, cluster: str, node_backend: Any, lab: Any) -> None:
    """Make `cnilab://<arg>/...` resolve to a lab already found (a multi-host lab's placed
    backend, from its inventory)."""
    _LABS[arg] = _LabRef(arg, cluster, node_backend, lab)


@dataclass
class _LabRef:
    """A lab as a host URL names it, resolved once per process."""

    arg: str  # as written in the URL
    cluster: str
    node_backend: Any  # cnilab.backends.NodeBackend
    lab: Any = None  # cnilab.model.lab.Lab, when a declaration names it

    def nodes(self) -> list[str]:
        if self.lab is not None:
            return [n.name for n in self.lab.nodes]
        return sorted(self.node_backend.lab_nodes(self.cluster))

    def short(self, node: str) -> str:
        return node.removeprefix(f"{self.cluster}-")

    def node(self, arg: str) -> str:
        nodes = self.nodes()
        name = arg if arg in nodes else f"{self.cluster}-{arg}"
        if name not in nodes:
            raise LabNotFound(f"lab {self.arg}: no node {arg!r} (nodes: {', '.join(self.short(n) for n in nodes)})")
        return name

    def pods(self, node: str) -> list[str]:
        if self.lab is not None:
            return [p.name for p in self.lab.pods_on(node)]
        out = self.node_backend.run_in(self.cluster, node, "ip netns list").stdout.decode()
        return [line.split()[0] for line in out.splitlines() if line.strip()]


_LABS: dict[str, _LabRef] = {}


def _is_declaration_path(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml"))


def resolve_lab(arg: str) -> _LabRef:
    """The running lab `arg` names (declaration path, declaration name, or cluster name)."""
    if arg in _LABS:
        return _LABS[arg]
    from .backends import available_backends
    from .model import DeclarationError, load_lab
    from .running import LabNotRunning, find_backend

    try:
        lab = load_lab(arg)
    except DeclarationError as e:
        if _is_declaration_path(arg):
            raise LabNotFound(str(e)) from None
        for backend in available_backends():
            if backend.lab_nodes(arg):
                ref = _LabRef(arg, arg, backend)
                break
        else:
            raise LabNotFound(f"{e}; nor is a lab of that cluster name running here (`cnilab labs` lists them)") from None
    else:
        try:
            ref = _LabRef(arg, lab.name, find_backend(lab), lab)
        except LabNotRunning as e:
            raise LabNotFound(str(e)) from None
    _LABS[arg] = ref
    return ref


def split_spec(spec: str) -> tuple[str, list[str]]:
    """`lab/node[/pod]` (the URL without `cnilab://`) -> (lab, [node, pod]); a declaration
    path keeps its slashes up to its `.yaml` segment."""
    parts = spec.split("/")
    for i, part in enumerate(parts):
        if _is_declaration_path(part):
            return "/".join(parts[: i + 1]), parts[i + 1 :]
    return parts[0], parts[1:]


class CnilabBackend(tbase.BaseBackend):
    """A lab node, or a pod from its node. `hostname` is `lab/node[/pod]`."""

    NAME = SCHEME

    def __init__(
        self,
        hostname: str,
        *args: Any,
        node_backend: Any = None,
        cluster: str | None = None,
        node: str | None = None,
        pod: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(hostname, *args, **kwargs)
        if node_backend is None:  # from a URL: find the lab
            lab_arg, rest = split_spec(hostname)
            if len(rest) not in (1, 2) or not all(rest):
                raise LabNotFound(f"cnilab://{hostname}: name a node (cnilab://<lab>/<node>) or a pod (cnilab://<lab>/<node>/<pod>)")
            ref = resolve_lab(lab_arg)
            node_backend, cluster, node = ref.node_backend, ref.cluster, ref.node(rest[0])
            pod = rest[1] if len(rest) == 2 else None
        self.node_backend, self.cluster, self.node, self.pod = node_backend, cluster, node, pod

    @classmethod
    def for_node(cls, node_backend: Any, cluster: str, node: str, pod: str | None = None) -> CnilabBackend:
        """A host for a node (or pod) already known: no lookup (what `RunningLab` uses)."""
        name = f"{cluster}/{node.removeprefix(f'{cluster}-')}" + (f"/{pod}" if pod else "")
        return cls(name, node_backend=node_backend, cluster=cluster, node=node, pod=pod)

    @classmethod
    def get_hosts(cls, host: str, **kwargs: Any) -> list[str]:
        """`lab/*` -> every node, `lab/<node>/*` -> the node's pods, `lab/*/*` -> every pod."""
        if not host:
            raise RuntimeError("the cnilab backend needs a host: cnilab://<lab>/<node>, cnilab://<lab>/*")
        lab_arg, rest = split_spec(host)
        if "*" not in rest:
            return [host]
        ref = resolve_lab(lab_arg)
        nodes = ref.nodes() if rest[0] == "*" else [ref.node(rest[0])]
        if len(rest) == 1:
            return [f"{lab_arg}/{ref.short(n)}" for n in nodes]
        if len(rest) == 2 and rest[1] == "*":
            return [f"{lab_arg}/{ref.short(n)}/{p}" for n in nodes for p in ref.pods(n)]
        raise RuntimeError(f"cnilab://{host}: `*` stands for every node (<lab>/*) or every pod (<lab>/*/*, <lab>/<node>/*)")

    def run(self, command: str, *args: str, **kwargs: Any) -> tbase.CommandResult:
        from .machines import MachineUnreachable

        cmd = self.get_command(command, *args)
        inner = f"ip netns exec {shlex.quote(self.pod)} sh -c {shlex.quote(cmd)}" if self.pod else cmd
        try:
            # On the node's machine: this one, or the one a multi-host lab placed it on.
            p = self.node_backend.run_in(self.cluster, self.node, inner, check=False)
        except MachineUnreachable as e:
            raise NodeUnreachable(f"node {self.node} is unreachable: {e}") from None
        return self.result(p.returncode, self.encode(cmd), p.stdout, p.stderr)


def _spec_of(hostspec: str) -> str:
    """`cnilab://lab/node?x=y` -> `lab/node` (`cnilab:///abs/lab.yaml/n` -> `/abs/lab.yaml/n`)."""
    url = urllib.parse.urlsplit(hostspec)
    return url.netloc + url.path


def register() -> None:
    """Make `cnilab://` a testinfra backend (idempotent)."""
    import testinfra.backend as tb

    tb.BACKENDS.setdefault(SCHEME, f"{__name__}.CnilabBackend")
    if getattr(tb.parse_hostspec, "_cnilab", False):
        return
    original = tb.parse_hostspec

    def parse_hostspec(hostspec: str) -> tuple[str, dict[str, Any]]:
        host, kw = original(hostspec)
        if kw.get("connection") == SCHEME:
            host = _spec_of(hostspec)  # testinfra keeps only the netloc; the node is in the path
        return host, kw

    parse_hostspec._cnilab = True  # type: ignore[attr-defined]
    parse_hostspec.__wrapped__ = original  # type: ignore[attr-defined]
    tb.parse_hostspec = parse_hostspec


register()
