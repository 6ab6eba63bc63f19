"""``coinlstm run`` / ``run_all.py``: the hourly market job that cron starts.

lock -> crawl -> pick the pairs -> train every pair in its own process -> summary + report.
The driver itself never imports Keras: its memory stays flat however many pairs it runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.executors import (
    FAILED,
    ExecutorConfig,
    Outcome,
    add_executor_arguments,
    check_timeout,
    make_executor,
)
from coinlstm.app.lock import JobLock
from coinlstm.app.pairs import add_pair_arguments, market_coins
from coinlstm.app.reporting import iso_utc, write_json_atomically
from coinlstm.core.config import Settings
from coinlstm.core.errors import (
    EXIT_OK,
    EXIT_SOME_PAIRS_FAILED,
    BadInput,
)
from coinlstm.core.tables import figure, format_table

#: Runs of a pair (same model and target) its track record in the summary covers.
TRACK_RECORD_RUNS = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from coinlstm.app import train_command

    job = parser.add_argument_group("market job")
    add_pair_arguments(job, "train", "trained")
    job.add_argument("--skip-crawl", action="store_true", help="train on the stored candles")
    job.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                     help="pairs trained at once (default: the number of cores, %(default)s)")
    add_executor_arguments(job, "pair", timeout=1800.0)
    job.add_argument("--report", type=Path, default=None, metavar="FILE",
                     help="also write the summary as JSON to FILE")
    job.add_argument("--no-progress", action="store_true", help="no progress bars")
    # --interval is a training flag (add_training_arguments): the job crawls, selects and
    # trains that one interval's candles.
    train_command.add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from coinlstm.app import train_command
    from coinlstm.core.klines import check_market, parse_symbols

    market = check_market(args.market)
    only = parse_symbols(args.only)
    if args.workers < 1:
        raise BadInput(f"--workers must be at least 1, got {args.workers}")
    check_timeout(args.timeout)
    options = train_command.options_from_args(args)
    options.check()  # a bad training flag fails before the crawl, not once per pair
    settings: Settings = args.settings
    engine = db.open_database(settings.db_url)  # the schema, ensured once for every pair
    try:
        with JobLock(engine, market):
            job = MarketJob(settings.with_(schema_ready=True), engine, market, args, options,
                            only)
            return job.run()
    finally:
        engine.dispose()


class MarketJob:
    """One run of the job over one market; the run id keys its rows and its report."""

    def __init__(self, settings: Settings, engine: sa.Engine, market: str,
                 args: argparse.Namespace, options, only: list[str] | None) -> None:
        self.settings = settings
        self.engine = engine
        self.market = market
        self.args = args
        self.options = options
        self.only = only
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.run_id = f"{market}-{stamp}-{os.getpid()}"
        self.started = time.time()
        self.crawl_summary: dict | None = None

    def run(self) -> int:
        self._record_start()
        status = "failed"
        outcomes: list[Outcome] = []
        try:
            if not self.args.skip_crawl:
                self.crawl_summary = self._crawl()
            tasks, skipped = self._select_pairs()
            # A pair whose crawl failed is not trained on stale candles: it failed.
            outcomes = self._crawl_failures()
            tasks = [task for task in tasks if task.symbol not in {o.symbol for o in outcomes}]
            if not tasks and not outcomes:
                raise BadInput(f"no pair of market {self.market} has enough candles to train"
                               + (f" ({skipped})" if skipped else ""))
            if tasks:
                executor = self._executor()
                print(f"run {self.run_id}: {len(tasks)} pairs of {self.market} "
                      f"({self.options.interval} candles), "
                      f"{executor.name} executor, {self.args.workers} workers", flush=True)
                with closing(executor.run(tasks)) as running:
                    outcomes += self._progress(running, len(tasks))
            status = "ok" if all(o.status == "ok" for o in outcomes) else "partial"
        finally:
            self._record_end(status, outcomes)
        report = self._report(outcomes)
        print(format_summary(report))
        if self.args.report:
            write_json_atomically(self.args.report, report)
            print(f"report written to {self.args.report}")
        return EXIT_OK if status == "ok" else EXIT_SOME_PAIRS_FAILED

    # -- steps -------------------------------------------------------------------

    def _crawl(self) -> dict:
        from crawl.crawler import crawl_market

        summary = crawl_market(self.engine, self.settings.binance_url, self.market,
                               interval=self.options.interval, only=self.only,
                               progress=not self.args.no_progress)
        return summary.to_dict() if hasattr(summary, "to_dict") else vars(summary)

    def _crawl_failures(self) -> list[Outcome]:
        """The pairs the crawl skipped (their replies kept breaking the kline rules)."""
        from coinlstm.app.train_command import PairTrainTask

        failed = (self.crawl_summary or {}).get("failed") or {}
        with self.engine.connect() as conn:
            coins = {symbol: db.coin_by_symbol(conn, symbol) for symbol in failed}
        return [Outcome(PairTrainTask(int(coins[symbol].id), symbol, self.options, self.run_id),
                        FAILED, 0.0, f"crawl failed, not trained: {reason}")
                for symbol, reason in failed.items()]

    def _select_pairs(self) -> tuple[list, str]:
        """The market's TRADING pairs with enough candles of the job's interval (narrowed by
        --only)."""
        from coinlstm.app import train_command

        needed = train_command.required_candles(self.options)
        coins, counts = market_coins(self.engine, self.market, self.only,
                                     self.options.interval, trading_only=True)
        tasks, short = [], []
        for coin in coins:
            # Pairs named with --only are attempted whatever they hold: the user asked for
            # them, so a too-short pair fails loudly in the summary instead of vanishing.
            if self.only or counts.get(coin.id, 0) >= needed:
                tasks.append(train_command.PairTrainTask(int(coin.id), coin.symbol,
                                                         self.options, self.run_id))
            else:
                short.append(f"{coin.symbol} {counts.get(coin.id, 0)}")
        skipped = f"fewer than {needed} candles: {', '.join(short)}" if short else ""
        if short:
            print(f"skipped, {skipped}")
        return tasks, skipped

    def _executor(self):
        return make_executor(self.args.executor, ExecutorConfig(
            self.settings, workers=self.args.workers, timeout=self.args.timeout,
            logs_dir=self.settings.logs_dir / self.run_id, ray_address=self.args.ray_address))

    def _progress(self, outcomes: Iterable[Outcome], total: int) -> Iterable[Outcome]:
        from tqdm import tqdm

        with tqdm(total=total, unit="pair", disable=self.args.no_progress,
                  desc=f"training {self.market}") as bar:
            for outcome in outcomes:
                bar.update(1)
                bar.write(f"{outcome.symbol}: {outcome.status} in {outcome.seconds:.1f} s"
                          + (f" ({outcome.reason})" if outcome.reason else ""))
                yield outcome

    # -- records -----------------------------------------------------------------

    def _record_start(self) -> None:
        with db.transaction(self.engine) as conn:
            conn.execute(db.job_runs.insert().values(
                run_id=self.run_id, market=self.market, executor=self.args.executor,
                host=socket.gethostname(), pid=os.getpid(), time_start=int(self.started),
                status="running"))

    def _record_end(self, status: str, outcomes: list[Outcome]) -> None:
        ok = sum(1 for o in outcomes if o.status == "ok")
        with db.transaction(self.engine) as conn:
            conn.execute(db.job_runs.update().where(db.job_runs.c.run_id == self.run_id).values(
                status=status, time_end=int(time.time()), pairs_ok=ok,
                pairs_failed=len(outcomes) - ok))

    def _track_records(self, outcomes: list[Outcome]) -> None:
        """Add each trained pair's recent skill and its edge verdict to its result.

        A pair has an edge when its current model moves away from the last close (shrinkage
        factor > 0; the level target has none and passes) and the median skill of its last
        TRACK_RECORD_RUNS runs of the same model, target and interval, this one included, is
        above 0.
        """
        with self.engine.connect() as conn:
            for outcome in outcomes:
                if outcome.status != "ok":
                    continue
                result = outcome.result
                skills = db.recent_skills(conn, outcome.coin_id, TRACK_RECORD_RUNS,
                                          model=result.get("model"),
                                          target=result.get("target"),
                                          interval=self.options.interval)
                recent = float(statistics.median(skills)) if skills else None
                anchored = result.get("edge") is not False
                result["recent_skill"] = recent
                result["recent_runs"] = len(skills)
                result["pair_edge"] = bool(anchored and recent is not None and recent > 0)

    def _report(self, outcomes: list[Outcome]) -> dict:
        import resource

        self._track_records(outcomes)
        finished = time.time()
        ordered = sorted(outcomes, key=_rank_key)
        ok = sum(1 for o in outcomes if o.status == "ok")
        return {
            "run_id": self.run_id,
            "market": self.market,
            "interval": self.options.interval,
            "executor": self.args.executor,
            "workers": self.args.workers,
            "started": iso_utc(self.started),
            "finished": iso_utc(finished),
            "wall_seconds": round(finished - self.started, 2),
            "driver_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "crawl": self.crawl_summary,
            "pairs": [o.to_dict() for o in ordered],
            "totals": {"ok": ok, "failed": len(outcomes) - ok, "pairs": len(outcomes)},
            "exit_code": EXIT_OK if ok == len(outcomes) else EXIT_SOME_PAIRS_FAILED,
        }


def _rank_key(outcome: Outcome) -> tuple:
    """Pairs with an edge first, then the other trained pairs, each by predicted change
    (largest rise first); failures last."""
    change = outcome.result.get("change_pct") if outcome.status == "ok" else None
    return (change is None, not outcome.result.get("pair_edge", False), -(change or 0.0),
            outcome.symbol)


def _num(value, spec: str = ".6g") -> str:
    return figure(value, spec)


def _band_label(report: dict) -> str | None:
    """The narrowest level the pairs' bands have (all pairs of a run share the levels)."""
    for pair in report["pairs"]:
        bands = (pair.get("result") or {}).get("bands")
        if bands:
            return next(iter(bands))
    return None


