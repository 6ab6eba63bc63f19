"""``coinlstm evaluate``: a walk-forward backtest of models against the naive forecast.

Why it exists: one test slice of 48 hours says little about a model (it took
45 pair-weeks to see that the reference model loses to "next close = last close"). This
command repeats that measurement for any set of models, with the very code that runs every
hour. The parts, one job each: the folds (train/walkforward.py), the figures of a case and
the statistics over cases (train/backtest_scores.py), the tasks and their processes
(coinlstm/app/jobs/evaluate_tasks.py), the tables and files (coinlstm/app/jobs/evaluate_report.py),
the --sweep grid and its statistics (coinlstm/app/jobs/evaluate_sweep.py), the per-step figures
of --horizon K (coinlstm/app/jobs/evaluate_steps.py);
this module holds the flags, the model names and the run.

Comparison. ``--models`` names forecasters (train/forecasters/registry.py): ``naive`` (the
last close) is one of them, beside ``static`` and ``ewma`` (the last close with a naive
prediction band: the baselines of the bands), the presets and the networks of the zoo. Every
forecast carries bands at ``--levels``, scored per case (coverage, width, Winkler score,
interval skill against ``static``).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.jobs.evaluate_hours import HOURS_FILE, add_dm_tests, write_hours
from coinlstm.app.jobs.evaluate_report import (
    BAND_LEGEND,
    CASE_COLUMNS,
    COVERAGE_PLOT_FILE,
    format_bands,
    format_report,
    format_schedules,
    legend,
    write_files,
)
from coinlstm.app.jobs.evaluate_steps import (
    STEPS_FILE,
    STEPS_PLOT_FILE,
    draw_steps,
    format_steps,
    steps_report,
    write_steps,
)
from coinlstm.app.jobs.evaluate_sweep import (
    Point,
    draw_sweep,
    format_sweep,
    grid,
    parse_sweeps,
    point_columns,
    same_for_every_point,
    summarise_points,
    summarise_sweep,
)
from coinlstm.app.jobs.evaluate_tasks import EvalTask, run_all
from coinlstm.app.jobs.pair_selection import (
    add_pair_arguments,
    job_markets,
    market_coins,
    pair_symbols,
    stored_markets,
)
from coinlstm.app.jobs.preflight import short_pairs
from coinlstm.app.jobs.reporting import iso_utc
from coinlstm.app.runtime.executors import (
    ExecutorConfig,
    add_executor_arguments,
    check_timeout,
    make_executor,
)
from coinlstm.core.columns import band_score_columns, level_label
from coinlstm.core.config import Settings
from coinlstm.core.errors import EXIT_OK, EXIT_SOME_PAIRS_FAILED, BadInput, EveryTaskFailed
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, exchange
from coinlstm.core.klines import DEFAULT_INTERVAL, Markets
from train import backend, config, forecasters, formulations
from train.backtest_scores import (
    add_interval_skill,
    band_case_columns,
    pair_medians,
    schedule_differences,
    step_skill_column,
    summarise,
    summarise_bands,
)
from train.config import TrainConfig, with_values
from train.schedule import DEFAULT_SCHEDULE, Schedule, parse_schedules
from train.walkforward import required_candles

DEFAULT_MODELS = "naive,reference,default"
#: 5 consecutive weeks of hourly candles: enough cases to see a model lose (docs/backtest.md).
DEFAULT_FOLDS = 5
DEFAULT_FOLD_SIZE = 168


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backtest")
    add_pair_arguments(group, "evaluate", "evaluated")
    group.add_argument("--models", default=DEFAULT_MODELS, metavar="NAME,NAME",
                       help=f"models to compare, of {', '.join(forecasters.names())}; "
                            "'naive' is the last close, 'static' and 'ewma' the last close "
                            "with a naive band, 'reference' is lstm on the close target "
                            "(the tutorial's model), 'default' lstm on the return "
                            "target, a zoo name uses --target; --model is ignored "
                            "(default %(default)s)")
    group.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                       help="walk-forward test blocks, newest last (default %(default)s)")
    group.add_argument("--fold-size", type=int, default=DEFAULT_FOLD_SIZE,
                       help="samples per test block; replaces --test-size "
                            "(default %(default)s: a week of hours)")
    group.add_argument("--schedule", default=DEFAULT_SCHEDULE, metavar="full|warm[:N]",
                       help="the schedule inside each fold: 'full' (one fit at the fold's "
                            "start forecasts the whole block), 'warm' (that fit, then a warm "
                            "fine-tune every hour, as the hourly job between full refits: "
                            "each hour forecast by the model of that hour), 'warm:N' (a warm "
                            "run every N hours), or a list (full,warm: both side by side, the "
                            "warm cases labelled MODEL@warm); naive, static and ewma run on "
                            "full only (default %(default)s)")
    group.add_argument("--repeats", type=int, default=1,
                       help="trainings per (pair, model) with seeds --seed + 0..R-1 "
                            "(default %(default)s)")
    group.add_argument("--sweep", action="append", default=None, metavar="NAME=V1,V2,...",
                       help="run every model once per value of the training option NAME "
                            "(any training flag's name, e.g. bias_l1=0,0.01,0.001); several "
                            "--sweep form a grid; cases.csv gets a column per option, the "
                            "summary skill's statistics per value, sweep-NAME.png a box per "
                            "value (docs/backtest.md#sweeps)")
    group.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="processes training at once (default: the cores, %(default)s)")
    add_executor_arguments(group, "task", timeout=None)
    group.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="folder for cases.csv, summary.json, skill.png "
                            "(default ARTIFACTS/evaluate/UTC-TIMESTAMP)")
    config.add_arguments(parser)


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


def model_options(name: str, passed: TrainConfig, fold_size: int) -> TrainConfig:
    """The options a model name stands for (a preset's or a zoo network's; a fit-free
    forecaster such as naive: the passed target, for its folds)."""
    return forecasters.get(name).configure(replace(passed, test_size=fold_size))


#: One kind of task: (model, schedule, --sweep grid point, the options it runs with).
Configured = tuple[str, Schedule, Point, TrainConfig]


def configure_runs(runs: list[tuple[str, Schedule]], passed: TrainConfig, points: list[Point],
                   fold_size: int) -> list[Configured]:
    """Every (model, schedule) at every grid point, each checked (BadInput before anything is
    written); a forecaster no point changes (naive) runs once, without sweep values."""
    configured: list[Configured] = []
    for name, schedule in runs:
        each = [(point, model_options(name, with_values(passed, dict(point)), fold_size))
                for point in points]
        for _, options in each:
            options.check()
        reported = [forecasters.get(name).reported_options(options) for _, options in each]
        if len(each) > 1 and same_for_every_point(reported):
            each = [((), each[0][1])]
        configured += [(name, schedule, point, options) for point, options in each]
    return configured


def scheduled(models: list[str], schedules: list[Schedule]) -> list[tuple[str, Schedule]]:
    """(model, schedule) of every task kind, models first: a forecaster that keeps no state
    (naive, static, ewma) has nothing to warm and runs once, on the full schedule."""
    runs = []
    for name in models:
        warmable = forecasters.get(name).warmable
        kinds = [each for each in schedules if warmable or not each.warm] or [Schedule()]
        runs += [(name, each) for each in kinds]
    return runs


def select_pairs(engine: sa.Engine, market: str | list[str], only: list[str] | None,
                 interval: str = DEFAULT_INTERVAL, exchange_name: str = DEFAULT_EXCHANGE,
                 needed: int = 0, settings_text: str = "these settings") -> list[sa.Row]:
    """The market's (or markets') pairs in coin_info that hold candles of ``interval``
    (narrowed by --only); no crawl. BadInput when none holds ``needed`` candles (coinlstm/app/
    preflight.py)."""
    coins, counts, _ = market_coins(engine, market, only, interval,
                                    exchange_name=exchange_name)
    named = market if isinstance(market, str) else ", ".join(market)
    if only:
        empty = [coin.symbol for coin in coins if not counts.get(coin.id)]
        if empty:
            raise BadInput(f"no {interval} candles in the database for {', '.join(empty)}; "
                           "crawl or import them first")
    pairs = [coin for coin in coins if counts.get(coin.id)]
    if not pairs:
        raise BadInput(f"no pair of market {named} has {interval} candles in the database; "
                       "crawl or import them first")
    short_pairs({pair.symbol: counts[pair.id] for pair in pairs}, needed, named, interval,
                settings_text)
    return pairs


@dataclass(frozen=True)
class _Plan:
    """What the flags ask for, checked before a database is opened or a file written."""

    markets: Markets
    models: list[str]
    only: list[str] | None
    passed: TrainConfig
    schedules: list[Schedule]
    #: model name -> the options it stands for
    options: dict[str, TrainConfig]
    sweeps: dict[str, list[Any]]
    points: list[Point]
    runs: list[tuple[str, Schedule]]
    configured: list[Configured]

    @property
    def labels(self) -> list[str]:
        return [schedule.label(name) for name, schedule in self.runs]


@dataclass
class _Figures:
    """The cases of a backtest and every summary computed from them."""

    cases: list[dict]
    ok_tasks: int
    failures: list[dict]
    per_step: dict | None
    summary: dict[str, dict]
    per_pair: dict[str, dict]
    per_value: dict[str, list[dict]]
    per_point: list[dict]
    bands: dict[str, dict]
    differences: dict[str, dict]


def run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    passed = plan.passed
    settings: Settings = args.settings
    started = time.time()
    pairs = _pairs(args, plan, settings)
    settings = settings.with_(schema_ready=True)
    imports = (*formulations.modules(), *forecasters.modules())
    tasks = [EvalTask(int(pair.id), pair.symbol, name, each, repeat, args.folds,
                      args.fold_size, imports, schedule.name, point)
             for pair in pairs for name, schedule, point, each in plan.configured
             for repeat in range(args.repeats if forecasters.get(name).seeded else 1)]
    trained = [task for task in tasks if forecasters.get(task.model).needs_keras]
    in_driver = [task for task in tasks if not forecasters.get(task.model).needs_keras]
    workers = min(args.workers, max(1, len(trained)))
    out = args.out or settings.artifacts / "evaluate" / datetime.now(UTC).strftime(
        "%Y%m%dT%H%M%SZ")
    executor = None
    if trained:
        # An unusable backend (torch not installed) is one bad-input line here, not one
        # failure per task. prepare() only sets the environment: Keras stays unimported.
        backend.prepare(passed.backend_name(settings), settings.cache_dir)
        executor = make_executor(args.executor, ExecutorConfig(
            settings, workers=workers, timeout=args.timeout, logs_dir=out / "logs",
            ray_address=args.ray_address, task_modules=(EvalTask.__module__,)))
    out.mkdir(parents=True, exist_ok=True)  # before the work: an unwritable folder fails now
    print(f"evaluate {plan.markets.label} ({passed.interval} candles): {len(pairs)} pairs x "
          f"{', '.join(plan.labels)}; {args.folds} folds "
          f"of {args.fold_size} samples (walk-forward, expanding window"
          f"{f', {passed.horizon} steps each' if passed.horizon > 1 else ''}), "
          f"{args.repeats} repeat(s); {len(trained)} training tasks on "
          f"{workers} workers", flush=True)
    outcomes = run_all(executor, settings, in_driver, trained)
    figures = _figures(outcomes, plan, out)
    exit_code = EXIT_SOME_PAIRS_FAILED if figures.failures else EXIT_OK
    report = _report(args, plan, settings, pairs, figures, started, exit_code)
    plots = _write(out, args, plan, settings, pairs, figures, report)
    _print(plan, figures, report, out, plots)
    return exit_code


def _plan(args: argparse.Namespace) -> _Plan:
    """The flags, checked: BadInput (one line, exit 2) before anything is opened."""
    markets = job_markets(args.market)  # one market, a list, or ALL (the stored ones)
    exchange(args.settings.exchange).check_interval(args.interval)  # as crawl and run
    models = parse_models(args.models)
    only = pair_symbols(args.settings, args.only)
    for name in ("folds", "fold_size", "repeats", "workers"):
        if getattr(args, name) < 1:
            raise BadInput(f"--{name.replace('_', '-')} must be at least 1, "
                           f"got {getattr(args, name)}")
    check_timeout(args.timeout)
    passed = config.from_args(args)
    if passed.with_pairs:
        # The folds and the naive baseline are one pair's; multi-pair models are trained
        # and scored by `train`.
        raise BadInput("evaluate scores each pair on its own: --with is not supported here "
                       "(use coinlstm train)")
    schedules = parse_schedules(args.schedule)
    if passed.horizon > 1 and any(each.warm for each in schedules):
        raise BadInput("--horizon above 1 is evaluated on the full schedule only "
                       "(--schedule full)")
    options = {name: model_options(name, passed, args.fold_size) for name in models}
    for each in options.values():
        each.check()
    sweeps = parse_sweeps(args.sweep)
    if sweeps and len(schedules) > 1:
        # The warm-vs-full table pairs cases by pair, fold and repeat: one value per pair.
        raise BadInput("--sweep runs one schedule at a time; give --schedule one of "
                       f"{', '.join(schedule.name for schedule in schedules)}")
    points = grid(sweeps)
    runs = scheduled(models, schedules)
    configured = configure_runs(runs, passed, points, args.fold_size)
    return _Plan(markets, models, only, passed, schedules, options, sweeps, points, runs,
                 configured)


def _pairs(args: argparse.Namespace, plan: _Plan, settings: Settings) -> list[sa.Row]:
    """The pairs evaluated, each holding the candles the folds need (else BadInput)."""
    passed = plan.passed
    engine = db.open_database(settings.db_url)  # the schema, ensured once for every task
    try:
        return select_pairs(
            engine, stored_markets(engine, plan.markets, settings.exchange)
            or plan.markets.label, plan.only, passed.interval, settings.exchange,
            needed=min(required_candles(args.folds, args.fold_size, each.window, each.target,
                                        each.horizon)
                       for each in plan.options.values()),
            settings_text=f"{args.folds} folds of {args.fold_size} samples with --window "
                          f"{passed.window}")
    finally:
        engine.dispose()


def _figures(outcomes, plan: _Plan, out: Path) -> _Figures:
    """The cases and their summaries; EveryTaskFailed when no task gave a case."""
    labels, levels = plan.labels, plan.passed.levels
    taken = (*CASE_COLUMNS, *band_case_columns(levels))
    cases = _cases(outcomes, labels, plan.points, taken)
    # Failed tasks in the executors' one schema (coinlstm.app.runtime.executors.Outcome).
    failures = [o.to_dict() for o in outcomes if not o.ok]
    if outcomes and not any(o.ok for o in outcomes):
        raise EveryTaskFailed(f"all {len(outcomes)} tasks failed (each on its line above; "
                              f"logs in {out / 'logs'}); no figures, nothing else written")
    add_interval_skill(cases, levels)
    add_dm_tests(cases)
    return _Figures(
        cases, sum(o.ok for o in outcomes), failures,
        steps_report(cases, labels, plan.passed.horizon), summarise(cases, labels),
        pair_medians(cases, labels),
        summarise_sweep(cases, plan.sweeps, labels, taken),
        summarise_points(cases, plan.points, labels, taken) if len(plan.sweeps) > 1 else [],
        summarise_bands(cases, labels, levels), schedule_differences(cases, labels))


def _report(args: argparse.Namespace, plan: _Plan, settings: Settings, pairs: list[sa.Row],
            figures: _Figures, started: float, exit_code: int) -> dict:
    """summary.json's content."""
    passed, labels, levels = plan.passed, plan.labels, plan.passed.levels
    finished = time.time()
    return {
        "market": plan.markets.label, "interval": passed.interval, "models": labels,
        "schedules": [schedule.name for schedule in plan.schedules],
        "folds": args.folds, "fold_size": args.fold_size,
        "repeats": args.repeats, "workers": args.workers,
        "options": {name: forecasters.get(name).reported_options(each)
                    for name, each in plan.options.items()},
        "backend": passed.backend_name(settings),
        "pairs": [pair.symbol for pair in pairs],
        "started": iso_utc(started), "finished": iso_utc(finished),
        "wall_seconds": round(finished - started, 2),
        "per_model": figures.summary, "per_pair_median_skill": figures.per_pair,
        "levels": list(levels),
        "schedule_differences": figures.differences,
        "sweep": {"options": plan.sweeps, "per_value": figures.per_value,
                  "per_point": figures.per_point},
        "per_model_bands": figures.bands,
        "per_pair_median_coverage": {
            label: pair_medians(figures.cases, labels, coverage)
            for label, coverage in ((level_label(level), band_score_columns(level)[0])
                                    for level in levels)},
        "failures": figures.failures,
        "tasks": {"ok": figures.ok_tasks, "failed": len(figures.failures)},
        "exit_code": exit_code, "legend": [*legend(passed.interval), *BAND_LEGEND],
        **({"horizon": passed.horizon, "per_step": figures.per_step}
           if figures.per_step else {}),
    }


