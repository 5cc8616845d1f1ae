"""Start processes from pyinfra without forking it.

pyinfra runs its hosts as gevent greenlets in one process, and gevent's subprocess forks
that process for every command: a fork copies the page tables of a process of 100 MiB
and more, about 10 ms of the one CPU the whole run shares, and a 100-node up runs some
1500 commands. posix_spawn (vfork and exec) costs a fraction of that. The child is
watched through gevent's own child watcher (gevent.os.fork_and_watch, handed the spawn
as its "fork"), so waiting for it blocks only the greenlet that asked.

Outside gevent (the CLI, tests) ``run`` is plain ``subprocess.run``.
"""

from __future__ import annotations

import os
import signal
import subprocess


def _gevent_active() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("subprocess")


def _spawn(argv: list[str]) -> tuple[int, int, int, int]:
    """(pid, stdin fd, stdout fd, stderr fd) of ``argv`` started with posix_spawnp."""
    import gevent.os

    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # os.pipe() fds are close-on-exec: the child keeps only what is dup'ed to 0, 1, 2.
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
    try:
        pid = gevent.os.fork_and_watch(fork=lambda: os.posix_spawnp(argv[0], argv, dict(os.environ), file_actions=actions))
    except BaseException:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    return pid, in_w, out_r, err_r


def _feed(fd: int, data: bytes | None) -> None:
    from gevent.fileobject import FileObjectPosix

    with FileObjectPosix(fd, "wb") as f:
        if data:
            try:
                f.write(data)
            except BrokenPipeError:
                pass


def _wait(pid: int) -> int:
    import gevent.os

    _, status = gevent.os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run_lines(argv: list[str], stdin: bytes | None = None, timeout: float | None = None, print_output: bool = False, print_prefix: str = ""):
    """``(exit code, pyinfra CommandOutput)``: the command's lines as pyinfra's own local
    connector reads them. TimeoutError (the child killed) after ``timeout`` seconds."""
    import gevent
    from gevent.fileobject import FileObjectPosix
    from pyinfra.connectors.util import read_output_buffers

    pid, in_w, out_r, err_r = _spawn(argv)
    writer = gevent.spawn(_feed, in_w, stdin)
    with FileObjectPosix(out_r, "rb") as out, FileObjectPosix(err_r, "rb") as err:
        try:
            output = read_output_buffers(out, err, timeout=timeout, print_output=print_output, print_prefix=print_prefix)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            writer.kill()
            _wait(pid)
            raise
    writer.join()
    return _wait(pid), output


def run(argv: list[str], input: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, input=input)``, spawned under gevent.
    (`timeout` holds outside gevent: subprocess.TimeoutExpired, the child killed.)"""
    if not _gevent_active():
        return subprocess.run(argv, capture_output=True, input=input, timeout=timeout)
    import gevent
    from gevent.fileobject import FileObjectPosix

    pid, in_w, out_r, err_r = _spawn(argv)
    writer = gevent.spawn(_feed, in_w, input)
    with FileObjectPosix(out_r, "rb") as out, FileObjectPosix(err_r, "rb") as err:
        readers = [gevent.spawn(f.read) for f in (out, err)]
        gevent.joinall(readers, raise_error=True)
    writer.join()
    return subprocess.CompletedProcess(argv, _wait(pid), readers[0].value, readers[1].value)
