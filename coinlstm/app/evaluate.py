"""``coinlstm evaluate``: a walk-forward backtest of models against the naive forecast.

Why it exists: one test slice of 48 hours says little about a model (FORECAST-NOTES.md needed
45 pair-weeks to see that the reference model loses to "next close = last close"). This
command repeats that measurement for any set of models, with the very code that runs every
hour: the folds are planned here, every fit and forecast is a forecaster's
(train/forecasters/: the networks train_one fits, the naive forecast), every error
:mod:`train.metrics`.

Folds (walk-forward, expanding window). A pair's sample targets are computed once on its whole
series (:func:`train.dataset.sample_targets`, gap-aware, as build_dataset does). Fold k
(0 oldest .. F-1 newest) tests the block of ``fold_size`` samples that ends
``(F-1-k) * fold_size`` samples before the newest. For that fold the series is cut right
after the block's last target candle and handed to :func:`train.dataset.build_dataset` with
``test_size = fold_size``: the scaler is fitted on the fold's training rows, early stopping
watches the validation slice just before the block, and no candle after the block is passed
in at all, so none can leak into the fold.

Comparison. ``--models`` names forecasters (train/forecasters/registry.py); ``naive`` is one
of them (its forecast is the last close). Every case carries the naive figures of its *own*
test rows (two targets may drop a different sample at a gap), and its skill is against those.

Processes. One task per (pair, model, repeat) runs all folds. A forecaster that fits a Keras
network runs in a fresh spawned process that exits after it (``max_tasks_per_child=1``):
Keras/JAX memory goes back to the OS, and the driver never imports Keras. The others (naive)
need no process and run in the driver; a forecaster whose seed does not matter runs once.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.pair_job import TrainOptions
from coinlstm.core.config import (
    DEFAULT_INTERVAL,
    DEFAULT_MARKET,
    ENV_PARENT_PID,
    INTERVAL_MS,
    Settings,
)
from coinlstm.core.errors import EXIT_OK, EXIT_SOME_PAIRS_FAILED, BadInput, CoinlstmError, one_line
from coinlstm.core.klines import ms_to_utc
from train import forecasters, formulations
from train.dataset import (
    MIN_TRAIN_SAMPLES,
    MIN_VAL_SAMPLES,
    Dataset,
    build_dataset,
    lead,
    sample_targets,
)
from train.metrics import evaluate

DEFAULT_MODELS = "naive,reference,default"
#: The set-up of FORECAST-NOTES.md: 5 consecutive weeks of hourly candles.
DEFAULT_FOLDS = 5
DEFAULT_FOLD_SIZE = 168
#: "Clearly worse than naive" in the summary: skill below this.
CLEARLY_WORSE = -0.02

#: Columns of cases.csv, in order.
CASE_COLUMNS: tuple[str, ...] = (
    "pair", "coin_id", "model", "network", "target", "fold", "repeat", "seed",
    "test_start", "test_end", "test_start_ms", "test_end_ms", "n_train", "n_val", "n_test",
    "rmse", "mae", "mape", "mase", "direction_accuracy", "naive_rmse", "naive_mae", "skill",
    "epochs_run", "train_seconds", "seconds_per_epoch", "shrinkage")

LEGEND = (
    "skill = 1 - RMSE / RMSE of the naive forecast \"next close = last close\" on the same "
    "test rows: > 0 beats it, 0 ties (naive is 0 by definition), < 0 is worse.",
    f"q25..q75: quartiles of skill over the cases; >0, =0, <{CLEARLY_WORSE:g}: share of "
    "cases with skill above 0, exactly 0 (the forecast was the last close, e.g. shrinkage "
    "a = 0), below that; MASE: MAE / mean |hourly close change| on the fold's "
    "training rows; MAPE in %; direction: share of test hours whose predicted move had the "
    "actual move's sign (an unmoved hour counts only for a 'no move' forecast); s/epoch: "
    "fit seconds / epochs run (a process's first fold includes compiling); sign p: two-sided "
    "sign test that the median skill is 0 (cases with skill != 0).",
    "case = one (pair, model, fold, repeat); naive is deterministic: one case per "
    "(pair, fold). Every figure is measured on this run.",
)


# -- folds (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: the test block's target rows (indices into the whole series)."""

    index: int
    test_targets: np.ndarray

    @property
    def end_row(self) -> int:
        """The block's last target row: the fold sees candles ``[0, end_row]`` and no more."""
        return int(self.test_targets[-1])


