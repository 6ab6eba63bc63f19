"""The work of ``coinlstm evaluate``: one task per (pair, model, repeat), run in a pool.

One task runs all folds of a trained model in a fresh spawned process that exits after it
(``max_tasks_per_child=1``): Keras/JAX memory goes back to the OS, and the driver never
imports Keras. The naive model needs no process. Every fit and forecast is
:func:`train.forecaster.fit_and_forecast`, the very code that runs every hour.
"""

from __future__ import annotations

import argparse
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
from train.scoring import NAIVE, case_record
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
    started = time.perf_counter()
    # Exit with the driver: a killed `evaluate` must not leave children training for minutes.
    os.environ[ENV_PARENT_PID] = str(os.getppid())
    from coinlstm.app.lifeline import exit_with_parent

    exit_with_parent()
    outcome = TaskOutcome(task.pair.symbol, task.model, task.repeat, 0.0)
    try:
        outcome.cases = _fit_folds(task)
    except Exception as exc:  # reported as this task's reason; the other tasks go on
        outcome.error = one_line(exc)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _fit_folds(task: EvalTask) -> list[dict]:
    from train import backend
    from train.forecaster import fit_and_forecast

    options = task.options
    backend_name = options.backend or task.settings.backend
    backend.prepare(backend_name, task.settings.cache_dir)
    open_times, values = _load_candles(task.settings, task.pair, options)
    planned = fold_datasets(open_times, values, options, task.folds, task.fold_size)
    del values
    keras = backend.load_keras(backend_name)
    seed = options.seed + task.repeat
    cases = []
    for fold, dataset in planned:
        # clear_session drops Keras' global seed too: seed every fold, so fold k's weights
        # start the same whatever ran before it in this process.
        keras.backend.clear_session()
        backend.seed(seed, backend_name)
        forecast = fit_and_forecast(dataset, options)
        outcome = forecast.outcome
        cases.append(case_record(
            task.pair.symbol, task.pair.coin_id, task.model, options, fold, task.repeat,
            dataset, forecast.test_predictions, seed=seed, epochs_run=outcome.epochs_run,
            train_seconds=outcome.train_seconds, shrinkage=forecast.factor))
        del forecast
    keras.backend.clear_session()
    return cases


def naive_outcome(settings: Settings, pair: Pair, options: TrainOptions, folds: int,
                  fold_size: int) -> TaskOutcome:
    """The naive model's cases, in this process: no training, no Keras."""
    started = time.perf_counter()
    outcome = TaskOutcome(pair.symbol, NAIVE, 0, 0.0)
    try:
        open_times, values = _load_candles(settings, pair, options)
        for fold, dataset in fold_datasets(open_times, values, options, folds, fold_size):
            last = dataset.last_closes(dataset.split.test)
            outcome.cases.append(case_record(pair.symbol, pair.coin_id, NAIVE, None, fold, 0,
                                             dataset, last))
    except Exception as exc:
        outcome.cases, outcome.error = [], one_line(exc)
    outcome.seconds = time.perf_counter() - started
    return outcome


def run_all(settings: Settings, pairs: list[Pair], models: list[str],
            options: dict[str, TrainOptions], trained: list[EvalTask],
            args: argparse.Namespace) -> list[TaskOutcome]:
    """Start the training tasks, compute naive meanwhile, collect every outcome."""
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
        if NAIVE in models:
            for pair in pairs:
                outcomes.append(_announce(naive_outcome(settings, pair, options[NAIVE],
                                                        args.folds, args.fold_size)))
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