def _band_pct(result: dict, label: str | None) -> str:
    """The next close's band as % of the last close, e.g. "-0.72/+0.54"."""
    band = (result.get("bands") or {}).get(label) if label else None
    last = result.get("last_close")
    if not band or not last:
        return "-"
    return (f"{(band['lower'] - last) / last * 100:+.2f}/"
            f"{(band['upper'] - last) / last * 100:+.2f}")


def format_summary(report: dict) -> str:
    """The table cron's log keeps: every figure in it comes from the pair's own run."""
    label = _band_label(report)
    header = ("symbol", "status", "seconds", "last close", "next close", "change %",
              f"band {(label or '80').replace('_', '.')} %", "RMSE", "naive RMSE", "skill",
              "a", "recent skill", "edge")
    rows = []
    for pair in report["pairs"]:
        result = pair.get("result") or {}
        recent = (f"{result['recent_skill']:+.3f} ({result['recent_runs']})"
                  if result.get("recent_skill") is not None else "-")
        edge = "-" if pair["status"] != "ok" else "yes" if result.get("pair_edge") else "no"
        rows.append((pair["symbol"], pair["status"], _num(pair["seconds"], ".1f"),
                     _num(result.get("last_close")), _num(result.get("predicted_close")),
                     _num(result.get("change_pct"), "+.3f"), _band_pct(result, label),
                     _num(result.get("rmse"), ".4g"),
                     _num(result.get("naive_rmse"), ".4g"), _num(result.get("skill"), "+.3f"),
                     _num(result.get("shrinkage"), ".2f"), recent, edge))
    lines = format_table([header, *rows], left=2).split("\n")
    failed = [p for p in report["pairs"] if p["status"] != "ok"]
    for pair in failed:
        lines.append(f"{pair['symbol']} {pair['status']}: {pair['reason']}")
    totals = report["totals"]
    lines.append(f"pairs ok {totals['ok']}, failed {totals['failed']}; wall time "
                 f"{report['wall_seconds']:.1f} s; run {report['run_id']}")
    lines.append("skill = 1 - RMSE/naive RMSE on the pair's test slice: > 0 beats the naive "
                 "forecast (next close = last close), < 0 is worse than it.")
    lines.append("band L % = the next close's L % prediction band, lower/upper in % of the "
                 "last close (split conformal on the calibration slice, scaled by a volatility "
                 "forecast; docs/intervals.md).")
    lines.append(f"a = shrinkage toward the last close fitted on the calibration slice (0: the "
                 f"forecast is the last close); recent skill = median over the pair's last "
                 f"{TRACK_RECORD_RUNS} runs (count); edge = a > 0 and recent skill > 0. Pairs "
                 "with an edge are listed first.")
    return "\n".join(lines)

