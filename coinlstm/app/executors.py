"""Executors of the market job: run every pair's training somewhere, stream outcomes back.

The subprocess pool is the default: each pair is a fresh ``python -m coinlstm train``
process, so Keras/TensorFlow/JAX memory goes back to the OS after every pair, and a crash or
a hang costs one pair, not the job. The Ray executor (coinlstm.app.ray_executor) answers the same
interface for clusters.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coinlstm.core.config import (
    ENV_ARTIFACTS,
    ENV_DB_RETRY_SECONDS,
    ENV_DB_URL,
    ENV_HOME,
    ENV_PARENT_PID,
    Settings,
)


@dataclass(frozen=True)
class PairTask:
    coin_id: int
    symbol: str


@dataclass
class PairOutcome:
    """What happened to one pair: its train result (when it got that far) and why not."""

    coin_id: int
    symbol: str
    status: str  # "ok", "failed" or "timeout"
    seconds: float
    reason: str | None = None
    result: dict = field(default_factory=dict)
    peak_rss_mb: float | None = None
    log: str | None = None
    attempts: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def outcome_from_result(task: PairTask, result: dict | None, seconds: float,
                        fallback_reason: str | None, **extra) -> PairOutcome:
    """The outcome of a pair from the train result dict (or its absence)."""
    if result and result.get("status") == "ok":
        return PairOutcome(task.coin_id, task.symbol, "ok", seconds, None, result, **extra)
    reason = (result or {}).get("error") or fallback_reason or "failed without a reason"
    return PairOutcome(task.coin_id, task.symbol, "failed", seconds, reason, result or {},
                       **extra)


class SubprocessExecutor:
    """Up to ``workers`` child processes at once, each killed (whole group) after ``timeout``."""

    name = "subprocess"

    def __init__(self, settings: Settings, run_id: str, training_argv: list[str],
                 workers: int, timeout: float, logs_dir: Path) -> None:
        self.settings = settings
        self.run_id = run_id
        self.training_argv = training_argv
        self.workers = max(1, workers)
        self.timeout = timeout
        self.logs_dir = logs_dir
        #: Asked before each pair starts: None to go on, else why no pair may start any more
        #: (the market job lost its lock). May block while the answer is not known yet.
        self.gate: Callable[[], str | None] | None = None
        self._stopping = threading.Event()
        self._running: dict[int, subprocess.Popen] = {}
        self._running_guard = threading.Lock()

    def child_argv(self, task: PairTask, result_path: Path) -> list[str]:
        return [sys.executable, "-m", "coinlstm", "train", "-id", str(task.coin_id),
                "-symbol", task.symbol, *self.training_argv, "--run-id", self.run_id,
                "--result-json", str(result_path)]

    def child_env(self) -> dict[str, str]:
        # The database URL travels in the environment, not argv: `ps` shows argv to everyone.
        env = dict(os.environ)
        env[ENV_DB_URL] = self.settings.db_url
        env[ENV_ARTIFACTS] = str(self.settings.artifacts)
        env[ENV_HOME] = str(self.settings.home)
        env[ENV_PARENT_PID] = str(os.getpid())
        env[ENV_DB_RETRY_SECONDS] = repr(self.settings.db_retry_seconds)
        return env

    def run(self, tasks: Iterable[PairTask]) -> Iterator[PairOutcome]:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="pair") as pool:
            futures = [pool.submit(self._run_one, task) for task in tasks]
            try:
                for future in as_completed(futures):
                    yield future.result()
            except BaseException:
                # A signal or a fault in the driver ends the job: start no more pairs and
                # kill the running ones' process groups, or leaving the pool would wait for
                # every pair to finish training.
                self._stop_all(pool)
                raise

    def _stop_all(self, pool: ThreadPoolExecutor) -> None:
        self._stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with self._running_guard:
            for process in self._running.values():
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _refused(self, task: PairTask) -> PairOutcome | None:
        """The outcome of a pair that may not start (job stopping, lock lost), else None."""
        why = "not started: the job is stopping" if self._stopping.is_set() else None
        if why is None and self.gate is not None:
            why = self.gate()
        if why is None:
            return None
        return PairOutcome(task.coin_id, task.symbol, "failed", 0.0, why)

    def _run_one(self, task: PairTask) -> PairOutcome:
        refused = self._refused(task)
        if refused is not None:
            return refused
        log_path = self.logs_dir / f"{task.symbol}.log"
        result_path = self.logs_dir / f"{task.symbol}.result.json"
        result_path.unlink(missing_ok=True)
        started = time.monotonic()
        with self._running_guard, open(log_path, "wb") as log:
            if self._stopping.is_set():  # stopped while this pair waited at the gate
                return PairOutcome(task.coin_id, task.symbol, "failed", 0.0,
                                   "not started: the job is stopping")
            process = subprocess.Popen(self.child_argv(task, result_path), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT,
                                       env=self.child_env(), start_new_session=True)
            self._running[process.pid] = process
        timed_out = threading.Event()

        def kill_group() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(self.timeout, kill_group)
        timer.start()
        try:
            # wait4 rather than Popen.wait: it also reports the child's peak memory.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            with self._running_guard:
                self._running.pop(process.pid, None)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        peak_mb = usage.ru_maxrss / 1024.0
        extra = {"peak_rss_mb": round(peak_mb, 1), "log": str(log_path)}
        if timed_out.is_set():
            return PairOutcome(task.coin_id, task.symbol, "timeout", seconds,
                               f"timed out after {self.timeout:g} s; process group killed",
                               **extra)
        result = _read_json(result_path)
        return outcome_from_result(task, result, seconds,
                                   _exit_reason(process.returncode, log_path), **extra)


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