def _write(out: Path, args: argparse.Namespace, plan: _Plan, settings: Settings,
           pairs: list[sa.Row], figures: _Figures, report: dict) -> list[Path]:
    """The files of the backtest in ``out``; returns the sweep's charts."""
    passed, labels, cases = plan.passed, plan.labels, figures.cases
    taken = (*CASE_COLUMNS, *band_case_columns(passed.levels))
    title = (f"{settings.exchange} {plan.markets.label} {passed.interval}: skill per case, "
             f"{len(pairs)} pairs x {args.folds} folds of {args.fold_size} "
             "(> 0 beats last close)")
    step_columns = ([step_skill_column(h) for h in range(1, passed.horizon + 1)]
                    if figures.per_step else [])
    write_files(out, report, cases, labels, title, passed.levels,
                extra_columns=[*step_columns, *_sweep_columns(plan.points, taken)])
    plots = draw_sweep(out, cases, figures.per_value, taken, plan.markets.label)
    write_hours(out / HOURS_FILE, cases)
    if figures.per_step:
        write_steps(out / STEPS_FILE, cases)
        draw_steps(out / STEPS_PLOT_FILE, cases, labels, passed.horizon,
                   f"{len(pairs)} pairs x {args.folds} folds of {args.fold_size}")
    return plots


