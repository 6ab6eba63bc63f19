"""The default executor: every task is a local process of its own, started by a thread of a
pool.

A process per task means Keras/TensorFlow/JAX memory goes back to the OS after every task, and
a crash or a hang costs one task, not the job. Each child runs in its own process group (a
timeout kills the whole group), writes its output to ``LOGS/NAME.log`` and its result to
``LOGS/NAME.result.json``, and exits when the driver dies (coinlstm.app.runtime.lifeline).

By default the child is forked from a fork server that imported numpy, Keras and the backend
once for the whole run (forkserver.py, forkclient.py), so no task pays those imports; it is
a fresh interpreter instead when the settings say so (``--fresh-processes``,
``COINLSTM_FORK_SERVER=0``), for a backend that is not forked (TensorFlow, PyTorch), for a
command line that is not ``python -m``/``-c``, and whenever the server cannot fork safely. The
rules after the start (time limit, stop, result file, exit reason) are the same either way.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

from coinlstm.app.runtime.executors.base import (
    FAILED,
    TIMEOUT,
    ConfiguredExecutor,
    ExecutorConfig,
    Outcome,
    Task,
    outcome_from_result,
)
from coinlstm.app.runtime.executors.forkclient import (
    ForkServer,
    ForkUnavailable,
    forkable,
)
from coinlstm.app.runtime.executors.forkserver import FORKABLE_BACKENDS
from coinlstm.app.runtime.executors.processes import exit_reason, kill_group, read_json
from coinlstm.core.config import (
    ENV_ARTIFACTS,
    ENV_DB_RETRY_SECONDS,
    ENV_DB_URL,
    ENV_EXCHANGE,
    ENV_HOME,
    ENV_PARENT_PID,
    ENV_SCHEMA_READY,
)

#: The fork server's own log, beside the tasks' logs.
SERVER_LOG = "fork-server.log"


class _Child(Protocol):
    """A task's running process, however it was started."""

    pid: int

    def wait(self) -> tuple[int, int]:
        """(exit code as Popen.returncode gives it, peak RSS in kB) once it has ended."""
        ...