def plan_folds(open_times: Sequence[int] | np.ndarray, folds: int, fold_size: int,
               window: int, target: str,
               interval_ms: int = INTERVAL_MS[DEFAULT_INTERVAL]) -> list[Fold]:
    """The F consecutive test blocks of ``fold_size`` samples ending at the newest sample.

    BadInput when the series has too few samples for the oldest fold to keep the smallest
    training and validation slices build_dataset accepts.
    """
    times = np.asarray(open_times, dtype=np.int64)
    targets = sample_targets(times, window + lead(target), interval_ms)
    needed = folds * fold_size + MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES
    if len(targets) < needed:
        raise BadInput(f"{len(targets)} usable samples, {folds} folds of {fold_size} need at "
                       f"least {needed} (training {MIN_TRAIN_SAMPLES} + validation "
                       f"{MIN_VAL_SAMPLES} before the oldest block)")
    n = len(targets)
    return [Fold(k, targets[n - (folds - k) * fold_size:n - (folds - 1 - k) * fold_size])
            for k in range(folds)]


def fold_dataset(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                 fold: Fold, options: TrainOptions) -> Dataset:
    """build_dataset on the candles up to the block's last target row, and nothing later."""
    end = fold.end_row + 1
    dataset = build_dataset(open_times[:end], values[:end], options.window,
                            len(fold.test_targets), options.val_size, options.interval_ms,
                            options.target)
    if not np.array_equal(dataset.split.test, fold.test_targets):  # pragma: no cover
        raise CoinlstmError(f"fold {fold.index}: build_dataset's test slice is not the "
                            "planned block (a bug: sample_targets of a prefix changed)")
    return dataset


def fold_datasets(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                  options: TrainOptions, folds: int, fold_size: int
                  ) -> list[tuple[Fold, Dataset]]:
    """Every fold's dataset, all built before any training: bad data fails a task at once."""
    plan = plan_folds(open_times, folds, fold_size, options.window, options.target,
                      options.interval_ms)
    return [(fold, fold_dataset(open_times, values, fold, options)) for fold in plan]


# -- one case ----------------------------------------------------------------------------


def case_record(symbol: str, coin_id: int, model: str, network: str,
                fold: Fold, repeat: int, dataset: Dataset, predictions: np.ndarray,
                seed: int | None = None, epochs_run: int | None = None,
                train_seconds: float | None = None,
                shrinkage: float | None = None) -> dict:
    """The figures of one (pair, model, fold, repeat), naive measured on the same test rows."""
    split = dataset.split
    metrics = evaluate(dataset.actual_closes(split.test), predictions,
                       dataset.last_closes(split.test))
    errors, naive = metrics.model, metrics.naive
    train_steps = np.abs(dataset.closes[split.train] - dataset.last_closes(split.train))
    step = float(np.mean(train_steps))
    times = dataset.open_times
    first, last_time = int(times[split.test[0]]), int(times[split.test[-1]])
    return {
        "pair": symbol, "coin_id": coin_id, "model": model,
        "network": network, "target": dataset.target,
        "fold": fold.index, "repeat": repeat, "seed": seed,
        "test_start": ms_to_utc(first), "test_end": ms_to_utc(last_time),
        "test_start_ms": first, "test_end_ms": last_time,
        "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
        "rmse": errors.rmse, "mae": errors.mae, "mape": errors.mape,
        "mase": errors.mae / step if step > 0 else None,
        "direction_accuracy": errors.direction_accuracy,
        "naive_rmse": naive.rmse, "naive_mae": naive.mae,
        "skill": metrics.skill,
        "epochs_run": epochs_run, "train_seconds": train_seconds,
        "seconds_per_epoch": (train_seconds / epochs_run
                              if train_seconds is not None and epochs_run else None),
        "shrinkage": shrinkage,
    }


