"""The executor protocol: run tasks in processes of their own, stream one outcome per task.

Why one protocol: the market job (``run``: one task per pair) and the backtest
(``evaluate``: one task per pair, model and repeat) both need the same things from wherever
their tasks run: a process of its own per task (Keras memory goes back to the OS), a time limit,
children that die with the driver, a log per task, and one way to say what happened. Each
kind of executor is one small class (subprocess.py, ray.py) in :data:`EXECUTORS`; a task says
what to run (:class:`Task`); every executor answers with the same :class:`Outcome`.

A task's *result* is a dict with ``status`` ("ok" or "failed"), and on failure ``error`` (one
line) and ``exit_code``; everything else in it is the task's own payload.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Protocol

from coinlstm.core.config import ENV_FORK_SERVER, Settings
from coinlstm.core.errors import BadInput

#: Outcome statuses: the task's result said ok; it failed (its own answer, or its process
#: ended without one); it ran out of time and its process was killed.
OK, FAILED, TIMEOUT = "ok", "failed", "timeout"


class Task(Protocol):
    """One unit of work (picklable: Ray ships it to another node)."""

    coin_id: int
    symbol: str

    @property
    def name(self) -> str:
        """Unique within a run: the stem of the task's log and result files."""
        ...

    def identity(self) -> dict:
        """The keys that name the task in its outcome (``coin_id`` and ``symbol`` first)."""
        ...

    def argv(self, result_path: Path) -> list[str]:
        """The command line doing the task in a fresh local process; it writes the result
        dict to ``result_path`` as JSON, on failure too. ``[sys.executable, "-m", MODULE,
        ...]`` (or ``-c CODE``) can also run in a child of the fork server (forkserver.py)."""
        ...

    def run_here(self, settings: Settings) -> dict:
        """The same work in this process (a Ray worker): the result dict, failures
        included."""
        ...


class PairTask:
    """What every task of one pair shares: its name is the pair's symbol, its identity the
    pair's id and symbol (a dataclass with ``coin_id`` and ``symbol`` fields mixes it in)."""

    coin_id: int
    symbol: str

    @property
    def name(self) -> str:
        return self.symbol

    def identity(self) -> dict:
        return {"coin_id": self.coin_id, "symbol": self.symbol}


@dataclass
class Outcome:
    """What happened to one task, whatever ran it: the one schema of run and evaluate."""

    task: Task
    status: str  # OK, FAILED or TIMEOUT
    seconds: float
    reason: str | None = None
    result: dict = field(default_factory=dict)
    peak_rss_mb: float | None = None
    log: str | None = None
    attempts: int = 1
    #: The task's pair.
    symbol = property(attrgetter("task.symbol"))
    coin_id = property(attrgetter("task.coin_id"))

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict:
        return {**self.task.identity(), "status": self.status, "seconds": self.seconds,
                "reason": self.reason, "result": self.result,
                "peak_rss_mb": self.peak_rss_mb, "log": self.log, "attempts": self.attempts}


def outcome_from_result(task: Task, result: dict | None, seconds: float,
                        fallback_reason: str | None, **extra) -> Outcome:
    """The outcome of a task from its result dict (or the absence of one), held with
    :func:`shared_strings`."""
    result = shared_strings(result or {})
    if result.get("status") == OK:
        return Outcome(task, OK, seconds, None, result, **extra)
    reason = result.get("error") or fallback_reason or "failed without a reason"
    return Outcome(task, FAILED, seconds, reason, result, **extra)


#: Values up to this length are held once per process ("ok", "warm", "lstm", a verdict).
SHARED_STRING_LENGTH = 16


def shared_strings(value):
    """``value`` (a decoded result: dicts, lists, scalars) with its keys and its short
    string values interned. A driver holds every task's result until its report is written;
    each decoded result has its own copy of the same fifty keys, about half of its size, so
    a market's driver would grow by that much a pair."""
    if isinstance(value, dict):
        return {sys.intern(key) if isinstance(key, str) else key: shared_strings(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [shared_strings(item) for item in value]
    if isinstance(value, str) and len(value) <= SHARED_STRING_LENGTH:
        return sys.intern(value)
    return value


@dataclass(frozen=True)
class ExecutorConfig:
    """What every executor is given: where tasks write, how many at once, how long each."""

    settings: Settings
    workers: int
    #: Seconds after which a task's process is killed; None: no limit.
    timeout: float | None
    logs_dir: Path
    #: Ray only: the cluster to join (None: start a local one).
    ray_address: str | None = None
    #: Asked before each task starts: None to go on, else why no task may start any more
    #: (the market job lost its lock). May block while the answer is not known yet.
    gate: Callable[[], str | None] | None = None
    #: The modules a task's process runs (its task class's module): the fork server imports
    #: them, and what they import, before its first fork.
    task_modules: tuple[str, ...] = ()


class ConfiguredExecutor:
    """What every executor keeps of its :class:`ExecutorConfig`, and its gate asked once."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.settings = config.settings
        self.workers = max(1, config.workers)
        self.timeout = config.timeout
        self.logs_dir = config.logs_dir
        self.gate = config.gate

    def gate_closed(self) -> str | None:
        """Why no task may start any more (the config's gate), else None."""
        return self.gate() if self.gate is not None else None


class Executor(Protocol):
    name: str

    def warm_up(self) -> None:
        """Begin, in the background, what the tasks will need (the subprocess executor's fork
        server imports Keras), so that it overlaps the caller's own work (the crawl). A
        caller that warms up closes the executor (:meth:`close`) when done."""
        ...

    def run(self, tasks: Iterable[Task], more: bool = False) -> Iterator[Outcome]:
        """Start the tasks (at most ``workers`` at once) and yield each outcome as it ends.
        ``more``: the caller may run more tasks after these (the market job's deferred
        refits), so what a run started for its tasks (the fork server) is kept until
        :meth:`close` instead of released when the last of these ends.

        The iterator has ``close()``: the caller calls it when it stops early (interrupted),
        and the executor then starts no more tasks and stops the running ones.
        """
        ...

    def close(self) -> None:
        """Release what :meth:`warm_up` or :meth:`run` started; may be called again."""
        ...


#: name -> "module:class"; imported on use, so Ray stays an optional extra.
EXECUTORS: dict[str, str] = {
    "subprocess": "coinlstm.app.runtime.executors.subprocess:SubprocessExecutor",
    "ray": "coinlstm.app.runtime.executors.ray:RayExecutor",
}


def make_executor(name: str, config: ExecutorConfig) -> Executor:
    """The executor called ``name``; BadInput for an unknown name."""
    if name not in EXECUTORS:
        raise BadInput(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)(config)


def add_executor_arguments(group, what: str, timeout: float | None) -> None:
    """--executor, --ray-address and --timeout, for a command whose tasks are ``what``s."""
    default = "no limit" if timeout is None else "%(default)s"
    group.add_argument("--timeout", type=float, default=timeout,
                       help=f"seconds after which a {what}'s process group is killed "
                            f"(default {default})")
    group.add_argument("--executor", choices=tuple(EXECUTORS), default="subprocess",
                       help=f"where {what}s run: local subprocesses (default) or a Ray cluster")
    group.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                       help="Ray cluster to join (default: start a local one)")
    group.add_argument("--fresh-processes", action="store_true",
                       help=f"subprocess executor: start every {what} as a fresh Python "
                            "process instead of forking it from a server that imported "
                            f"Keras once (env {ENV_FORK_SERVER}=0)")


def check_timeout(timeout: float | None) -> None:
    if timeout is not None and timeout <= 0:
        raise BadInput(f"--timeout must be positive, got {timeout}")