def _print(plan: _Plan, figures: _Figures, report: dict, out: Path, plots: list[Path]) -> None:
    """The tables, then one line naming every file written."""
    labels = plan.labels
    print(format_report(figures.summary, figures.per_pair, labels, figures.failures,
                        plan.passed.interval))
    if figures.differences:
        print(format_schedules(figures.differences))
    print(format_bands(figures.bands, labels))
    if plan.sweeps:
        print(format_sweep(figures.per_value, figures.per_point))
    if figures.per_step:
        print(format_steps(figures.per_step, labels))
    steps_files = (f", {out / STEPS_FILE}, {out / STEPS_PLOT_FILE}" if figures.per_step
                   else "")
    print(f"{len(figures.cases)} cases, {len(figures.failures)} failed tasks, "
          f"{report['wall_seconds']:.1f} s; files: {out / 'cases.csv'}, "
          f"{out / 'summary.json'}, {out / HOURS_FILE}, {out / 'skill.png'}, "
          f"{out / COVERAGE_PLOT_FILE}{steps_files}{''.join(f', {path}' for path in plots)}",
          flush=True)


def _sweep_columns(points: list[Point], taken) -> list[str]:
    return list(dict.fromkeys(column for point in points for column in point_columns(point, taken)))


def _cases(outcomes, labels: list[str], points: list[Point], taken) -> list[dict]:
    """Every case with its grid point's columns, ordered by pair, model, point, fold, repeat."""
    order = {point: index for index, point in enumerate(points)}
    rows = [(order.get(o.task.sweep, -1), {**case, **point_columns(o.task.sweep, taken)})
            for o in outcomes for case in o.result.get("cases", ())]
    rows.sort(key=lambda r: (r[1]["pair"], labels.index(r[1]["model"]), r[0], r[1]["fold"],
                             r[1]["repeat"]))
    return [case for _, case in rows]