# -- tasks -------------------------------------------------------------------------------


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
        forecast = forecaster.fit_forecast(dataset, options)
        outcome = forecast.outcome
        cases.append(case_record(
            task.pair.symbol, task.pair.coin_id, task.model, forecaster.network(options),
            fold, task.repeat, dataset, forecast.test_predictions,
            seed=seed if forecaster.seeded else None,
            epochs_run=outcome.epochs_run if outcome else None,
            train_seconds=outcome.train_seconds if outcome else None,
            shrinkage=forecast.factor))
        del forecast
    return cases


# -- command -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from coinlstm.app import train_command

    group = parser.add_argument_group("backtest")
    group.add_argument("--market", default=DEFAULT_MARKET,
                       help="quote asset whose pairs are evaluated (default %(default)s)")
    group.add_argument("--models", default=DEFAULT_MODELS, metavar="NAME,NAME",
                       help=f"models to compare, of {', '.join(forecasters.names())}; "
                            "'naive' is the last close, 'reference' is "
                            "lstm on the close target (SPEC.md), 'default' lstm on the return "
                            "target, a zoo name uses --target; --model is ignored "
                            "(default %(default)s)")
    group.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                       help="walk-forward test blocks, newest last (default %(default)s)")
    group.add_argument("--fold-size", type=int, default=DEFAULT_FOLD_SIZE,
                       help="samples per test block; replaces --test-size "
                            "(default %(default)s: a week of hours)")
    group.add_argument("--repeats", type=int, default=1,
                       help="trainings per (pair, model) with seeds --seed + 0..R-1 "
                            "(default %(default)s)")
    group.add_argument("--only", default=None, metavar="SYM,SYM",
                       help="evaluate only these pairs of the market")
    group.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="processes training at once (default: the cores, %(default)s)")
    group.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="folder for cases.csv, summary.json, skill.png "
                            "(default ARTIFACTS/evaluate/UTC-TIMESTAMP)")
    train_command.add_training_arguments(parser)


def parse_models(text: str) -> list[str]:
    """The --models list, in order, without repeats; BadInput for an unknown name."""
    names = list(dict.fromkeys(name.strip() for name in (text or "").split(",")
                               if name.strip()))
    choices = forecasters.names()
    unknown = [name for name in names if name not in choices]
    if unknown:
        raise BadInput(f"unknown model {', '.join(map(repr, unknown))}; choose from "
                       f"{', '.join(choices)}")
    if not names:
        raise BadInput(f"--models is empty; choose from {', '.join(choices)}")
    return names


def model_options(name: str, passed: TrainOptions, fold_size: int) -> TrainOptions:
    """The options a model name stands for (a preset's or a zoo network's; a fit-free
    forecaster such as naive: the passed target, for its folds)."""
    return forecasters.get(name).configure(replace(passed, test_size=fold_size))


def select_pairs(engine: sa.Engine, market: str, only: list[str] | None,
                 interval: str = DEFAULT_INTERVAL) -> list[Pair]:
    """The market's pairs in coin_info that hold candles of ``interval`` (narrowed by
    --only); no crawl."""
    with engine.connect() as conn:
        coins = db.coins_of_market(conn, market)
        counts = db.candle_counts_by_coin(conn, interval=interval)
    if only:
        known = {coin.symbol for coin in coins}
        missing = [symbol for symbol in only if symbol not in known]
        if missing:
            raise BadInput(f"not pairs of market {market} in the database: "
                           f"{', '.join(missing)}")
        coins = [coin for coin in coins if coin.symbol in only]
        empty = [coin.symbol for coin in coins if not counts.get(coin.id)]
        if empty:
            raise BadInput(f"no {interval} candles in the database for {', '.join(empty)}; "
                           "crawl or import them first")
    pairs = [Pair(int(coin.id), coin.symbol) for coin in coins if counts.get(coin.id)]
    if not pairs:
        raise BadInput(f"no pair of market {market} has {interval} candles in the database; "
                       "crawl or import them first")
    return pairs


