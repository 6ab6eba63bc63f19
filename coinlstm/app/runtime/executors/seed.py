"""The fork server's seed: a fork of a command's process, taken as the command starts, that
becomes the command's fork server (forkserver.py) when its executor asks for one.

Why: a server started as a fresh ``python -m`` pays an interpreter's start and imports what
its parent has imported already. A seed is forked while its process has one thread, no
connection and no open file of its own (the CLI plants it before it imports the command:
:data:`coinlstm.app.cli.SEEDED_COMMANDS`), so it carries nothing a task must not inherit; it
waits in a read, costing a fork, until the executor sends it the server's command line, and
then it runs that line's module exactly as ``python -m`` would, with that environment and its
stderr in the server's log. What the process had imported, the server does not import again:
nothing much for a command started by cron, everything when the command was itself forked from
a server that imported Keras (as the tests run the CLI: tests/forked_cli.py).

This module imports nothing heavy (the CLI imports it before any command): what it shares with
the server about forking is in forking.py, which is as light.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from coinlstm.app.runtime.executors.forking import (
    current_hazard,
    default_signals,
    exit_now,
    max_fd,
    run_entry,
)

#: The module a seed runs once asked: the fork server (forkserver.py), named here rather than
#: imported, since the seed's whole point is to import it only in the child.
SERVER_MODULE = "coinlstm.app.runtime.executors.forkserver"


def server_args(backend: str, preload: Sequence[str]) -> list[str]:
    """The fork server's arguments (after ``python -m SERVER_MODULE``)."""
    return ["--backend", backend, "--preload", *preload]


class Seed:
    """The driver's end of a seed; offers the calls of a Popen its owner (forkclient's
    ForkServer) makes: ``pid``, ``stdin``, ``stdout``, ``wait`` and ``kill``."""

    def __init__(self) -> None:
        requests_read, requests_write = os.pipe()
        events_read, events_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
            stream.flush()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; measured by the executor tests
            _grow(requests_read, events_write)
        os.close(requests_read)
        os.close(events_write)
        self.stdin = os.fdopen(requests_write, "wb")
        self.stdout = os.fdopen(events_read, "rb")
        self.returncode: int | None = None
        self._reaping = threading.Lock()

    def launch(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        """Become the server: ``python -m SERVER_MODULE ARGS`` with ``env``, stderr in
        ``log_path``. A seed already gone says so by its silence (the owner's first read)."""
        line = {"args": list(args), "env": env, "log": str(log_path)}
        with contextlib.suppress(OSError, ValueError):
            self.stdin.write((json.dumps(line) + "\n").encode())
            self.stdin.flush()

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code as Popen.wait gives it (TimeoutExpired after ``timeout`` s); safe
        from several threads, as Popen's is (the owner's reader thread and its close)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._reaping:
                if self.returncode is None:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
                if self.returncode is not None:
                    return self.returncode
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"fork server seed {self.pid}", timeout)
            time.sleep(0.01)

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def discard(self) -> None:
        """End a seed nobody asked for: it reads the end of its requests and exits."""
        with contextlib.suppress(OSError):
            self.stdin.close()
        self.stdout.close()
        self.wait()


_planted: Seed | None = None


@contextlib.contextmanager
def seeded(wanted: bool = True) -> Iterator[Seed | None]:
    """Plant this process's seed for the block (when ``wanted`` and the process can be forked
    now: :func:`current_hazard`); the block's first fork server grows from it
    (:func:`take_seed`), and one nobody took is ended on the way out."""
    global _planted
    seed = Seed() if wanted and _planted is None and current_hazard() is None else None
    if seed is not None:
        _planted = seed
    try:
        yield seed
    finally:
        if seed is not None and _planted is seed:
            _planted = None
            seed.discard()


def take_seed() -> Seed | None:
    """This process's seed, if one is planted and not taken yet; it is then the caller's."""
    global _planted
    taken, _planted = _planted, None
    return taken


# ---------------------------------------------------------------------------- the child


def _grow(requests_fd: int, events_fd: int) -> None:
    """The seed itself: keeps only its two pipes (as stdin and stdout, where ``python -m``
    of the server has them), waits for its line, then runs the server; never returns. End of
    its requests before the line (nobody asked, or the driver died) ends it quietly."""
    code = 70
    try:
        os.setsid()  # a session of its own, as Popen(start_new_session=True) would give it
        default_signals()
        os.dup2(requests_fd, 0)
        os.dup2(events_fd, 1)
        os.closerange(3, max_fd())  # all but its pipes, now stdin and stdout
        _redirect_stderr(os.devnull)
        line = _read_line(0)
        if not line:
            code = 0
            return
        request = json.loads(line)
        _redirect_stderr(request["log"])
        os.environ.clear()
        os.environ.update(request["env"])
        code = run_entry("module", SERVER_MODULE, request["args"])
    except BaseException:  # noqa: BLE001 - its log has it; the driver reads the server gone
        with contextlib.suppress(Exception):
            sys.excepthook(*sys.exc_info())
    finally:
        exit_now(code)


def _redirect_stderr(path: str) -> None:
    """fd 2 to ``path`` (truncated), as Popen's ``stderr=`` gives the fresh server its log."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def _read_line(fd: int) -> bytes:
    """One line from ``fd``, a byte at a time so that nothing after it is consumed (the
    server reads the rest); b"" at end of file."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            return b""
        line += byte
    return bytes(line)
