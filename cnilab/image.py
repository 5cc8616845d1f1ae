"""The offline node image for Docker-backed labs.

Docker-backed lab nodes run from ``cnilab/node:<hash>``, a minimal Debian root
built here with debootstrap (no registry pull, only the Debian mirror the host's
apt already uses) and loaded with ``docker import``.  The recipe lives in
``images/node/`` (package list, debootstrap/image settings, a root overlay and a
setup script run inside the root); the tag is the first 12 hex digits of a
sha256 over those files, so an unchanged recipe reuses the image and any edit
yields a new one.

Public API::

    node_image_tag(recipe_dir=None) -> str        # "cnilab/node:0123456789ab"
    image_exists(tag) -> bool
    ensure_node_image(log=print, recipe_dir=None) -> str   # build when missing
    build_node_image(log=print, recipe_dir=None) -> str    # always build
    purge_node_images(log=print) -> list[str]              # remove cnilab/node:*

The same machinery builds other images from other recipe directories: pass
``recipe_dir`` and ``repo`` (e.g. ``images/sshd`` and ``cnilab/sshd`` for the SSH
test-bed machines of scripts/ssh-testbed, see cnilab/testbed.py); the image's
``org.cnilab.image`` label is the repo's last part.

Every failure a user can fix (no docker CLI, no daemon, no debootstrap, not root,
mirror unreachable) raises :class:`NodeImageError` with one message naming the
problem and the fix.  The docker CLI is used throughout (subprocess).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Callable, Iterable

IMAGE_REPO = "cnilab/node"
IMAGE_LABEL = "org.cnilab.image"
RECIPE_LABEL = "org.cnilab.recipe"
RECIPE_ENV = "CNILAB_NODE_RECIPE"  # override the recipe directory
MIRROR_ENV = "CNILAB_DEBIAN_MIRROR"  # override the Debian mirror
BUILD_PARENT = Path("/var/tmp")
TAG_HEX = 12

# files in the recipe dir that do not shape the image
_HASH_SKIP_NAMES = {"__pycache__", ".DS_Store"}  # and the top-level README.md
_HASH_SKIP_SUFFIXES = ("~", ".swp", ".swo", ".pyc", ".orig", ".rej")

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Log = Callable[[str], object]


class NodeImageError(RuntimeError):
    """The node image cannot be checked or built; the message says why and how to fix it."""


# --------------------------------------------------------------------------- recipe


def resolve_recipe_dir(recipe_dir: str | os.PathLike | None = None) -> Path:
    """The recipe directory: the argument, else $CNILAB_NODE_RECIPE, else the repo's images/node."""
    if recipe_dir is None:
        recipe_dir = os.environ.get(RECIPE_ENV) or Path(__file__).resolve().parent.parent / "images" / "node"
    p = Path(recipe_dir).resolve()
    if not (p / "recipe.toml").is_file() or not (p / "packages.txt").is_file():
        raise NodeImageError(
            f"node image recipe not found in {p} (needs recipe.toml and packages.txt): "
            f"run from a cnilab checkout or set {RECIPE_ENV} to its images/node directory"
        )
    return p


def _skip(rel: Path) -> bool:
    return rel.as_posix() == "README.md" or any(
        part in _HASH_SKIP_NAMES or part.endswith(_HASH_SKIP_SUFFIXES) for part in rel.parts
    )


def recipe_files(recipe_dir: str | os.PathLike | None = None) -> list[Path]:
    """The files (and symlinks) that make up the recipe, sorted by relative path."""
    root = resolve_recipe_dir(recipe_dir)
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if _skip(rel) or (p.is_dir() and not p.is_symlink()):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def recipe_hash(recipe_dir: str | os.PathLike | None = None) -> str:
    """sha256 (hex) over every recipe file's relative path, type/exec bit and content."""
    root = resolve_recipe_dir(recipe_dir)
    h = hashlib.sha256(b"cnilab-node-recipe-v1\0")
    for p in recipe_files(root):
        rel = p.relative_to(root).as_posix().encode()
        if p.is_symlink():
            kind, data = b"l", os.readlink(p).encode()
        else:
            kind = b"x" if os.stat(p).st_mode & stat.S_IXUSR else b"f"
            data = p.read_bytes()
        h.update(b"%s\0%s\0%d\0" % (rel, kind, len(data)))
        h.update(data)
    return h.hexdigest()


