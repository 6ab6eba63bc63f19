"""``coinlstm backfill --days N``: a market's track record from day one.

For each pair, the hourly job's own runs of the last N days are replayed over the stored
candles, one process per pair (coinlstm/app/jobs/backfill_pair.py) through the executor seam
(subprocess pool or Ray), and every hour's forecast is stored as the live job would have
made it, marked ``source = 'backfill'``. Then the market is scored (predict/forward_scores.py), so
the verdicts rest on the backfilled hours at once.

It holds the market job's lock while it runs: the hourly job and a backfill of one market
never run together (two writers never touch the same pair's models). A held lock is refused
in one line. Bad input (``--days`` below 1, an unknown market or pair) is one line, exit 2,
with nothing written; a pair too short for ``--days`` is that pair's one-line failure while
the others go on.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from coinlstm import db
from coinlstm.app.commands.run import job_key
from coinlstm.app.jobs.job_flags import (
    add_job_arguments,
    add_refits_argument,
    check_workers,
    job_options,
    job_pairs,
)
from coinlstm.app.jobs.pair_selection import add_pair_arguments, job_markets, market_coins
from coinlstm.app.jobs.reporting import iso_utc, write_json_atomically
from coinlstm.app.runtime.executors import ExecutorConfig, Outcome, PairTask, make_executor
from coinlstm.app.runtime.executors.processes import read_json
from coinlstm.app.runtime.lock import JobLock, LockKeeper, keeping
from coinlstm.app.runtime.peak_memory import peak_rss_mb
from coinlstm.app.runtime.stopping import signals_raise
from coinlstm.core.config import Settings
from coinlstm.core.errors import EXIT_OK, EXIT_SOME_PAIRS_FAILED, BadInput
from coinlstm.core.tables import figure, format_table
from predict.forward_scores import pair_verdict, score
from predict.track_record import verdict_basis
from train import config as train_config
from train.config import TrainConfig
from train.warmstart import DEFAULT_JOB_REFITS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    job = parser.add_argument_group("backfill")
    job.add_argument("--days", type=int, required=True,
                     help="replay the hourly job over the last DAYS days of stored candles")
    add_pair_arguments(job, "backfill", "backfilled")
    add_job_arguments(job, "backfilled", timeout=None)
    add_refits_argument(job)
    train_config.add_arguments(parser)


@dataclass(frozen=True)
class BackfillTask(PairTask):
    """One pair's backfill (coinlstm.app.runtime.executors): ``python -m
    coinlstm.app.jobs.backfill_pair`` locally, the same PairBackfill on Ray."""

    coin_id: int
    symbol: str
    options: TrainConfig
    days: int
    progress_path: Path
    #: The market job's rule for due refits it replays (``--refits``).
    refits: str = DEFAULT_JOB_REFITS

    def argv(self, result_path: Path) -> list[str]:
        return [sys.executable, "-m", "coinlstm.app.jobs.backfill_pair", "--coin-id",
                str(self.coin_id), "--symbol", self.symbol, "--days", str(self.days),
                "--progress", str(self.progress_path), "--refits", self.refits,
                *train_config.to_argv(self.options), "--result-json", str(result_path)]

    def run_here(self, settings: Settings) -> dict:
        from coinlstm.app.jobs.backfill_pair import PairBackfill, run_safely

        return run_safely(PairBackfill(settings, self.coin_id, self.symbol, self.options,
                                       self.days, self.progress_path, refits=self.refits))


def check_days(days: int) -> None:
    if days < 1:
        raise BadInput(f"--days must be at least 1, got {days}")


def run(args: argparse.Namespace) -> int:
    check_days(args.days)
    markets, only = job_pairs(args)
    check_workers(args.workers)
    options = job_options(args)
    settings: Settings = args.settings
    engine = db.open_database(settings.db_url)
    try:
        coins = _chosen_coins(engine, settings, markets, only, options.interval)
        lock = JobLock(engine, job_key(settings, markets))
        lock.acquire()  # the hourly job runs: LockHeld, one line
        try:
            return Backfill(settings.with_(schema_ready=True), engine, args, options,
                            coins, LockKeeper(lock, 0.0)).run()
        finally:
            lock.release()
    finally:
        engine.dispose()


def _chosen_coins(engine, settings: Settings, markets, only, interval: str) -> list:
    """The pairs to backfill: the markets' pairs in the database (narrowed by --only);
    BadInput for a market the database holds no pair of, or a pair not of the market."""
    held = db.retry_read(engine, lambda conn: db.markets(conn, settings.exchange), 0.0,
                         "reading the markets")
    names = held if markets.every else list(markets.names)
    unknown = [name for name in names if name not in held]
    if unknown or not names:
        raise BadInput(f"unknown market {(unknown or [markets.label])[0]!r}: the database "
                       f"has no pair of it on {settings.exchange}")
    coins, _, _ = market_coins(engine, names, only, interval,
                               exchange_name=settings.exchange)
    return coins


class Backfill:
    """One backfill run: the pairs' processes, their progress, the scoring, the summary."""

    def __init__(self, settings: Settings, engine, args: argparse.Namespace,
                 options: TrainConfig, coins: list, keeper: LockKeeper) -> None:
        self.settings, self.engine, self.args, self.options = settings, engine, args, options
        self.coins, self.keeper = coins, keeper
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.run_id = f"backfill-{job_key(settings, job_markets(args.market))}-{stamp}-" \
                      f"{os.getpid()}"
        self.logs_dir = settings.logs_dir / self.run_id
        self.started = time.time()

    def run(self) -> int:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        tasks = [BackfillTask(int(coin.id), coin.symbol, self.options, self.args.days,
                              self.logs_dir / f"{coin.symbol}.progress.json",
                              refits=self.args.refits)
                 for coin in self.coins]
        print(f"backfill {self.run_id}: {len(tasks)} pairs, the last {self.args.days} days "
              f"of {self.options.interval} candles, {self.args.executor} executor, "
              f"{self.args.workers} workers", flush=True)
        outcomes: list[Outcome] = []
        executor = make_executor(self.args.executor, ExecutorConfig(
            self.settings, workers=self.args.workers, timeout=self.args.timeout,
            logs_dir=self.logs_dir, ray_address=self.args.ray_address,
            gate=self.keeper.may_launch))
        with signals_raise(), keeping(self.keeper), closing(executor):
            with closing(executor.run(tasks)) as running, ProgressBars(
                    tasks, disabled=self.args.no_progress) as bars:
                for outcome in running:
                    bars.finished(outcome)
                    outcomes.append(outcome)
        verdicts = self._score()
        report = self._report(outcomes, verdicts)
        print(format_summary(report), flush=True)
        if self.args.report:
            write_json_atomically(self.args.report, report)
            print(f"report written to {self.args.report}", flush=True)
        return EXIT_OK if all(o.ok for o in outcomes) else EXIT_SOME_PAIRS_FAILED

    def _score(self) -> dict[int, dict]:
        """Score the markets' forecasts (the backfilled ones among them); each pair's
        verdict and what it rests on."""
        for name in sorted({coin.quoteAsset for coin in self.coins}):
            print(score(self.engine, self.options.interval, name).line(self.options.interval),
                  flush=True)
        verdicts = {}
        with self.engine.connect() as conn:
            for coin in self.coins:
                verdict, record = pair_verdict(conn, int(coin.id), self.options.model,
                                               self.options.target, self.options.interval)
                verdicts[int(coin.id)] = record_dict(verdict, record)
        return verdicts

    def _report(self, outcomes: list[Outcome], verdicts: dict[int, dict]) -> dict:
        finished = time.time()
        pairs = [{**o.to_dict(), "track_record": verdicts.get(o.coin_id)}
                 for o in sorted(outcomes, key=lambda o: o.symbol)]
        ok = sum(1 for o in outcomes if o.ok)
        return {"run_id": self.run_id, "market": self.args.market, "days": self.args.days,
                "interval": self.options.interval, "executor": self.args.executor,
                "workers": self.args.workers, "started": iso_utc(self.started),
                "finished": iso_utc(finished),
                "wall_seconds": round(finished - self.started, 2),
                "driver_peak_rss_mb": round(peak_rss_mb(), 1),
                "pairs": pairs,
                "totals": {"ok": ok, "failed": len(outcomes) - ok, "pairs": len(outcomes)}}


