"""The work of ``coinlstm evaluate``: one task per (pair, model, repeat), run in a pool.

Every fit and forecast is a forecaster's (train/forecasters/), the very code that runs every
hour. A task of a forecaster that fits a Keras network runs all folds in a fresh spawned
process that exits after it (``max_tasks_per_child=1``): Keras/JAX memory goes back to the
OS, and the driver never imports Keras. The others (naive) need no process and run in the
driver.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from coinlstm import db
from coinlstm.app.pair_job import TrainOptions
from coinlstm.core.config import ENV_PARENT_PID, Settings
from coinlstm.core.errors import one_line
from train import forecasters
from train.scoring import case_record
from train.walkforward import fold_datasets


@dataclass(frozen=True)
class Pair:
    coin_id: int
    symbol: str


@dataclass(frozen=True)
class EvalTask:
    """One (pair, model, repeat): all folds, in one fresh process (picklable)."""

    settings: Settings
    pair: Pair
    model: str
    options: TrainOptions
    repeat: int
    folds: int
    fold_size: int
    #: Modules a fresh process imports first: where the registered forecasters and
    #: formulations are defined (one registered outside train/ is known there too).
    imports: tuple[str, ...] = ()


@dataclass
class TaskOutcome:
    pair: str
    model: str
    repeat: int
    seconds: float
    cases: list[dict] = field(default_factory=list)
    error: str | None = None


def _load_candles(settings: Settings, pair: Pair, options: TrainOptions
                  ) -> tuple[list[int], list[tuple[float, ...]]]:
    """The pair's candles as train_one reads them (train/candles.py); no --with here."""
    from train.candles import load_candles

    engine = db.open_database(settings.db_url, create=False)
    try:
        open_times, values, _ = load_candles(engine, pair.coin_id, pair.symbol,
                                             options.history, None, options.interval)
        return open_times, values
    finally:
        engine.dispose()


def run_task(task: EvalTask) -> TaskOutcome:
    """The child's work: fit and forecast every fold; a failure is the outcome's one line."""
    # Exit with the driver: a killed `evaluate` must not leave children training for minutes.
    os.environ[ENV_PARENT_PID] = str(os.getppid())
    from coinlstm.app.lifeline import exit_with_parent
    from train import backend

    exit_with_parent()
    for module in task.imports:
        importlib.import_module(module)
    backend.prepare(task.options.backend or task.settings.backend, task.settings.cache_dir)
    return task_outcome(task)


def task_outcome(task: EvalTask) -> TaskOutcome:
    """Every fold's case of one task, in this process; a failure is the outcome's one line."""
    started = time.perf_counter()
    outcome = TaskOutcome(task.pair.symbol, task.model, task.repeat, 0.0)
    try:
        outcome.cases = _fit_folds(task)
    except Exception as exc:  # reported as this task's reason; the other tasks go on
        outcome.cases, outcome.error = [], one_line(exc)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _fit_folds(task: EvalTask) -> list[dict]:
    forecaster = forecasters.get(task.model)
    options = task.options
    backend_name = options.backend or task.settings.backend
    open_times, values = _load_candles(task.settings, task.pair, options)
    planned = fold_datasets(open_times, values, options, task.folds, task.fold_size)
    del values
    seed = options.seed + task.repeat
    cases = []
    for fold, dataset in planned:
        forecaster.prepare_fit(seed, backend_name)
        forecast = forecaster.forecast(dataset, options)
        outcome = forecast.outcome
        cases.append(case_record(
            task.pair.symbol, task.pair.coin_id, task.model, forecaster.network(options),
            fold, task.repeat, dataset, forecast.test_predictions,
            seed=seed if forecaster.seeded else None,
            epochs_run=outcome.epochs_run if outcome else None,
            train_seconds=outcome.train_seconds if outcome else None,
            shrinkage=forecast.factor, bands=forecast.bands))
        del forecast
    return cases


def run_all(trained: list[EvalTask], in_driver: list[EvalTask],
            args: argparse.Namespace) -> list[TaskOutcome]:
    """Start the training tasks, run the fit-free ones (naive) meanwhile, collect every
    outcome."""
    outcomes: list[TaskOutcome] = []
    pool = None
    pending: dict[Future, EvalTask] = {}
    if trained:
        pool = ProcessPoolExecutor(max_workers=min(args.workers, len(trained)),
                                   mp_context=multiprocessing.get_context("spawn"),
                                   max_tasks_per_child=1)
    try:
        if pool is not None:
            pending = {pool.submit(run_task, task): task for task in trained}
        for task in in_driver:
            outcomes.append(_announce(task_outcome(task)))
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker process died (killed, out of memory)
                    outcome = TaskOutcome(task.pair.symbol, task.model, task.repeat, 0.0,
                                          error=f"worker process lost: {one_line(exc)}")
                outcomes.append(_announce(outcome))
    except BaseException:
        # Interrupted: drop the queued tasks; running children exit with us (lifeline).
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if pool is not None:
        pool.shutdown(wait=True)
    return outcomes


def _announce(outcome: TaskOutcome) -> TaskOutcome:
    what = f"{outcome.pair} {outcome.model} repeat {outcome.repeat}"
    if outcome.error is not None:
        print(f"{what}: failed: {outcome.error}", flush=True)
    else:
        skills = [c["skill"] for c in outcome.cases if c["skill"] is not None]
        median = f"median skill {float(np.median(skills)):+.3f}" if skills else "no skill"
        print(f"{what}: ok, {len(outcome.cases)} folds, {median}, {outcome.seconds:.1f} s",
              flush=True)
    return outcome
