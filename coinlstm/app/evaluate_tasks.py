"""The work of ``coinlstm evaluate``: one task per (pair, model, repeat), run by an executor.

A trained model's task runs all its folds in a fresh process of its own (the subprocess
executor starts ``python -m coinlstm.app.evaluate_tasks``; Ray runs :meth:`EvalTask.run_here`
in a worker that exits after it): Keras/JAX memory goes back to the OS, and the driver never
imports Keras. The naive model needs no process. Every fit and forecast is
:func:`train.forecaster.fit_and_forecast`, the very code that runs every hour. Outcomes are
the executors' one schema (coinlstm.app.executors.Outcome), as for the market job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from coinlstm import db
from coinlstm.app.executors import FAILED, OK, Executor, Outcome
from coinlstm.app.pair_job import TrainOptions
from coinlstm.app.reporting import write_json_atomically
from coinlstm.core.config import Settings
from coinlstm.core.errors import EXIT_FAILURE, CoinlstmError, one_line
from train.scoring import NAIVE, case_record
from train.walkforward import fold_datasets


@dataclass(frozen=True)
class EvalTask:
    """One (pair, model, repeat): all folds, in one fresh process (picklable)."""

    coin_id: int
    symbol: str
    model: str
    options: TrainOptions
    repeat: int
    folds: int
    fold_size: int

    @property
    def name(self) -> str:
        return f"{self.symbol}-{self.model}-{self.repeat}"

    def identity(self) -> dict:
        return {"coin_id": self.coin_id, "symbol": self.symbol, "model": self.model,
                "repeat": self.repeat}

    def argv(self, result_path: Path) -> list[str]:
        # No secret in argv: the child reads the database URL from its environment.
        return [sys.executable, "-m", "coinlstm.app.evaluate_tasks",
                "--task", json.dumps(self.to_dict()), "--result-json", str(result_path)]

    def run_here(self, settings: Settings) -> dict:
        """Fit and forecast every fold: ``cases`` on success; a failure is its one line."""
        try:
            return {"status": OK, "exit_code": 0, "cases": _fit_folds(self, settings)}
        except Exception as exc:  # reported as this task's reason; the other tasks go on
            code = exc.exit_code if isinstance(exc, CoinlstmError) else EXIT_FAILURE
            return {"status": FAILED, "exit_code": code, "error": one_line(exc)}

    def to_dict(self) -> dict:
        return {**asdict(self), "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> EvalTask:
        options = dict(data["options"])
        if options.get("with_pairs") is not None:
            options["with_pairs"] = tuple(options["with_pairs"])
        return cls(**{**data, "options": TrainOptions(**options)})


def _load_candles(settings: Settings, task: EvalTask
                  ) -> tuple[list[int], list[tuple[float, ...]]]:
    """The pair's candles as train_one reads them (train/candles.py); no --with here."""
    from train.candles import load_candles

    engine = db.open_database(settings.db_url, create=False)
    try:
        open_times, values, _ = load_candles(engine, task.coin_id, task.symbol,
                                             task.options.history, None, task.options.interval)
        return open_times, values
    finally:
        engine.dispose()


def _fit_folds(task: EvalTask, settings: Settings) -> list[dict]:
    from train import backend
    from train.forecaster import fit_and_forecast

    options = task.options
    backend_name = options.backend_name(settings)
    backend.prepare(backend_name, settings.cache_dir)
    open_times, values = _load_candles(settings, task)
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
            task.symbol, task.coin_id, task.model, options, fold, task.repeat,
            dataset, forecast.test_predictions, seed=seed, epochs_run=outcome.epochs_run,
            train_seconds=outcome.train_seconds, shrinkage=forecast.factor))
        del forecast
    keras.backend.clear_session()
    return cases


def naive_outcome(settings: Settings, task: EvalTask) -> Outcome:
    """The naive model's cases, in this process: no training, no Keras."""
    started = time.perf_counter()
    try:
        open_times, values = _load_candles(settings, task)
        cases = []
        for fold, dataset in fold_datasets(open_times, values, task.options, task.folds,
                                           task.fold_size):
            last = dataset.last_closes(dataset.split.test)
            cases.append(case_record(task.symbol, task.coin_id, NAIVE, None, fold, 0,
                                     dataset, last))
    except Exception as exc:
        return Outcome(task, FAILED, time.perf_counter() - started, one_line(exc))
    return Outcome(task, OK, time.perf_counter() - started, None,
                   {"status": OK, "exit_code": 0, "cases": cases})


def run_all(executor: Executor | None, settings: Settings, naive: list[EvalTask],
            trained: list[EvalTask]) -> list[Outcome]:
    """Start the training tasks, compute naive meanwhile, collect every outcome."""
    outcomes: list[Outcome] = []
    # Interrupted: queued tasks never start; running children are killed (and would exit
    # with us anyway: lifeline). No executor: no training task.
    with closing(executor.run(trained)) if executor else nullcontext(iter(())) as running:
        for task in naive:
            outcomes.append(_announce(naive_outcome(settings, task)))
        for outcome in running:
            outcomes.append(_announce(outcome))
    return outcomes


def _announce(outcome: Outcome) -> Outcome:
    task = outcome.task
    what = f"{task.symbol} {task.model} repeat {task.repeat}"
    if not outcome.ok:
        print(f"{what}: failed: {outcome.reason}", flush=True)
    else:
        cases = outcome.result["cases"]
        skills = [c["skill"] for c in cases if c["skill"] is not None]
        median = f"median skill {float(np.median(skills)):+.3f}" if skills else "no skill"
        print(f"{what}: ok, {len(cases)} folds, {median}, {outcome.seconds:.1f} s",
              flush=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """A training task's own process (the subprocess executor's child)."""
    from coinlstm.app.lifeline import exit_with_parent
    from coinlstm.core import config

    exit_with_parent()  # a killed `evaluate` must not leave children training for minutes
    parser = argparse.ArgumentParser(prog="python -m coinlstm.app.evaluate_tasks")
    parser.add_argument("--task", required=True, help="the EvalTask as JSON")
    parser.add_argument("--result-json", type=Path, required=True, metavar="FILE")
    args = parser.parse_args(argv)
    task = EvalTask.from_dict(json.loads(args.task))
    result = task.run_here(config.load())
    write_json_atomically(args.result_json, result)
    if result["status"] != OK:
        print(f"{task.name}: error: {result['error']}", file=sys.stderr, flush=True)
    return int(result["exit_code"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