def record_dict(verdict: str, record) -> dict:
    """A pair's verdict, what it rests on, and the figures of its 30-day record."""

    mapping = {} if record is None else record._mapping
    live, backfill = mapping.get("scored_live"), mapping.get("scored_backfill")
    return {"verdict": verdict, "rests_on": verdict_basis(live, backfill),
            "scored": mapping.get("scored"), "scored_live": live, "scored_backfill": backfill,
            "skill": mapping.get("skill"), "dm_pvalue": mapping.get("dm_pvalue"),
            "dm_pvalue_adjusted": mapping.get("dm_pvalue_adjusted")}


def format_summary(report: dict) -> str:
    header = ("symbol", "status", "hours", "stored", "failed h", "full s", "warm s",
              "peak MB", "30d skill", "verdict")
    rows = []
    for pair in report["pairs"]:
        result, record = pair.get("result") or {}, pair.get("track_record") or {}
        verdict = record.get("verdict")
        rows.append((pair["symbol"], pair["status"], figure(result.get("hours"), "d"),
                     figure(result.get("stored"), "d"), figure(result.get("failed_hours"), "d"),
                     figure(result.get("full_seconds"), ".2f"),
                     figure(result.get("warm_seconds"), ".2f"),
                     figure(pair.get("peak_rss_mb"), ".0f"),
                     figure(record.get("skill"), "+.3f"),
                     f"{verdict} ({record['rests_on']})" if verdict else "-"))
    lines = format_table([header, *rows], left=2).split("\n")
    for pair in report["pairs"]:
        result = pair.get("result") or {}
        if pair["status"] != "ok":
            lines.append(f"{pair['symbol']} {pair['status']}: {pair['reason']}")
        elif result.get("first_failure"):
            lines.append(f"{pair['symbol']}: {result['failed_hours']} hours not backfilled, "
                         f"the first {result['first_failure']}")
    totals = report["totals"]
    lines.append(f"pairs ok {totals['ok']}, failed {totals['failed']}; wall time "
                 f"{report['wall_seconds']:.1f} s; {report['run_id']}")
    lines.append("hours = the hourly job's runs of the last --days days replayed; stored = "
                 "forecasts added (a rerun adds none); full s / warm s = median seconds of a "
                 "replayed full fit / warm fine-tune; verdict (what it rests on: live and "
                 "backfilled scored hours of the last 30 days; a live forecast counts over a "
                 "backfilled one for the same candle; docs/backfill.md).")
    return "\n".join(lines)


