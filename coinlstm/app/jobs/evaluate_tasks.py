"""The work of ``coinlstm evaluate``: one task per (pair, model, repeat), run by an executor.

Every fit and forecast is a forecaster's (train/forecasters/), the very code that runs every
hour. A task of a forecaster that fits a Keras network runs all its folds in a fresh process
of its own (the subprocess executor starts ``python -m coinlstm.app.jobs.evaluate_tasks``; Ray runs
:meth:`EvalTask.run_here` in a worker that exits after it): Keras/JAX memory goes back to the
OS, and the driver never imports Keras. The others (naive) need no process and run in the
driver. Outcomes are the executors' one schema (coinlstm.app.runtime.executors.Outcome), as for the
market job.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coinlstm import db
from coinlstm.app.jobs.reporting import write_json_atomically
from coinlstm.app.runtime.executors import FAILED, OK, Executor, Outcome
from coinlstm.app.runtime.lifeline import exit_with_parent
from coinlstm.core import config
from coinlstm.core.config import Settings
from coinlstm.core.errors import EXIT_FAILURE, CoinlstmError, one_line
from train import backend, forecasters
from train.backtest_scores import case_record
from train.candles import load_candles
from train.config import TrainConfig
from train.schedule import DEFAULT_SCHEDULE, fold_forecast, parse_schedule
from train.walkforward import fold_datasets


@dataclass(frozen=True)
class EvalTask:
    """One (pair, model, repeat): all folds, in one fresh process (picklable)."""

    coin_id: int
    symbol: str
    model: str
    options: TrainConfig
    repeat: int
    folds: int
    fold_size: int
    #: Modules a fresh process imports first: where the registered forecasters and
    #: formulations are defined (one registered outside train/ is known there too).
    imports: tuple[str, ...] = ()
    #: The schedule inside each fold (train/schedule.py): "full", "warm" or "warm:N".
    schedule: str = DEFAULT_SCHEDULE
    #: The --sweep grid point whose options these are ((name, value), ...); () without.
    sweep: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """The cases' "model": the forecaster's name, with ``@warm`` for a warm schedule."""
        return parse_schedule(self.schedule).label(self.model)

    @property
    def name(self) -> str:
        point = "".join(f"-{name}={value}" for name, value in self.sweep)
        return f"{self.symbol}-{self.label}-{self.repeat}{point}"

    def identity(self) -> dict:
        point = {"sweep": dict(self.sweep)} if self.sweep else {}
        return {"coin_id": self.coin_id, "symbol": self.symbol, "model": self.label,
                "repeat": self.repeat, **point}

    def argv(self, result_path: Path) -> list[str]:
        # No secret in argv: the child reads the database URL from its environment.
        return [sys.executable, "-m", "coinlstm.app.jobs.evaluate_tasks",
                "--task", json.dumps(self.to_dict()), "--result-json", str(result_path)]

    def run_here(self, settings: Settings) -> dict:
        """In a fresh process (or Ray worker): know every registered forecaster and
        formulation, set the Keras backend up, then :meth:`cases_result`."""
        for module in self.imports:
            importlib.import_module(module)
        backend.prepare(self.options.backend_name(settings), settings.cache_dir)
        return self.cases_result(settings)

    def cases_result(self, settings: Settings) -> dict:
        """Fit and forecast every fold: ``cases`` on success; a failure is its one line."""
        try:
            return {"status": OK, "exit_code": 0, "cases": _fit_folds(self, settings)}
        except Exception as exc:  # reported as this task's reason; the other tasks go on
            code = exc.exit_code if isinstance(exc, CoinlstmError) else EXIT_FAILURE
            return {"status": FAILED, "exit_code": code, "error": one_line(exc)}

    def to_dict(self) -> dict:
        return {**asdict(self), "options": self.options.to_dict(), "imports": list(self.imports)}

    @classmethod
    def from_dict(cls, data: dict) -> EvalTask:
        return cls(**{**data, "options": TrainConfig.from_dict(data["options"]),
                      "imports": tuple(data.get("imports", ())),
                      "sweep": tuple(tuple(each) for each in data.get("sweep", ()))})


def _load_candles(settings: Settings, task: EvalTask
                  ) -> tuple[list[int], list[tuple[float, ...]]]:
    """The pair's candles as train_one reads them (train/candles.py); no --with here."""
    engine = db.open_database(settings.db_url, create=False)
    try:
        open_times, values, _ = load_candles(engine, task.coin_id, task.symbol,
                                             task.options.history, None, task.options.interval)
        return open_times, values
    finally:
        engine.dispose()


def _fit_folds(task: EvalTask, settings: Settings) -> list[dict]:
    forecaster = forecasters.get(task.model)
    options = task.options
    backend_name = options.backend_name(settings)
    open_times, values = _load_candles(settings, task)
    planned = fold_datasets(open_times, values, options, task.folds, task.fold_size)
    schedule = parse_schedule(task.schedule)
    # The folds' datasets hold what a full schedule needs; a warm one cuts its steps' too.
    candles = values if schedule.warm else ()
    del values
    seed = options.seed + task.repeat
    cases = []
    for fold, dataset in planned:
        forecaster.prepare_fit(seed, backend_name)
        forecast = fold_forecast(forecaster, schedule, fold, dataset, open_times, candles,
                                 options)
        cases.append(case_record(
            task.symbol, task.coin_id, task.label, forecaster.network(options),
            fold, task.repeat, dataset, forecast.predictions,
            seed=seed if forecaster.seeded else None, epochs_run=forecast.epochs_run,
            train_seconds=forecast.train_seconds, shrinkage=forecast.factor,
            bands=forecast.bands))
        del forecast
    return cases


def driver_outcome(settings: Settings, task: EvalTask) -> Outcome:
    """A fit-free forecaster's task (naive), in this process: no training, no Keras."""
    started = time.perf_counter()
    result = task.cases_result(settings)
    seconds = time.perf_counter() - started
    if result["status"] != OK:
        return Outcome(task, FAILED, seconds, result["error"], result)
    return Outcome(task, OK, seconds, None, result)


def run_all(executor: Executor | None, settings: Settings, in_driver: list[EvalTask],
            trained: list[EvalTask]) -> list[Outcome]:
    """Start the training tasks, run the fit-free ones (naive) meanwhile, collect every
    outcome."""
    outcomes: list[Outcome] = []
    # Interrupted: queued tasks never start; running children are killed (and would exit
    # with us anyway: lifeline). No executor: no training task.
    with closing(executor.run(trained)) if executor else nullcontext(iter(())) as running:
        for task in in_driver:
            outcomes.append(_announce(driver_outcome(settings, task)))
        for outcome in running:
            outcomes.append(_announce(outcome))
    return outcomes


def _announce(outcome: Outcome) -> Outcome:
    task = outcome.task
    what = f"{task.symbol} {task.label} repeat {task.repeat}"
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
    exit_with_parent()  # a killed `evaluate` must not leave children training for minutes
    parser = argparse.ArgumentParser(prog="python -m coinlstm.app.jobs.evaluate_tasks")
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
