"""The driver's end of the fork server (forkserver.py): start it, ask it for children, hear
how they end.

One server per executor run, started by the first task that can be forked. Requests go out on
the server's stdin; events come back on its stdout and are read by one thread here, which
hands each to the task thread waiting for it. The server's stderr is its log
(``LOGS/fork-server.log``): its last line is the reason given when it fails.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from coinlstm.app.runtime.executors.forkserver import entry_of
from coinlstm.app.runtime.executors.processes import exit_reason
from coinlstm.app.runtime.executors.seed import SERVER_MODULE, server_args, take_seed

#: The server runs OpenBLAS single-threaded: numpy's and SciPy's OpenBLAS otherwise start a
#: worker thread each at import, and a process with threads is not forked (forkserver.py).
SERVER_ENV = {"OPENBLAS_NUM_THREADS": "1"}
#: How long the server may take to import everything before the job gives up on it.
READY_SECONDS = 300.0
#: How long a closed server gets to end its children and exit before it is killed.
CLOSE_SECONDS = 30.0


class ForkUnavailable(Exception):
    """The server cannot fork this task (it refused, failed to start, or is gone): one line."""


def forkable(argv: list[str]) -> bool:
    """Whether a task's command line can run in a child forked from the server."""
    return entry_of(argv, sys.executable) is not None


def rss_mb(pid: int) -> float | None:
    """A living process's resident memory now (VmRSS), in MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


class _Request:
    """One task's exchange with the server: started (or refused), then exited."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.exited = threading.Event()
        self.pid: int | None = None
        self.refused: str | None = None
        self.status: int | None = None
        self.maxrss_kb: int = 0


class ForkedChild:
    """A running child of the server, as the executor sees any child: a pid and a wait."""

    def __init__(self, server: ForkServer, request: _Request) -> None:
        self.pid: int = request.pid  # type: ignore[assignment]
        self._server = server
        self._request = request

    def wait(self, timeout: float | None = None) -> tuple[int, int]:
        """(exit code as Popen.returncode gives it, peak RSS in kB); ForkUnavailable if the
        server ended before telling, TimeoutError if the child still runs after ``timeout``
        seconds."""
        if not self._request.exited.wait(timeout):
            raise TimeoutError(f"pid {self.pid} still runs after {timeout:g} s")
        if self._request.status is None:
            raise ForkUnavailable(f"{self._server.gone}, while the task ran")
        return os.waitstatus_to_exitcode(self._request.status), self._request.maxrss_kb


class ForkServer:
    """A started, ready server; the constructor raises :class:`ForkUnavailable` otherwise.

    The server grows from this process's seed (seed.py) when it has one, else it is a fresh
    ``python -m`` of the server's module; a seed that fails is followed by a fresh server.
    """

    def __init__(self, backend: str, env: dict[str, str], log_path: Path,
                 preload: Sequence[str] = ()) -> None:
        self.log_path = log_path
        self.gone: str | None = None
        self.forked = 0
        self._requests: dict[int, _Request] = {}
        self._next_id = 0
        self._lock = threading.Lock()  # the requests table
        self._write_lock = threading.Lock()  # the server's stdin
        env = {**env, **SERVER_ENV}
        #: Why this process's seed did not become the server (a fresh one did), if it failed.
        self.seed_failure: str | None = None
        if (planted := take_seed()) is not None:
            planted.launch(server_args(backend, preload), env, log_path)
            self.seed_failure = self._adopt(planted)
        self.seeded = planted is not None and self.seed_failure is None
        if not self.seeded and (failure := self._adopt(_launch(backend, preload, env,
                                                               log_path))) is not None:
            raise ForkUnavailable(failure)
        self.rss_at_ready_mb = rss_mb(self.pid)
        threading.Thread(target=self._read_events, name="fork-server-events",
                         daemon=True).start()

    def start(self, argv: list[str], env: dict[str, str], log_path: Path) -> ForkedChild:
        """Fork a child running ``argv`` (its output appended to ``log_path``); returns once
        it leads its own process group. ForkUnavailable if the server refused or is gone."""
        request = _Request()
        with self._lock:
            if self.gone is not None:
                raise ForkUnavailable(self.gone)
            self._next_id += 1
            request_id = self._next_id
            self._requests[request_id] = request
        message = {"op": "start", "id": request_id, "argv": argv, "env": env,
                   "log": str(log_path)}
        try:
            with self._write_lock:
                self.process.stdin.write((json.dumps(message) + "\n").encode())
                self.process.stdin.flush()
        except (OSError, ValueError):  # a broken pipe: the server is gone
            with self._lock:
                self._requests.pop(request_id, None)
            raise ForkUnavailable(self.gone or self._ended()) from None
        request.started.wait()
        if request.pid is None:
            raise ForkUnavailable(request.refused or self.gone or "the fork server did not "
                                                                  "answer")
        self.forked += 1
        return ForkedChild(self, request)

    def close(self) -> float | None:
        """End the server (it kills any child still running first); its RSS just before."""
        rss = rss_mb(self.process.pid)
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return rss

    def _adopt(self, process) -> str | None:
        """Make ``process`` (a Popen or a launched Seed) the server and wait for its first
        event: None once it is ready, else why not (it is closed then)."""
        self.process = process
        first = self._first_event()
        if first.get("event") == "ready":
            self.pid: int = first["pid"]
            self.ready_seconds: float = first["seconds"]
            return None
        self.close()
        return first.get("reason") or self._ended()

    # -- events ------------------------------------------------------------------

    def _first_event(self) -> dict:
        """The server's first event ("ready" or "unsafe"), or why none came in time."""
        ready, _, _ = select.select([self.process.stdout], [], [], READY_SECONDS)
        if not ready:
            self.process.kill()
            return {"reason": f"the fork server was not ready after {READY_SECONDS:g} s"}
        return self._next_event() or {}

    def _next_event(self) -> dict | None:
        line = self.process.stdout.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except ValueError:
            return {"event": "garbled", "reason": line[:200].decode(errors="replace")}

    def _read_events(self) -> None:
        while (event := self._next_event()) is not None:
            with self._lock:
                request = self._requests.get(event.get("id"))
                if event.get("event") in ("exited", "refused"):
                    self._requests.pop(event.get("id"), None)
            if request is None:
                continue
            kind = event.get("event")
            if kind == "started":
                request.pid = event["pid"]
                request.started.set()
            elif kind == "refused":
                request.refused = event["reason"]
                request.started.set()
            elif kind == "exited":
                request.status = event["status"]
                request.maxrss_kb = event["maxrss_kb"]
                request.exited.set()
        gone = self._ended()
        with self._lock:
            self.gone = gone
            pending, self._requests = list(self._requests.values()), {}
        for request in pending:
            request.started.set()
            request.exited.set()

    def _ended(self) -> str:
        """Why the server is gone: how it ended, and the last line of its log."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the fork server stopped answering"
        return f"the fork server ended ({exit_reason(code, self.log_path)})"


# -- how the server's process comes to be ---------------------------------------


def _launch(backend: str, preload: Sequence[str], env: dict[str, str],
            log_path: Path) -> subprocess.Popen:
    """A fresh interpreter running the server (it imports everything itself)."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, *server_args(backend, preload)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
            start_new_session=True)
