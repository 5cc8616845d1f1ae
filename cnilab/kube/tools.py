"""``cnilab up --kind LAB`` / ``cnilab down --kind LAB``: a real kind + Cilium cluster.

The command lines are pure functions of the lab and the files ``cnilab.render.write_rendered``
wrote (the same steps as the rendered ``install.sh``); :func:`run` refuses in one line when
kind, helm or kubectl is not on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

NEEDS = {"up": ("kind", "helm", "kubectl"), "down": ("kind",)}  # deleting a kind cluster needs kind only
CILIUM_REPO = ("cilium", "https://helm.cilium.io")


def missing_tools(tools=("kind", "helm", "kubectl"), path: str | None = None) -> list[str]:
    """The tools not found on PATH (or on ``path``)."""
    return [t for t in tools if shutil.which(t, path=path) is None]


def refusal(verb: str, missing: list[str]) -> str:
    goal = "make a real kind cluster" if verb == "up" else "delete a real kind cluster"
    return f"cnilab {verb} --kind: {', '.join(missing)} not found: install them to {goal}"


def context_of(lab) -> str:
    return f"kind-{lab.name}"


def rendered_files(written: list[Path], out_dir: Path) -> dict[str, Path]:
    """``write_rendered``'s paths by their name under out_dir (``kind/cluster.yaml``, ...)."""
    return {p.relative_to(out_dir).as_posix(): p for p in map(Path, written)}


def create_argv(lab, files: dict[str, Path]) -> list[str]:
    return ["kind", "create", "cluster", "--name", lab.name,
            "--config", str(files["kind/cluster.yaml"]), "--image", lab.decl.nodeImage]


def control_plane_ip_argv(lab) -> list[str]:
    """The control-plane's InternalIP, read as the rendered install.sh does (k8sServiceHost)."""
    return ["kubectl", "--context", context_of(lab), "get", "node", f"{lab.name}-control-plane",
            "-o", 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}']


def cni_argvs(lab, files: dict[str, Path], control_plane_ip: str | None = None) -> list[list[str]]:
    """helm repo add/update and ``helm install cilium cilium/cilium --version V -f VALUES -n kube-system``."""
    install = ["helm", "install", "cilium", "cilium/cilium", "--version", lab.decl.cni.version,
               "-f", str(files["cilium/values.yaml"]), "-n", "kube-system", "--kube-context", context_of(lab)]
    if control_plane_ip:
        install += ["--set", f"k8sServiceHost={control_plane_ip}"]
    return [["helm", "repo", "add", *CILIUM_REPO, "--force-update"], ["helm", "repo", "update", CILIUM_REPO[0]], install]


def workloads_argv(lab, files: dict[str, Path]) -> list[str]:
    return ["kubectl", "--context", context_of(lab), "apply", "-f", str(files["workloads.yaml"])]


def up_argvs(lab, files: dict[str, Path], control_plane_ip: str | None = None) -> list[list[str]]:
    """Every command of ``cnilab up --kind``, in order (the control-plane IP read between 1 and 2)."""
    return [create_argv(lab, files), *cni_argvs(lab, files, control_plane_ip), workloads_argv(lab, files)]


def down_argvs(lab) -> list[list[str]]:
    return [["kind", "delete", "cluster", "--name", lab.name]]


def _check(argv: list[str], **kw) -> subprocess.CompletedProcess:
    print("+ " + " ".join(argv), file=sys.stderr)
    return subprocess.run(argv, check=True, **kw)


def run(verb: str, lab_arg: str, out_dir: Path | None = None) -> int:
    """``cnilab up|down --kind LAB``: exit 2 with one line when a tool or the plugin is missing."""
    missing = missing_tools(NEEDS[verb])
    if missing:
        print(refusal(verb, missing), file=sys.stderr)
        return 2
    from ..model import REPO_ROOT, load_lab
    from ..render import write_rendered

    lab = load_lab(lab_arg)
    if verb == "down":
        for argv in down_argvs(lab):
            _check(argv)
        return 0
    if lab.decl.cni.plugin != "cilium":
        print(f"cnilab up --kind: {lab.decl.cni.plugin} labs are not supported yet (Cilium only)", file=sys.stderr)
        return 2
    out_dir = Path(out_dir or REPO_ROOT / "build" / "kind" / lab.name)
    files = rendered_files(write_rendered(lab, out_dir), out_dir)
    try:
        _check(create_argv(lab, files))
        ip = _check(control_plane_ip_argv(lab), capture_output=True, text=True).stdout.strip() or None
        for argv in [*cni_argvs(lab, files, ip), workloads_argv(lab, files)]:
            _check(argv)
    except subprocess.CalledProcessError as e:
        print(f"cnilab up --kind: `{' '.join(e.cmd)}` failed (exit {e.returncode})", file=sys.stderr)
        return 1
    return 0
