"""`cnilab`: a thin wrapper over the commands a user can also run by hand.

    cnilab validate FILE...          check declarations, touch nothing
    cnilab render LAB [-o DIR]       kind spec, Helm values, workloads, install.sh
    cnilab up LAB [--backend B]      = pyinfra -y inventories/LAB.py deploys/up.py [--data backend=B]
    cnilab up|down --kind LAB        a real kind + Cilium cluster (needs kind, helm, kubectl)
    cnilab verify LAB [PYTEST ARGS]  = pytest verify/ --lab LAB
    cnilab verify LAB --json         the same, its results as one JSON document on stdout
    cnilab down LAB [--backend B]    = pyinfra -y inventories/LAB.py deploys/down.py
                                     (LAB may be a cluster name once its declaration is gone)
    cnilab up|verify|down INVENTORY.py   a multi-host lab, from its inventory
    cnilab preflight INVENTORY.py    what each machine lacks, one line per machine
    cnilab labs                      the labs on this machine, found by name
    cnilab status LAB                which backend runs it, its nodes and pods
    cnilab exec LAB NODE [-p POD] -- CMD...
    cnilab bpf LAB NODE tunnel|endpoint|ipcache|lb|nat  a map, as `cilium bpf <map> list` prints it
    cnilab identity list LAB         the lab's identities, as `cilium identity list` prints them
    cnilab bench [--quick] [--only PART]  lifecycle, scale, throughput, per-packet figures
    cnilab graph LAB [-o FILE] [--format svg|png]  a picture of the running lab (Graphviz's dot)
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .drive import INVENTORY_PY
from .model import REPO_ROOT, DeclarationError, load_lab, resolve_declaration



def _inventory(lab_arg: str) -> Path:
    """The pyinfra inventory for a declaration: its .py beside it, or one made for it."""
    decl = resolve_declaration(lab_arg)
    inv = decl.with_suffix(".py")
    if inv.exists():
        return inv
    tmp = Path(tempfile.mkdtemp(prefix="cnilab-inv-"))
    (tmp / decl.name).write_text(decl.read_text())
    (tmp / f"{decl.stem}.py").write_text(INVENTORY_PY)
    return tmp / f"{decl.stem}.py"


def _is_inventory(arg: str) -> bool:
    """A pyinfra inventory file (a multi-host lab's), not a declaration."""
    return arg.endswith(".py") and Path(arg).is_file()


def _pyinfra(lab_arg: str, deploy: str, backend: str | None) -> int:
    if _is_inventory(lab_arg):
        inventory = Path(lab_arg)
        _read_inventory(lab_arg)  # a broken inventory or placement is refused here, in one line
    else:
        if deploy == "up.py":
            load_lab(lab_arg)  # a broken declaration is refused here, in one line, before pyinfra starts
        inventory = _inventory(lab_arg)
    argv = [sys.executable, "-m", "pyinfra", "-y", str(inventory.resolve()), str(REPO_ROOT / "deploys" / deploy)]
    if backend:
        argv += ["--data", f"backend={backend}"]
    return subprocess.call(argv, cwd=REPO_ROOT)


def _read_inventory(path: str):
    from .inventory import InventoryError, read_inventory

    try:
        return read_inventory(path)
    except InventoryError as e:
        raise DeclarationError(str(e)) from None


def cmd_preflight(a) -> int:
    """One line per machine of a lab's inventory: ready, unreachable, or what it lacks."""
    from . import preflight
    from .machines import MachineError

    inv = _read_inventory(a.inventory)
    bad = 0
    for name in inv.placement.used() or ["local"]:
        machine = inv.placement.machine(name)
        nodes = ", ".join(n.removeprefix(f"{inv.lab.name}-") for n in inv.placement.nodes_on(name))
        try:
            problem = preflight.line(machine, inv.lab.plugin.name)
        except MachineError as e:
            problem = str(e)
        bad += bool(problem)
        print(problem + f" (nodes {nodes})" if problem else f"{machine.name}: ready for {nodes}")
    return 1 if bad else 0


def cmd_doctor(a) -> int:
    """Which of Cilium's kernel-dependent features (seed 004's table) a kernel supports, from
    probes in throwaway namespaces: this machine's, or each machine of a lab's inventory."""
    from .cni import get_plugin
    from .machines import MachineError

    plugin = get_plugin("cilium")
    if a.inventory:
        inv = _read_inventory(a.inventory)
        machines = [inv.placement.machine(name) for name in inv.placement.used() or ["local"]]
    else:
        from .machines import get_machine

        machines = [get_machine("@local")]
    bad = 0
    for machine in machines:
        def run(script: str, m=machine) -> tuple[int, str, str]:
            p = m.sh(script, check=False)
            return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

        if len(machines) > 1:
            print(f"{machine.name}:")
        try:
            print(plugin.doctor(run, a.evidence))
        except (MachineError, RuntimeError) as e:
            print(f"cnilab doctor: {machine.name}: {e}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def cmd_down(a) -> int:
    """pyinfra's down with the declaration; by cluster name when there is none."""
    if _is_inventory(a.lab):
        return _pyinfra(a.lab, "down.py", a.backend)
    from .model.declaration import NAME_RE

    try:
        resolve_declaration(a.lab)
    except DeclarationError as e:
        from .teardown import destroy, labs_here

        if not NAME_RE.match(a.lab) or a.lab not in labs_here():
            raise DeclarationError(f"{e}; nor is a lab of that cluster name on this machine (`cnilab labs` lists them)") from None
        removed = destroy(a.lab)
        for r in removed:
            print(f"removed {r.kind} {r.name}")
        print(f"lab {a.lab}: removed {len(removed)} objects (found by name; its declaration is gone)")
        return 0
    return _pyinfra(a.lab, "down.py", a.backend)


def _kind(verb: str, a) -> int:
    """`cnilab up|down --kind LAB`: a real kind cluster; one line and exit 2 without the tools."""
    from .kube.tools import run

    return run(verb, a.lab)


def cmd_labs(a) -> int:
    from .teardown import labs_here

    found = labs_here()
    for name, where in found.items():
        print(f"{name}  {', '.join(where)}")
    if not found:
        print("no labs on this machine")
    return 0


class _NotRunning(Exception):
    pass


def _running(lab_arg: str):
    from .verify import LabNotRunning, find_backend

    if _is_inventory(lab_arg):
        inv = _read_inventory(lab_arg)
        return inv.lab, inv.backend()  # a multi-host lab: each node on its machine
    lab = load_lab(lab_arg)
    try:
        return lab, find_backend(lab)
    except LabNotRunning as e:
        raise _NotRunning(str(e)) from None


def _node(lab, arg: str) -> str:
    return arg if arg in {n.name for n in lab.nodes} else f"{lab.name}-{arg}"


# `cnilab validate` exit codes (README: "Validating a declaration").
VALID, INVALID, UNREADABLE = 0, 1, 2


def cmd_validate(a) -> int:
    """Every problem of every declaration, one line each (stderr), or as JSON (stdout)."""
    import json

    results, worst = [], VALID
    for f in a.files:
        try:
            try:
                path = resolve_declaration(f)
            except DeclarationError as e:
                raise DeclarationError(str(e), source=str(f), unreadable=True) from None
            lab = load_lab(path)
        except DeclarationError as e:
            code = UNREADABLE if e.unreadable else INVALID
            worst = max(worst, code)
            prefixes = tuple(f"{x}: " for x in {str(f), str(locals().get("path", f)), Path(f).stem})
            errors = []
            for (where, message), line in zip(e.problems, e.errors):
                if where is None and message.startswith(prefixes):
                    message = message.split(": ", 1)[1]
                errors.append({"path": where, "message": message, "line": line})
            results.append({"file": str(f), "valid": False, "readable": not e.unreadable, "errors": errors})
            if not a.json:
                for line in e.errors:
                    print(line, file=sys.stderr)
        else:
            summary = {"cluster": lab.name, "nodes": len(lab.nodes), "pods": len(lab.pods), "services": len(lab.services)}
            results.append({"file": str(f), "valid": True, "readable": True, "errors": [], "lab": summary})
            if not a.json:
                print(f"{f}: OK ({lab.name}: {len(lab.nodes)} nodes, {len(lab.pods)} pods, {len(lab.services)} services)")
    if a.json:
        print(json.dumps({"exit": worst, "declarations": results}, indent=2))
    return worst


def cmd_render(a) -> int:
    from .render import write_rendered

    lab = load_lab(a.lab)
    out = Path(a.output or f"build/{lab.decl_name}")
    for p in write_rendered(lab, out):
        print(p)
    return 0


def cmd_status(a) -> int:
    lab, backend = _running(a.lab)
    from .verify import RunningLab

    running = backend.lab_nodes(lab.name)
    rl = RunningLab(lab, backend)
    print(f"lab {lab.decl_name}: cluster {lab.name} on {backend.name}, world {lab.world.ip}")
    for n in lab.nodes:
        up = backend.node_exists(lab.name, n.name)
        state = "up" if up else ("half-made" if n.name in running else "missing")
        pods = ", ".join(f"{p.name} {p.ip}" for p in lab.pods_on(n.name)) or "-"
        summary = lab.plugin.node_summary(lab, n.name)
        print(f"\n{n.name}  {state}  {n.ip}  pod CIDR {n.pod_cidr}  {summary + '  ' if summary else ''}pods: {pods}")
        if up:
            print(lab.plugin.status(rl, n.name))
    return 0


def cmd_exec(a) -> int:
    lab, backend = _running(a.lab)
    node = _node(lab, a.node)
    command = shlex.join(a.command)
    if a.pod:
        command = f"ip netns exec {shlex.quote(a.pod)} {command}"
    if not getattr(backend, "backends", None):
        argv = backend.exec_argv(lab.name, node, command)
        os.execvp(argv[0], argv)
    # A node on another machine: its output once the command ends (no terminal of its own).
    p = backend.run_in(lab.name, node, command, check=False)
    sys.stdout.buffer.write(p.stdout)
    sys.stderr.buffer.write(p.stderr)
    return p.returncode


def cmd_bpf(a) -> int:
    from .bpf.bpftool import PIN_DIR

    lab, backend = _running(a.lab)
    node = _node(lab, a.node)
    lists = lab.plugin.map_lists()
    if a.map not in lists:
        print(f"cnilab bpf: a {lab.decl.cni.plugin} lab has no {a.map} map list", file=sys.stderr)
        return 2
    map_names, fmt = lists[a.map]
    dumps = []
    for map_name in map_names:
        p = backend.run_in(lab.name, node, f"bpftool -j map dump pinned {PIN_DIR}/{map_name}", check=False)
        if p.returncode != 0:
            print(f"{node}: {map_name}: {p.stderr.decode(errors='replace').strip() or 'not pinned'}", file=sys.stderr)
            return 1
        dumps.append(p.stdout.decode())
    print(fmt(dumps), end="")
    return 0


def cmd_graph(a) -> int:
    """The running lab drawn by `dot`: nodes, their devices and tc programs, pods, the
    underlay, tunnels and BGP sessions, all read from the nodes."""
    import shutil

    from . import graph

    fmt = a.format or (Path(a.output).suffix.lstrip(".") if a.output and Path(a.output).suffix in (".svg", ".png") else "svg")
    if not shutil.which("dot"):
        print("cnilab graph: Graphviz's `dot` is missing: apt-get install graphviz", file=sys.stderr)
        return 2
    lab, backend = _running(a.lab)
    data = graph.render(graph.lab_dot(lab, backend), fmt)
    out = Path(a.output or f"build/{lab.decl_name}.{fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(out)
    return 0


def cmd_monitor(a) -> int:
    """`cilium monitor` for a running lab: its programs' trace, drop and debug notifications."""
    lab, backend = _running(a.lab)
    monitor = getattr(lab.plugin, "monitor", None)  # the CNI's own (Cilium's)
    if monitor is None:
        print(f"cnilab monitor: a {lab.decl.cni.plugin} lab has no datapath notifications", file=sys.stderr)
        return 2
    nodes = [_node(lab, a.node)] if a.node else [n.name for n in lab.nodes]
    return monitor(lab, backend, nodes, verbosity=min(a.verbose, 2), types=a.type or [], json=a.json,
                   numeric=a.numeric, seconds=a.seconds)


def cmd_identity(a) -> int:
    """`cilium identity list` from the lab's model: no node is asked, the lab need not run.
    The identities are the lab's own, numbered by hash; a real agent allocates others."""
    words = [w for w in a.words if w != "list"] or ["list"]
    if len(words) != 1:
        print("cnilab identity: give one lab: cnilab identity list LAB", file=sys.stderr)
        return 2
    lab = load_lab(words[0])
    listing = getattr(lab.plugin, "identity_list", None)  # the CNI's own view (Cilium's)
    if listing is None:
        print(f"cnilab identity: a {lab.decl.cni.plugin} lab has no identities", file=sys.stderr)
        return 2
    print(listing(lab), end="")
    return 0


def cmd_verify(a) -> int:
    """pytest verify/ --lab LAB; with --json, pytest's own output goes to stderr and stdout
    gets one JSON document (lab, backend, counts, each check's outcome and message) written
    by cnilab's pytest plugin (--cnilab-json). The exit code is pytest's."""
    pytest_args = list(a.pytest_args)
    as_json = a.json or "--json" in pytest_args
    pytest_args = [x for x in pytest_args if x != "--json"]
    which = ["--inventory", str(Path(a.lab).resolve())] if _is_inventory(a.lab) else ["--lab", a.lab]
    argv = [sys.executable, "-m", "pytest", str(REPO_ROOT / "verify"), *which, *pytest_args]
    if not as_json:
        return subprocess.call(argv, cwd=REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="cnilab-verify-") as tmp:
        out = Path(tmp) / "results.json"
        rc = subprocess.call([*argv, "--cnilab-json", str(out)], cwd=REPO_ROOT, stdout=sys.stderr.fileno())
        if not out.exists():
            print(f"cnilab verify: pytest wrote no results (exit {rc})", file=sys.stderr)
            return rc or 1
        sys.stdout.write(out.read_text())
    return rc


def cmd_bench(a) -> int:
    # The benchmarks are tools of the source checkout, not of the library.
    if not (REPO_ROOT / "bench" / "__main__.py").is_file():
        print("cnilab bench: the benchmarks run from a cnilab source checkout (python -m bench)", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "bench", *a.bench_args], cwd=REPO_ROOT)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `cnilab status X | head` ends quietly
    ap = argparse.ArgumentParser(prog="cnilab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("validate", help="check declarations without touching the machine")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="the results as JSON on stdout (exit 0 valid, 1 invalid, 2 unreadable)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("render", help="render the kind spec, Helm values and install script")
    p.add_argument("lab")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_render)
    for name, deploy in (("up", "up.py"), ("down", "down.py")):
        p = sub.add_parser(name, help=f"pyinfra deploys/{deploy}")
        p.add_argument("lab")
        p.add_argument("--backend", choices=["docker", "netns"])
        p.add_argument("--kind", action="store_true",
                       help="a real kind + Cilium cluster with kind, helm and kubectl (cnilab.kube.tools)")
        lab_func = cmd_down if name == "down" else lambda a, d=deploy: _pyinfra(a.lab, d, a.backend)
        p.set_defaults(func=lambda a, n=name, f=lab_func: _kind(n, a) if a.kind else f(a))
    p = sub.add_parser("preflight", help="what each machine of a lab's inventory lacks, one line per machine")
    p.add_argument("inventory", help="a lab's pyinfra inventory, e.g. inventories/cilium_vxlan_multihost.py")
    p.set_defaults(func=cmd_preflight)
    p = sub.add_parser("doctor", help="which of Cilium's kernel-dependent features this kernel supports (seed 004's table), from probes")
    p.add_argument("inventory", nargs="?", help="a lab's pyinfra inventory: probe each of its machines")
    p.add_argument("--evidence", action="store_true", help="say what decided every verdict, yes ones too")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("labs", help="the labs on this machine, found by name (no declaration needed)")
    p.set_defaults(func=cmd_labs)
    p = sub.add_parser("verify", help="pytest verify/ --lab LAB (--json: one JSON document of the results)")
    p.add_argument("lab")
    p.add_argument("--json", action="store_true", help="print the results as one JSON document (pytest's output to stderr)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("status", help="which backend runs the lab, its nodes and pods")
    p.add_argument("lab")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("exec", help="run a command in a node (or in a pod with -p)")
    p.add_argument("lab")
    p.add_argument("node", help="node name or its kind suffix: control-plane, worker, worker2")
    p.add_argument("-p", "--pod")
    p.add_argument("command", nargs="+", help="the command; put -- before it when it has options")
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("bpf", help="list a map as `cilium bpf <map> list` does")
    p.add_argument("lab")
    p.add_argument("node", help="node name or its kind suffix: control-plane, worker, worker2")
    p.add_argument("map", choices=["tunnel", "endpoint", "ipcache", "lb", "nat", "ct"])
    p.add_argument("list", nargs="?", choices=["list"], help="(as in `cilium bpf tunnel list`)")
    p.add_argument("scope", nargs="?", choices=["global"], help="(as in `cilium bpf ct list global`)")
    p.set_defaults(func=cmd_bpf)
    p = sub.add_parser("graph", help="draw the running lab (nodes, devices, tc programs, pods, tunnels, BGP) with Graphviz")
    p.add_argument("lab")
    p.add_argument("-o", "--output", help="the file to write (default build/LAB.svg)")
    p.add_argument("--format", choices=["svg", "png"], help="default: the output's suffix, else svg")
    p.set_defaults(func=cmd_graph)
    p = sub.add_parser("monitor", help="the datapath's trace, drop and debug events as `cilium monitor` prints them")
    p.add_argument("lab")
    p.add_argument("node", nargs="?", help="one node (name or kind suffix); default: every node, each line prefixed")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: debug messages too; -vv: packet dumps")
    p.add_argument("-t", "--type", action="append", choices=["trace", "drop", "debug", "capture"], help="only these (repeatable)")
    p.add_argument("-j", "--json", action="store_true", help="one JSON object per event, as `cilium monitor -j`")
    p.add_argument("-n", "--numeric", action="store_true", help="identities as numbers, reserved ones too")
    p.add_argument("--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=cmd_monitor)
    p = sub.add_parser(
        "identity",
        help="list the lab's identities as `cilium identity list` does (from its model: the lab's own numbers)",
    )
    p.add_argument("words", nargs="+", metavar="list LAB", help="(`list` as in `cilium identity list`) and the lab")
    p.set_defaults(func=cmd_identity)
    p = sub.add_parser("bench", help="lifecycle, scale, throughput and per-packet figures (python -m bench)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="--quick, --only PART, --runs N, --backend B, --json FILE")
    p.set_defaults(func=cmd_bench)
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["bench"] and not set(args[1:2]) & {"-h", "--help"}:
        # Everything after `bench` is the benchmarks' own (python -m bench --help).
        a = argparse.Namespace(func=cmd_bench, bench_args=args[1:])
    else:
        a = ap.parse_args(args)
    try:
        return a.func(a)
    except DeclarationError as e:
        print(e, file=sys.stderr)
        return 2
    except _NotRunning as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
