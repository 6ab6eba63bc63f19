"""The default executor: every task is a fresh local process, started by a thread of a pool.

A fresh process per task means Keras/TensorFlow/JAX memory goes back to the OS after every
task, and a crash or a hang costs one task, not the job. Each child runs in its own process
group (a timeout kills the whole group), writes its output to ``LOGS/NAME.log`` and its result
to ``LOGS/NAME.result.json``, and exits when the driver dies (coinlstm.app.lifeline).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

from coinlstm.app.executors.base import (
    FAILED,
    TIMEOUT,
    ExecutorConfig,
    Outcome,
    Task,
    outcome_from_result,
)
from coinlstm.core.config import (
    ENV_ARTIFACTS,
    ENV_DB_RETRY_SECONDS,
    ENV_DB_URL,
    ENV_EXCHANGE,
    ENV_HOME,
    ENV_PARENT_PID,
    ENV_SCHEMA_READY,
)


class SubprocessExecutor:
    """Up to ``workers`` child processes at once, each killed (whole group) after ``timeout``."""

    name = "subprocess"

    def __init__(self, config: ExecutorConfig) -> None:
        self.settings = config.settings
        self.workers = max(1, config.workers)
        self.timeout = config.timeout
        self.logs_dir = config.logs_dir
        self.gate = config.gate
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

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

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        """Starts every task now (not on the first ``next``), so the caller can work meanwhile."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="task")
        futures = [pool.submit(self._run_one, task) for task in tasks]
        return _Running(self, pool, futures)

    def _stop(self) -> None:
        """No task starts any more; the running ones' process groups are killed."""
        with self._lock:
            self._stopping.set()
            running = list(self._running)
        for pid in running:
            _kill_group(pid)

    def _refusal(self) -> str | None:
        """Why a task may not start (the job is stopping, or its gate says no), else None."""
        if self._stopping.is_set():
            return "not started: the job is stopping"
        return self.gate() if self.gate is not None else None

    def _run_one(self, task: Task) -> Outcome:
        refusal = self._refusal()
        if refusal is not None:
            return Outcome(task, FAILED, 0.0, refusal)
        log_path = self.logs_dir / f"{task.name}.log"
        result_path = self.logs_dir / f"{task.name}.result.json"
        result_path.unlink(missing_ok=True)
        started = time.monotonic()
        # Started and registered under the lock, so a stop either sees this process (and
        # kills it) or keeps it from starting: none slips past a stop.
        with self._lock, open(log_path, "wb") as log:
            if self._stopping.is_set():
                return Outcome(task, FAILED, 0.0, "not started: the job is stopping")
            process = subprocess.Popen(task.argv(result_path), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       env=self.child_env(), start_new_session=True)
            self._running.add(process.pid)
        timed_out = threading.Event()

        def kill_group() -> None:
            timed_out.set()
            _kill_group(process.pid)

        timer = None
        if self.timeout is not None:
            timer = threading.Timer(self.timeout, kill_group)
            timer.start()
        try:
            # wait4 rather than Popen.wait: it also reports the child's peak memory.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
            with self._lock:
                self._running.discard(process.pid)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        peak_mb = usage.ru_maxrss / 1024.0
        extra = {"peak_rss_mb": round(peak_mb, 1), "log": str(log_path)}
        if timed_out.is_set():
            return Outcome(task, TIMEOUT, seconds,
                           f"timed out after {self.timeout:g} s; process group killed", **extra)
        result = _read_json(result_path)
        return outcome_from_result(task, result, seconds,
                                   _exit_reason(process.returncode, log_path), **extra)


class _Running:
    """The outcomes as they end; ``close()`` (the caller was interrupted) cancels the queued
    tasks and kills the running ones, even before the first outcome was asked for."""

    def __init__(self, executor: SubprocessExecutor, pool: ThreadPoolExecutor,
                 futures: list[Future]) -> None:
        self._executor = executor
        self._pool = pool
        self._finished = as_completed(futures)

    def __iter__(self) -> _Running:
        return self

    def __next__(self) -> Outcome:
        try:
            return next(self._finished).result()
        except StopIteration:
            self._pool.shutdown(wait=True)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._executor._stop()
        self._pool.shutdown(wait=True)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _exit_reason(returncode: int, log_path: Path) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        what = f"killed by signal {name}"
    else:
        what = f"exit code {returncode}"
    return f"{what}: {_last_line(log_path)}".rstrip(": ")


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