class ProgressBars:
    """An overall bar (replayed hours of every pair) and one bar per running pair, fed by
    the progress files the pairs' processes write; none with ``disabled``."""

    def __init__(self, tasks: list[BackfillTask], disabled: bool) -> None:
        self.tasks, self.disabled = tasks, disabled
        self.bars: dict[str, object] = {}
        self.done: dict[str, int] = {}
        self.overall = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="backfill-progress",
                                        daemon=True)
        self._guard = threading.Lock()

    def __enter__(self) -> ProgressBars:
        if not self.disabled:
            self.overall = tqdm(total=0, unit="h", desc=f"backfill {len(self.tasks)} pairs",
                                position=0)
            self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._guard:
            for bar in self.bars.values():
                bar.close()
            if self.overall is not None:
                self.overall.close()

    def finished(self, outcome: Outcome) -> None:
        line = (f"{outcome.symbol}: {outcome.status} in {outcome.seconds:.1f} s"
                + (f" ({outcome.reason})" if outcome.reason else ""))
        if self.overall is None:
            return
        with self._guard:
            self._update()
            bar = self.bars.pop(outcome.symbol, None)
            if bar is not None:
                bar.close()
            self.overall.write(line)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with self._guard:
                self._update()

    def _update(self) -> None:
        for task in self.tasks:
            state = read_json(task.progress_path)
            before = self.done.get(task.symbol)
            if not state or before == state["done"]:
                continue
            if before is None:  # first seen: its hours join the overall bar
                before = 0
                self.overall.total += state["total"]
                self.overall.refresh()
                if state["done"] < state["total"]:
                    self.bars[task.symbol] = tqdm(
                        total=state["total"], initial=state["done"], unit="h",
                        desc=task.symbol, leave=False, position=len(self.bars) + 1)
            elif task.symbol in self.bars:
                self.bars[task.symbol].update(state["done"] - before)
            self.overall.update(state["done"] - before)
            self.done[task.symbol] = state["done"]