class _FreshChild:
    """A fresh interpreter started with Popen."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.pid = process.pid

    def wait(self) -> tuple[int, int]:
        # wait4 rather than Popen.wait: it also reports the child's peak memory.
        _, status, usage = os.wait4(self.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return self.process.returncode, usage.ru_maxrss


class SubprocessExecutor(ConfiguredExecutor):
    """Up to ``workers`` child processes at once, each killed (whole group) after ``timeout``."""

    name = "subprocess"

    def __init__(self, config: ExecutorConfig) -> None:
        super().__init__(config)
        self.task_modules = config.task_modules
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        #: The fork server: None until the first forkable task asks (then started, or
        #: given up on for the run: self._forking False).
        self._server: ForkServer | None = None
        self._forking: bool | None = None if config.settings.fork_server else False
        self._server_lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def child_env(self) -> dict[str, str]:
        # The database URL travels in the environment, not argv: `ps` shows argv to everyone.
        env = dict(os.environ)
        env[ENV_DB_URL] = self.settings.db_url
        env[ENV_EXCHANGE] = self.settings.exchange
        env[ENV_ARTIFACTS] = str(self.settings.artifacts)
        env[ENV_HOME] = str(self.settings.home)
        env[ENV_PARENT_PID] = str(os.getpid())
        if self.settings.schema_ready:
            env[ENV_SCHEMA_READY] = "1"
        if self.settings.db_retry_seconds is not None:
            env[ENV_DB_RETRY_SECONDS] = repr(self.settings.db_retry_seconds)
        return env

    def warm_up(self) -> None:
        """Start the fork server in the background (its imports take seconds)."""
        if self._forking is None and self._warming is None:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            self._warming = threading.Thread(target=self._ready_server,
                                             name="fork-server-start", daemon=True)
            self._warming.start()

    def close(self) -> None:
        """Close the fork server (after its start, if that is under way)."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        self._close_server()

    def run(self, tasks: Iterable[Task], more: bool = False) -> Iterator[Outcome]:
        """Starts every task now (not on the first ``next``), so the caller can work meanwhile.
        ``more``: the fork server outlives these tasks, for the next run (until close())."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="task")
        futures = [pool.submit(self._run_one, task) for task in tasks]
        return _Running(self, pool, futures, keep_server=more)

    def _stop(self) -> None:
        """No task starts any more; the running ones' process groups are killed."""
        with self._lock:
            self._stopping.set()
            running = list(self._running)
        for pid in running:
            kill_group(pid)

    def _refusal(self) -> str | None:
        """Why a task may not start (the job is stopping, or its gate says no), else None."""
        if self._stopping.is_set():
            return "not started: the job is stopping"
        return self.gate_closed()

    def _run_one(self, task: Task) -> Outcome:
        refusal = self._refusal()
        if refusal is not None:
            return Outcome(task, FAILED, 0.0, refusal)
        log_path = self.logs_dir / f"{task.name}.log"
        result_path = self.logs_dir / f"{task.name}.result.json"
        result_path.unlink(missing_ok=True)
        argv = task.argv(result_path)
        server = self._fork_server(argv)  # the run's first fork starts it: not this task's time
        started = time.monotonic()
        child = self._start(argv, log_path, server)
        if child is None:
            return Outcome(task, FAILED, 0.0, "not started: the job is stopping")
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            kill_group(child.pid)

        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, kill_on_timeout)
            timer.start()
        lost = None
        try:
            returncode, peak_kb = child.wait()
        except ForkUnavailable as exc:  # the server died before the child: no exit status
            returncode, peak_kb, lost = None, None, str(exc)
            kill_group(child.pid)  # its lifeline would end it within a second; now, then
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._running.discard(child.pid)
        seconds = time.monotonic() - started
        extra = {"peak_rss_mb": None if peak_kb is None else round(peak_kb / 1024.0, 1),
                 "log": str(log_path)}
        if timed_out.is_set():
            return Outcome(task, TIMEOUT, seconds,
                           f"timed out after {self.timeout:g} s; process group killed", **extra)
        result = read_json(result_path)
        reason = lost if returncode is None else exit_reason(returncode, log_path)
        return outcome_from_result(task, result, seconds, reason, **extra)

    # -- starting a child ----------------------------------------------------------

    def _start(self, argv: list[str], log_path: Path,
               server: ForkServer | None) -> _Child | None:
        """The task's process, running and registered (killed by a stop that came first);
        None if the job is stopping. Forked from ``server`` when it can, else a fresh
        interpreter."""
        if server is not None:
            with self._lock:
                if self._stopping.is_set():
                    return None
            log_path.write_bytes(b"")  # truncated here, appended to by the child
            try:
                child = server.start(argv, self.child_env(), log_path)
            except ForkUnavailable as exc:
                self._stop_forking(f"fork server not used any more ({exc}); the remaining "
                                   "tasks start fresh processes")
            else:
                # Registered under the lock: a stop either sees this child (and kills it) or
                # came first, and then the child is killed here.
                with self._lock:
                    self._running.add(child.pid)
                    if self._stopping.is_set():
                        kill_group(child.pid)
                return child
        # Started and registered under the lock, so a stop either sees this process (and
        # kills it) or keeps it from starting: none slips past a stop.
        with self._lock, open(log_path, "wb") as log:
            if self._stopping.is_set():
                return None
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=self.child_env(),
                                       start_new_session=True)
            self._running.add(process.pid)
        return _FreshChild(process)

    def _fork_server(self, argv: list[str]) -> ForkServer | None:
        """The fork server to run ``argv`` in; None: start a fresh process."""
        if self._forking is False or not forkable(argv):
            return None
        return self._ready_server()

    def _ready_server(self) -> ForkServer | None:
        """The run's fork server, started on first use (None: forking is off)."""
        with self._server_lock:  # the other tasks wait here while the server starts
            if self._forking is None:
                self._server = self._start_server()
                self._forking = self._server is not None
            return self._server if self._forking else None

    def _start_server(self) -> ForkServer | None:
        backend = self.settings.backend
        if backend not in FORKABLE_BACKENDS:
            _say(f"fork server not used: the {backend} backend is not forked; every task "
                 "starts a fresh process")
            return None
        try:
            server = ForkServer(backend, self.child_env(), self.logs_dir / SERVER_LOG,
                                self.task_modules)
        except ForkUnavailable as exc:
            _say(f"fork server not used ({exc}); every task starts a fresh process")
            return None
        if server.seed_failure is not None:
            _say(f"fork server seed not used ({server.seed_failure}); a fresh server was "
                 "started")
        origin = "forked from this process" if server.seeded else "a fresh process"
        _say(f"fork server ready in {server.ready_seconds:.1f} s (pid {server.pid}, {backend} "
             f"imported, RSS {_mb(server.rss_at_ready_mb)}, {origin}): each task is forked "
             "from it")
        return server

    def _stop_forking(self, line: str) -> None:
        """No more forks this run (the server stays up until its running children end)."""
        with self._server_lock:
            if self._forking:
                self._forking = False
                _say(line)

    def _close_server(self) -> None:
        with self._server_lock:
            server, self._server = self._server, None
            if self._forking:  # a later run starts a server of its own
                self._forking = None
        if server is not None:
            rss_end = server.close()
            _say(f"fork server closed: {server.forked} tasks forked; RSS "
                 f"{_mb(server.rss_at_ready_mb)} when ready, {_mb(rss_end)} at the end")


def _say(line: str) -> None:
    print(line, flush=True)


def _mb(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.0f} MB"


class _Running:
    """The outcomes as they end; ``close()`` (the caller was interrupted) cancels the queued
    tasks and kills the running ones, even before the first outcome was asked for. The fork
    server is closed once every task has ended, either way (unless the caller runs more:
    ``keep_server``, then its executor's close() does)."""

    def __init__(self, executor: SubprocessExecutor, pool: ThreadPoolExecutor,
                 futures: list[Future], keep_server: bool = False) -> None:
        self._executor = executor
        self._pool = pool
        self._finished = as_completed(futures)
        self._keep_server = keep_server
        self._ended = False

    def __iter__(self) -> _Running:
        return self

    def __next__(self) -> Outcome:
        try:
            return next(self._finished).result()
        except StopIteration:
            self._ended = True
            self._pool.shutdown(wait=True)
            if not self._keep_server:
                self._executor._close_server()
            raise

    def close(self) -> None:
        if self._ended:  # every task ended: nothing to stop (a kept server: close() of the
            return  # executor closes it)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._executor._stop()
        self._pool.shutdown(wait=True)
        self._executor._close_server()