def node_image_tag(recipe_dir: str | os.PathLike | None = None, repo: str = IMAGE_REPO) -> str:
    """``cnilab/node:<first 12 hex of the recipe hash>`` (``<repo>:<...>`` for another image)."""
    return f"{repo}:{recipe_hash(recipe_dir)[:TAG_HEX]}"


def _kind(repo: str) -> str:
    """The image's short name, from its repo: cnilab/node -> node, cnilab/sshd -> sshd."""
    return repo.rsplit("/", 1)[-1]


def load_recipe(recipe_dir: str | os.PathLike | None = None) -> dict:
    """recipe.toml as a dict, plus "packages" from packages.txt."""
    root = resolve_recipe_dir(recipe_dir)
    try:
        recipe = tomllib.loads((root / "recipe.toml").read_text())
    except tomllib.TOMLDecodeError as e:
        raise NodeImageError(f"{root / 'recipe.toml'} is not valid TOML: {e}") from None
    packages = []
    for line in (root / "packages.txt").read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
            raise NodeImageError(f"{root / 'packages.txt'}: {name!r} is not a Debian package name")
        packages.append(name)
    deb = recipe.get("debootstrap", {})
    for key in ("suite", "variant"):
        if not re.fullmatch(r"[a-z0-9-]+", str(deb.get(key, ""))):
            raise NodeImageError(f"{root / 'recipe.toml'}: [debootstrap] {key} is missing or invalid")
    recipe["packages"] = packages
    return recipe


# --------------------------------------------------------------------------- docker


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path=_SBIN_PATH)


def _docker_bin() -> str:
    docker = shutil.which("docker")
    if not docker:
        raise NodeImageError(
            "the docker CLI is not installed (not on PATH): install Docker "
            "(`apt-get install -y docker.io`) or put `docker` on PATH"
        )
    return docker


_DAEMON_DOWN = re.compile(
    r"cannot connect to the docker daemon|is the docker daemon running|error during connect|"
    r"permission denied while trying to connect|no such file or directory.*docker\.sock|connection refused",
    re.I,
)


def _daemon_error(detail: str) -> NodeImageError:
    detail = " ".join(detail.split())[:300]
    return NodeImageError(
        f"the Docker daemon does not answer ({detail}): start it (`systemctl start docker` "
        f"or `dockerd &`), or point DOCKER_HOST at a running one"
    )