def run(args: argparse.Namespace) -> int:
    from coinlstm.app import train_command
    from coinlstm.app.market_job import check_market
    from coinlstm.core.klines import parse_symbols

    market = check_market(args.market)
    models = parse_models(args.models)
    only = parse_symbols(args.only)
    for name in ("folds", "fold_size", "repeats", "workers"):
        if getattr(args, name) < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be at least 1, "
                           f"got {getattr(args, name)}")
    passed = train_command.options_from_args(args)
    if passed.horizon != 1 or passed.with_pairs:
        # The folds, the naive baseline and the per-case errors are one-step, one-pair
        # figures; multi-step and multi-pair models are trained and scored by `train`.
        raise BadInput("evaluate scores one-step forecasts of each pair on its own: "
                       "--horizon and --with are not supported here (use coinlstm train)")
    options = {name: model_options(name, passed, args.fold_size) for name in models}
    for each in options.values():
        each.check()
    settings: Settings = args.settings
    started = time.time()
    engine = db.open_database(settings.db_url)
    try:
        pairs = select_pairs(engine, market, only, passed.interval)
    finally:
        engine.dispose()
    imports = (*formulations.modules(), *forecasters.modules())
    tasks = [EvalTask(settings, pair, name, options[name], repeat, args.folds,
                      args.fold_size, imports)
             for pair in pairs for name in models
             for repeat in range(args.repeats if forecasters.get(name).seeded else 1)]
    trained = [task for task in tasks if forecasters.get(task.model).needs_keras]
    in_driver = [task for task in tasks if not forecasters.get(task.model).needs_keras]
    if trained:
        from train import backend

        # An unusable backend (torch not installed) is one bad-input line here, not one
        # failure per task. prepare() only sets the environment: Keras stays unimported.
        backend.prepare(passed.backend or settings.backend, settings.cache_dir)
    out = args.out or settings.artifacts / "evaluate" / datetime.now(UTC).strftime(
        "%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)  # before the work: an unwritable folder fails now
    print(f"evaluate {market} ({passed.interval} candles): {len(pairs)} pairs x "
          f"{', '.join(models)}; {args.folds} folds "
          f"of {args.fold_size} samples (walk-forward, expanding window), "
          f"{args.repeats} repeat(s); {len(trained)} training tasks on "
          f"{min(args.workers, max(1, len(trained)))} workers", flush=True)
    outcomes = _run_all(trained, in_driver, args)
    cases = sorted((case for o in outcomes for case in o.cases),
                   key=lambda c: (c["pair"], models.index(c["model"]), c["fold"], c["repeat"]))
    failures = [{"pair": o.pair, "model": o.model, "repeat": o.repeat, "reason": o.error}
                for o in outcomes if o.error is not None]
    summary = summarise(cases, models)
    per_pair = pair_medians(cases, models)
    exit_code = EXIT_SOME_PAIRS_FAILED if failures else EXIT_OK
    finished = time.time()
    report = {
        "market": market, "interval": passed.interval, "models": models,
        "folds": args.folds, "fold_size": args.fold_size,
        "repeats": args.repeats, "workers": args.workers,
        "options": {name: forecasters.get(name).settings(each)
                    for name, each in options.items()},
        "backend": passed.backend or settings.backend,
        "pairs": [pair.symbol for pair in pairs],
        "started": _iso(started), "finished": _iso(finished),
        "wall_seconds": round(finished - started, 2),
        "per_model": summary, "per_pair_median_skill": per_pair, "failures": failures,
        "tasks": {"ok": sum(o.error is None for o in outcomes), "failed": len(failures)},
        "exit_code": exit_code, "legend": list(LEGEND),
    }
    write_cases(out / "cases.csv", cases)
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    draw_skill(out / "skill.png", cases, models,
               f"{market}: skill per case, {len(pairs)} pairs x {args.folds} folds of "
               f"{args.fold_size} (> 0 beats last close)")
    print(format_report(summary, per_pair, models, failures))
    print(f"{len(cases)} cases, {len(failures)} failed tasks, "
          f"{report['wall_seconds']:.1f} s; files: {out / 'cases.csv'}, "
          f"{out / 'summary.json'}, {out / 'skill.png'}", flush=True)
    return exit_code


def _run_all(trained: list[EvalTask], in_driver: list[EvalTask],
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


# -- summary -----------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def summarise(cases: list[dict], models: list[str]) -> dict[str, dict]:
    """Per model over all its cases: skill distribution, sign test, medians of the rest."""
    from scipy.stats import binomtest

    summary = {}
    for name in models:
        rows = [case for case in cases if case["model"] == name]
        skills = np.array([c["skill"] for c in rows if c["skill"] is not None], dtype=float)
        nonzero = skills[skills != 0]
        wins = int(np.sum(nonzero > 0))
        quartiles = (np.percentile(skills, [25, 50, 75]).tolist() if len(skills)
                     else [None, None, None])
        summary[name] = {
            "cases": len(rows),
            "cases_without_skill": len(rows) - len(skills),
            "median_skill": quartiles[1], "q25_skill": quartiles[0], "q75_skill": quartiles[2],
            "share_skill_above_0": float(np.mean(skills > 0)) if len(skills) else None,
            "share_skill_0": float(np.mean(skills == 0)) if len(skills) else None,
            "share_skill_below_-0.02": (float(np.mean(skills < CLEARLY_WORSE))
                                        if len(skills) else None),
            "median_mase": _median([c["mase"] for c in rows]),
            "median_mape": _median([c["mape"] for c in rows]),
            "median_direction_accuracy": _median([c["direction_accuracy"] for c in rows]),
            "median_seconds_per_epoch": _median([c["seconds_per_epoch"] for c in rows]),
            "sign_test_cases": len(nonzero), "sign_test_wins": wins,
            "sign_test_p": (float(binomtest(wins, len(nonzero), 0.5).pvalue)
                            if len(nonzero) else None),
        }
    return summary


def pair_medians(cases: list[dict], models: list[str]) -> dict[str, dict[str, float | None]]:
    pairs = list(dict.fromkeys(case["pair"] for case in cases))
    return {pair: {name: _median([c["skill"] for c in cases
                                  if c["pair"] == pair and c["model"] == name])
                   for name in models} for pair in pairs}


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(value.ljust(width) if i == 0 else value.rjust(width)
                       for i, (value, width) in enumerate(zip(row, widths, strict=True)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def format_report(summary: dict[str, dict], per_pair: dict[str, dict], models: list[str],
                  failures: list[dict]) -> str:
    header = ("model", "cases", "median skill", "q25", "q75", ">0", "=0",
              f"<{CLEARLY_WORSE:g}", "MASE", "MAPE %", "direction", "s/epoch", "sign p")
    rows = []
    for name in models:
        s = summary[name]
        rows.append((name, str(s["cases"]), _fmt(s["median_skill"], "+.4f"),
                     _fmt(s["q25_skill"], "+.4f"), _fmt(s["q75_skill"], "+.4f"),
                     _fmt(s["share_skill_above_0"], ".2f"), _fmt(s["share_skill_0"], ".2f"),
                     _fmt(s["share_skill_below_-0.02"], ".2f"), _fmt(s["median_mase"], ".3f"),
                     _fmt(s["median_mape"], ".3f"), _fmt(s["median_direction_accuracy"], ".3f"),
                     _fmt(s["median_seconds_per_epoch"], ".3f"), _fmt(s["sign_test_p"], ".3g")))
    pair_rows = [(pair, *(_fmt(medians[name], "+.4f") for name in models))
                 for pair, medians in per_pair.items()]
    parts = ["", _table(header, rows), *LEGEND, "",
             "median skill per pair (over folds and repeats):",
             _table(("pair", *models), pair_rows)]
    parts += [f"failed: {f['pair']} {f['model']} repeat {f['repeat']}: {f['reason']}"
              for f in failures]
    return "\n".join(parts)


def write_cases(path: Path, cases: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CASE_COLUMNS)
        writer.writeheader()
        writer.writerows(cases)


def draw_skill(path: Path, cases: list[dict], models: list[str], title: str) -> None:
    """Box plot of skill per model (matplotlib's Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [[c["skill"] for c in cases if c["model"] == name and c["skill"] is not None]
            for name in models]
    figure, axes = plt.subplots(figsize=(max(6, 1.4 * len(models) + 2), 5))
    shown = [(name, values) for name, values in zip(models, data, strict=True) if values]
    if shown:
        axes.boxplot([values for _, values in shown], tick_labels=[name for name, _ in shown])
    axes.axhline(0.0, color="tab:orange", linestyle="--", label="naive (last close)")
    axes.set_ylabel("skill = 1 - RMSE / naive RMSE")
    axes.set_title(title)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=80)
    plt.close(figure)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