def _docker(*args: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run([_docker_bin(), *args], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise _daemon_error(f"`docker {' '.join(args[:2])}` timed out after {timeout:.0f} s") from None
    if r.returncode != 0 and _DAEMON_DOWN.search(r.stderr):
        raise _daemon_error(r.stderr.strip())
    if check and r.returncode != 0:
        raise NodeImageError(f"`docker {' '.join(args)}` failed: {r.stderr.strip() or r.stdout.strip()}")
    return r


def docker_available() -> bool:
    """True when the docker CLI exists and its daemon answers (for skipping tests)."""
    try:
        check_docker()
    except NodeImageError:
        return False
    return True


def check_docker() -> str:
    """Return the daemon's version; NodeImageError when the CLI is missing or the daemon is silent."""
    r = _docker("version", "--format", "{{.Server.Version}}", check=False, timeout=15)
    if r.returncode != 0 or not r.stdout.strip():
        raise _daemon_error(r.stderr.strip() or "no server version")
    return r.stdout.strip()


def image_exists(tag: str) -> bool:
    """True when the local Docker engine has an image with this tag."""
    r = _docker("image", "inspect", "--format", "{{.Id}}", tag, check=False, timeout=30)
    return r.returncode == 0 and r.stdout.strip().startswith("sha256:")


def _image_id(tag: str) -> str | None:
    r = _docker("image", "inspect", "--format", "{{.Id}}", tag, check=False, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else None


def image_size(tag: str) -> int:
    """The image's size in bytes."""
    return int(_docker("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


# --------------------------------------------------------------------------- mirror


def _sources_entries(apt_dir: str | os.PathLike = "/etc/apt") -> Iterable[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every enabled `deb` entry in the host's apt sources."""
    base = Path(apt_dir)
    files = [base / "sources.list"] + sorted((base / "sources.list.d").glob("*.list"))
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] == "deb":
                yield line[1], [line[2]], line[3:]
    for f in sorted((base / "sources.list.d").glob("*.sources")):
        try:
            text = f.read_text()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split(), fields.get("components", "").split()


def host_debian_mirror(suite: str = "bookworm", apt_dir: str | os.PathLike = "/etc/apt") -> str:
    """The Debian mirror this host's apt uses for ``suite`` main ($CNILAB_DEBIAN_MIRROR wins).

    No mirror is built in: the project names none, so a machine whose apt knows no
    ``suite`` main source must say which one to use.
    """
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for uri, suites, components in _sources_entries(apt_dir):
        if suite in suites and "main" in components and uri.startswith(("http://", "https://", "file:/")):
            return uri.rstrip("/")
    raise NodeImageError(
        f"no Debian mirror for {suite} main in {apt_dir}/sources.list(.d): "
        f"set {MIRROR_ENV} to the Debian mirror to build the node image from"
    )


# --------------------------------------------------------------------------- build


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (deepest first)."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == str(path) or mp.startswith(prefix):
                found.append(mp)
    return sorted(set(found), key=lambda m: m.count("/"), reverse=True)


def _remove_build_dir(path: Path, log: Log) -> None:
    """Unmount whatever a failed debootstrap left mounted in ``path``, then delete it.

    Never deletes through a mount (a bind-mounted /dev in the target would take the
    host's device nodes with it): if something stays mounted, it is reported instead.
    """
    for _ in range(3):
        mounts = _mounts_under(path)
        if not mounts:
            break
        for mp in mounts:
            subprocess.run(["umount", mp], capture_output=True)
        for mp in _mounts_under(path):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    left = _mounts_under(path)
    if left:
        raise NodeImageError(
            f"build dir {path} still has mounts ({', '.join(left)}); not deleting it: "
            f"unmount them (`umount -R {path}`) and remove it by hand"
        )
    r = subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True, text=True)
    if r.returncode != 0 or path.exists():
        log(f"warning: could not remove build dir {path}: {r.stderr.strip()}")


def _preflight() -> dict[str, str]:
    if os.geteuid() != 0:
        raise NodeImageError(
            "building the node image needs root (debootstrap creates root-owned files and device "
            "nodes): run as root, e.g. `sudo scripts/build-node-image`"
        )
    tools = {}
    for tool, fix in (
        ("debootstrap", "apt-get install -y debootstrap"),
        ("chroot", "apt-get install -y coreutils"),
        ("tar", "apt-get install -y tar"),
    ):
        found = _which(tool)
        if not found:
            raise NodeImageError(f"{tool} is not installed: `{fix}`")
        tools[tool] = found
    return tools


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _copy_overlay(src: Path, dst: Path) -> None:
    """Copy rootfs/ into the root, owned by root, with normalised modes (0755/0644)."""
    if not src.is_dir():
        return
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src)
        if _skip(rel):
            continue
        target = dst / rel
        if p.is_symlink():
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(os.readlink(p), target)
            os.lchown(target, 0, 0)
        elif p.is_dir():
            target.mkdir(exist_ok=True)
            os.chown(target, 0, 0)
            os.chmod(target, 0o755)
        else:
            if target.is_symlink():
                target.unlink()
            shutil.copyfile(p, target)
            os.chown(target, 0, 0)
            os.chmod(target, 0o755 if os.stat(p).st_mode & stat.S_IXUSR else 0o644)


def _import_changes(recipe: dict, full_hash: str, kind: str = "node") -> list[str]:
    img = recipe.get("image", {})
    changes = []
    if img.get("entrypoint"):
        changes.append("ENTRYPOINT " + json.dumps(list(img["entrypoint"])))
    if img.get("cmd"):
        changes.append("CMD " + json.dumps(list(img["cmd"])))
    if img.get("workdir"):
        changes.append("WORKDIR " + str(img["workdir"]))
    for k, v in img.get("env", {}).items():
        changes.append(f"ENV {k}={json.dumps(str(v))}")
    labels = {**img.get("labels", {}), IMAGE_LABEL: kind, RECIPE_LABEL: full_hash}
    for k, v in labels.items():
        changes.append(f"LABEL {json.dumps(str(k))}={json.dumps(str(v))}")
    if img.get("stopsignal"):
        changes.append("STOPSIGNAL " + str(img["stopsignal"]))
    out = []
    for c in changes:
        out += ["--change", c]
    return out


def build_node_image(log: Log = print, recipe_dir: str | os.PathLike | None = None, mirror: str | None = None,
                     repo: str = IMAGE_REPO) -> str:
    """Build (or rebuild) the node image for the recipe (or the ``repo`` image of another recipe); return its tag."""
    rdir = resolve_recipe_dir(recipe_dir)
    recipe = load_recipe(rdir)
    full_hash = recipe_hash(rdir)
    tag = f"{repo}:{full_hash[:TAG_HEX]}"
    kind = _kind(repo)
    tools = _preflight()
    check_docker()
    deb = recipe["debootstrap"]
    suite = deb["suite"]
    mirror = mirror or host_debian_mirror(suite)
    old_id = _image_id(tag)

    start = time.monotonic()
    BUILD_PARENT.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f"cnilab-{kind}-", dir=BUILD_PARENT))
    try:
        root = build / "root"
        root.mkdir(mode=0o755)
        env = {"PATH": _SBIN_PATH, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root"}
        cmd = [
            tools["debootstrap"],
            f"--variant={deb['variant']}",
            f"--components={','.join(deb.get('components', ['main']))}",
            f"--include={','.join(recipe['packages'])}",
            suite,
            str(root),
            mirror,
        ]
        log(f"building {tag}: debootstrap {suite} ({len(recipe['packages'])} packages) from {mirror}")
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            detail = _tail(r.stdout + r.stderr)
            dlog = root / "debootstrap" / "debootstrap.log"
            if dlog.exists():
                detail += "\n--- debootstrap.log ---\n" + _tail(dlog.read_text(errors="replace"))
            raise NodeImageError(
                f"debootstrap {suite} from {mirror} failed (rc {r.returncode}); check that the mirror is "
                f"reachable (`apt-get update`) or set {MIRROR_ENV}:\n{detail}"
            )

        _copy_overlay(rdir / "rootfs", root)
        setup = rdir / "setup.sh"
        if setup.is_file():
            shutil.copyfile(setup, root / "cnilab-setup.sh")
            r = subprocess.run(
                [tools["chroot"], str(root), "/bin/sh", "/cnilab-setup.sh"], capture_output=True, text=True, env=env
            )
            (root / "cnilab-setup.sh").unlink()
            if r.returncode != 0:
                raise NodeImageError(
                    f"{setup} failed in the {kind} root (rc {r.returncode}):\n" + _tail(r.stdout + r.stderr)
                )
        shutil.rmtree(root / "debootstrap", ignore_errors=True)
        left = _mounts_under(root)
        if left:
            raise NodeImageError(f"debootstrap left mounts in the {kind} root: {', '.join(left)}")

        log(f"importing {tag}")
        tar = subprocess.Popen(
            [tools["tar"], "--numeric-owner", "--xattrs", "--xattrs-include=security.capability",
             "--sort=name", "-C", str(root), "-c", "."],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            imp = _docker("import", "--message", f"cnilab {kind} image, recipe {full_hash}",
                          *_import_changes(recipe, full_hash, kind), "-", tag,
                          check=False, timeout=900, stdin=tar.stdout)
        finally:
            tar.stdout.close()
            tar_err = tar.stderr.read().decode(errors="replace")
            tar.stderr.close()
            tar.wait()
        if tar.returncode != 0:
            raise NodeImageError(f"tar of the {kind} root failed: {tar_err.strip()}")
        if imp.returncode != 0:
            raise NodeImageError(f"docker import {tag} failed: {imp.stderr.strip()}")
    finally:
        _remove_build_dir(build, log)

    if old_id and old_id != _image_id(tag):
        _docker("image", "rm", old_id, check=False)  # the replaced build, if nothing uses it
    elapsed = time.monotonic() - start
    size = image_size(tag)
    log(f"{kind} image {tag} built in {elapsed:.1f} s ({size / 1e6:.1f} MB)")
    return tag


class _RecipeLock:
    """flock on the recipe directory: concurrent ensure_node_image() calls build once."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def ensure_node_image(log: Log = print, recipe_dir: str | os.PathLike | None = None, repo: str = IMAGE_REPO) -> str:
    """Return the node image tag (or the ``repo`` image's), building it first when the engine lacks it."""
    rdir = resolve_recipe_dir(recipe_dir)
    tag = node_image_tag(rdir, repo)
    if image_exists(tag):
        return tag
    check_docker()  # a silent daemon is an error here, not "missing image"
    with _RecipeLock(rdir):
        if image_exists(tag):  # built meanwhile by a concurrent caller
            return tag
        return build_node_image(log=log, recipe_dir=rdir, repo=repo)


# What --privileged gives a node, for engines that cannot grant it: a Docker engine
# that itself runs in a container whose bounding set lacks a capability (this
# project's CI host lacks CAP_SYS_RESOURCE) fails every --privileged run with
# "unable to apply caps: operation not permitted".  These options give the same
# capabilities the engine holds, no seccomp/AppArmor filter and writable /proc/sys;
# cnilab-node-init then remounts /sys read-write.
PRIVILEGED_FALLBACK = (
    "--cap-add", "ALL",
    "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined",
    "--security-opt", "systempaths=unconfined",
)
_privileged_cache: dict[str, list[str]] = {}


def _missing_caps() -> list[str]:
    """Capabilities absent from this process's bounding set (the engine's, when it runs here)."""
    names = {24: "SYS_RESOURCE", 21: "SYS_ADMIN", 12: "NET_ADMIN", 38: "PERFMON", 39: "BPF", 16: "SYS_MODULE"}
    try:
        with open("/proc/self/status") as f:
            bnd = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return []
    return [name for bit, name in sorted(names.items()) if not bnd >> bit & 1]


def privileged_args(tag: str | None = None) -> list[str]:
    """`docker run` options for a privileged node: ``["--privileged"]`` when the engine can
    start such a container, else PRIVILEGED_FALLBACK (minus capabilities it lacks).

    Probed once per process with the node image (``tag``, default: the current one).
    """
    tag = tag or node_image_tag()
    key = os.environ.get("DOCKER_HOST", "") + "|" + tag
    if key in _privileged_cache:
        return list(_privileged_cache[key])
    candidates = [["--privileged"], [*PRIVILEGED_FALLBACK, *sum((["--cap-drop", c] for c in _missing_caps()), [])]]
    errors = []
    for args in candidates:
        r = _docker("run", "--rm", "--network", "none", *args, "--entrypoint", "/bin/true", tag,
                    check=False, timeout=60)
        if r.returncode == 0:
            _privileged_cache[key] = args
            return list(args)
        errors.append(f"{' '.join(args)}: {r.stderr.strip()}")
    raise NodeImageError("cannot start a privileged node container: " + " | ".join(errors))


def node_images() -> list[str]:
    """Every local cnilab/node:* tag."""
    r = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO)
    return sorted(t for t in r.stdout.split() if t.startswith(IMAGE_REPO + ":") and not t.endswith(":<none>"))


def purge_node_images(log: Log = print) -> list[str]:
    """Remove every cnilab/node:* image (and untagged leftovers of ours); return what was removed."""
    removed, failed = [], []
    for tag in node_images():
        r = _docker("image", "rm", tag, check=False)
        (removed if r.returncode == 0 else failed).append(tag if r.returncode == 0 else f"{tag}: {r.stderr.strip()}")
    r = _docker("image", "ls", "-q", "--filter", "dangling=true", "--filter", f"label={IMAGE_LABEL}=node")
    for image_id in sorted(set(r.stdout.split())):
        if _docker("image", "rm", image_id, check=False).returncode == 0:
            removed.append(image_id)
    for item in removed:
        log(f"removed {item}")
    if failed:
        raise NodeImageError(
            "could not remove node images still in use: " + "; ".join(failed)
            + " — remove the lab containers first (`docker ps -a --filter ancestor=IMAGE`)"
        )
    return removed
