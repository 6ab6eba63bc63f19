"""``coinlstm run`` / ``run_all.py``: the hourly market job that cron starts.

lock -> crawl -> pick the pairs -> train every pair in its own process -> summary + report.
The driver itself never imports Keras: its memory stays flat however many pairs it runs.
One job can run several quote markets (``--market ETH,BTC,USDT`` or ``ALL``): one lock,
one fork server, one crawl of all their pairs, one executor run; the summary is grouped
by market.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from tqdm import tqdm

from coinlstm import db
from coinlstm.app.jobs.job_flags import (
    add_job_arguments,
    add_refits_argument,
    check_workers,
    job_options,
    job_pairs,
)
from coinlstm.app.jobs.pair_selection import add_pair_arguments, market_coins, stored_markets
from coinlstm.app.jobs.pair_task import PairTrainTask, add_plot_argument
from coinlstm.app.jobs.preflight import short_pairs
from coinlstm.app.jobs.reporting import iso_utc, write_json_atomically
from coinlstm.app.runtime.executors import FAILED, ExecutorConfig, Outcome, make_executor
from coinlstm.app.runtime.lock import JobLock, LockKeeper, keeping, running_jobs
from coinlstm.app.runtime.peak_memory import peak_rss_mb
from coinlstm.app.runtime.stopping import signals_raise
from coinlstm.core.config import DEFAULT_DB_RETRY_SECONDS, Settings
from coinlstm.core.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SOME_PAIRS_FAILED,
    BadInput,
    CoinlstmError,
    LockLost,
    one_line,
)
from coinlstm.core.exchanges import job_name, split_job_name
from coinlstm.core.klines import EVERY_MARKET, Markets, parse_time
from coinlstm.core.tables import figure, format_table
from crawl.crawler import (
    DEFAULT_SINCE,
    add_crawl_workers_argument,
    check_crawl_workers,
    check_market_listed,
    crawl_market,
)
from predict.forward_scores import pair_verdict, score
from predict.track_record import EDGE, FDR, verdict_basis
from train import config, warmstart


def add_arguments(parser: argparse.ArgumentParser) -> None:
    job = parser.add_argument_group("market job")
    add_pair_arguments(job, "train", "trained")
    job.add_argument("--skip-crawl", action="store_true",
                     help="train on the stored candles: the market's TRADING pairs and the "
                          "ones only imported from files (status unknown)")
    job.add_argument("--since", default=None, metavar="DATE",
                     help=f"where a new pair's history starts when the crawl backfills it "
                          f"(UTC; default {DEFAULT_SINCE})")
    add_crawl_workers_argument(job)
    add_job_arguments(job, "trained", timeout=1800.0)
    add_plot_argument(job)
    add_refits_argument(job)
    # --interval is a training flag (add_training_arguments): the job crawls, selects and
    # trains that one interval's candles.
    config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    markets, only = job_pairs(args)
    if args.since is not None and args.skip_crawl:
        raise BadInput("--since sets where the crawl backfills from; it has no effect with "
                       "--skip-crawl")
    since_ms = parse_time(args.since) if args.since is not None else None
    check_workers(args.workers)
    check_crawl_workers(args.crawl_workers)
    options = job_options(args)  # before the crawl
    settings: Settings = args.settings
    if settings.db_retry_seconds is None:  # the job and its pairs run unattended: they wait
        settings = settings.with_(db_retry_seconds=DEFAULT_DB_RETRY_SECONDS)
    retry_seconds = settings.db_retry_seconds
    # The schema, ensured once for every pair.
    engine = db.open_database(settings.db_url, retry_seconds=retry_seconds)
    try:
        lock = JobLock(engine, job_key(settings, markets), retry_seconds=retry_seconds)
        db.retry(lock.acquire, retry_seconds, "taking the job lock")
        try:
            job = MarketJob(settings.with_(schema_ready=True), engine, markets, args, options,
                            only, lock=lock, since_ms=since_ms)
            return job.run()
        finally:
            lock.release()
    finally:
        engine.dispose()


def job_key(settings: Settings, markets: Markets | str) -> str:
    """The job's name: Binance's is the market alone, as it was; other exchanges' are
    ``exchange-market`` (in job_runs and the run id). A job of several markets (a list or
    ALL) is keyed ``ALL``, whichever were named. Every job of an exchange takes the same lock,
    the exchange's (coinlstm/app/runtime/lock.py), whatever its key."""
    if isinstance(markets, Markets):
        markets = markets.single or EVERY_MARKET
    return job_name(settings.exchange, markets)


class MarketJob:
    """One run of the job over one market or several (one lock, one crawl, one executor
    run); the run id keys its rows and its report."""

    def __init__(self, settings: Settings, engine: sa.Engine, markets: Markets | str,
                 args: argparse.Namespace, options, only: list[str] | None,
                 lock: JobLock | None = None, since_ms: int | None = None) -> None:
        self.settings = settings
        self.engine = engine
        #: The markets asked (``market``: how the job names them, ETH, BTC,ETH or ALL);
        #: ``market_names``: the ones it runs, once the crawl or the database said which.
        self.markets = markets if isinstance(markets, Markets) else Markets((markets,))
        self.market = self.markets.label
        self.market_names: list[str] = list(self.markets.names)
        #: Each selected pair's market (symbol -> quote asset): the summary's groups.
        self.market_of: dict[str, str] = {}
        self.args = args
        self.options = options
        self.only = only
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        #: The job's name in job_runs, its run id and its lock (job_key).
        self.key = job_key(settings, self.markets)
        self.run_id = f"{self.key}-{stamp}-{os.getpid()}"
        self.started = time.time()
        self.crawl_summary: dict | None = None
        self.since_ms = since_ms
        self.retry_seconds = settings.db_retry_seconds
        self.keeper = LockKeeper(lock, settings.db_retry_seconds) if lock is not None else None
        #: The pairs to train, once selected (a failure reports those it cut short).
        self.tasks: list = []
        #: The deferred refits' outcomes (``--refits after``), run after every forecast.
        self.refits: list[Outcome] = []

    def run(self) -> int:
        """The job's steps; whatever ends them (a fault, a signal, a failed crawl, a lost
        lock), the job_runs row is closed with its status and reason, the summary printed and
        the report written, and then the failure is raised for the CLI's one line."""
        chosen = self._preflight()  # a bad input starts nothing and records nothing
        status, failure = "failed", None
        outcomes: list[Outcome] = []
        try:
            with signals_raise(), keeping(self.keeper):
                self._record_start()
                with closing(self._executor()) as executor:
                    executor.warm_up()  # the fork server's imports overlap the crawl
                    self._steps(executor, outcomes, chosen)
            status = "ok" if all(o.status == "ok" for o in outcomes) else "partial"
            if self.keeper is not None and self.keeper.lost is not None:
                status, failure = "lock_lost", LockLost(self.keeper.lost)
        except BaseException as exc:  # noqa: BLE001 - recorded, reported, then raised again
            failure = exc
        if failure is not None:  # the pairs the failure cut short are reported, not lost
            ended = {o.coin_id for o in outcomes}
            outcomes += [Outcome(task, FAILED, 0.0, f"not finished: {one_line(failure)}")
                         for task in self.tasks if task.coin_id not in ended]
        reason = one_line(failure) if failure is not None else _pairs_reason(outcomes)
        code = (_exit_code_of(failure) if failure is not None
                else EXIT_OK if status == "ok" else EXIT_SOME_PAIRS_FAILED)
        self._record_end(status, outcomes, reason)
        report = self._report(outcomes, status, reason, code)
        if outcomes or not isinstance(failure, BadInput):  # else the error line says it all
            print(format_summary(report), flush=True)
        if self.args.report:
            write_json_atomically(self.args.report, report)
            print(f"report written to {self.args.report}", flush=True)
        if failure is not None:
            raise failure
        return code

    # -- steps -------------------------------------------------------------------

    def _preflight(self) -> tuple[list, str] | None:
        """The checks made before the job starts anything (a fork server, a job_runs row):
        with --skip-crawl the pairs to train are chosen now (returned); before a crawl, every
        market asked for that the database does not hold yet must be one the exchange lists
        (one request; ALL is checked by the crawl itself, before it writes)."""
        if self.args.skip_crawl:
            self.market_names = stored_markets(self.engine, self.markets,
                                               self.settings.exchange, self.retry_seconds)
            chosen = self._select_pairs()
            if not chosen[0]:
                raise BadInput(self._nothing_to_train(chosen[1]))
            return chosen
        if self.markets.every:
            return None  # every market the exchange lists: the crawl's own list is the check
        held = set(db.retry_read(self.engine, lambda conn: db.markets(
            conn, self.settings.exchange), self.retry_seconds, "reading the markets"))
        known = held >= set(self.markets.names)
        if not known:
            try:
                check_market_listed(self.settings.exchange_url, self.markets, self.only,
                                    self.settings.exchange)
            except BadInput:
                raise
            except Exception:  # noqa: BLE001 - an exchange that does not answer: the crawl
                pass  # meets it again, and the job records it as the fault it is
        return None

    def _steps(self, executor, outcomes: list[Outcome], chosen: tuple[list, str] | None
               ) -> None:
        """Crawl, score, select (self.tasks; ``chosen`` if the preflight chose them), train:
        each pair's outcome appended to ``outcomes`` as it ends (so a failure keeps those
        that ended)."""
        if not self.args.skip_crawl:
            self.crawl_summary = self._crawl()
            self.market_names = [name for name in self.crawl_summary["market"].split(",")
                                 if name]
        self._score()
        tasks, skipped = chosen or self._select_pairs()
        # A pair whose crawl failed is not trained on stale candles: it failed.
        outcomes += self._crawl_failures()
        crawl_failed = {o.symbol for o in outcomes}
        tasks = [task for task in tasks if task.symbol not in crawl_failed]
        self.tasks = tasks
        if not tasks and not outcomes:
            raise BadInput(self._nothing_to_train(skipped))
        if tasks:
            print(f"run {self.run_id}: {len(tasks)} pairs of {', '.join(self.market_names)} "
                  f"({self.options.interval} candles), "
                  f"{executor.name} executor, {self.args.workers} workers", flush=True)
            more = self.args.refits == warmstart.AFTER
            with closing(executor.run(tasks, more=more)) as running:
                for outcome in self._progress(running, len(tasks)):
                    outcomes.append(outcome)
            self._refit_after(executor, outcomes)

    def _refit_after(self, executor, outcomes: list[Outcome]) -> None:
        """``--refits after``: the pairs whose refit was due forecast from a fine-tune; now
        that every pair's forecast is written, their full fits run (no forecast rows: each
        model serves from the next hour). A refit that fails leaves the fine-tuned model, and
        the next hour finds the refit due again."""
        due = [replace(o.task, refit=warmstart.ONLY) for o in outcomes
               if o.ok and o.result.get("refit_deferred")]
        if not due:
            return
        print(f"run {self.run_id}: every forecast written; refitting {len(due)} pairs whose "
              f"refit was due", flush=True)
        with closing(executor.run(due)) as running:
            for outcome in self._progress(running, len(due), "refitting"):
                self.refits.append(outcome)

    def _crawl(self) -> dict:
        # The crawl resumes after the newest stored candle, so a crawl cut by a database
        # restart is simply run again.
        summary = db.retry(
            lambda: crawl_market(self.engine, self.settings.exchange_url,
                                 self.markets.single or self.markets,
                                 interval=self.options.interval, since_ms=self.since_ms,
                                 only=self.only, progress=not self.args.no_progress,
                                 exchange_name=self.settings.exchange,
                                 workers=self.args.crawl_workers),
            self.retry_seconds, "crawl")
        return summary.to_dict() if hasattr(summary, "to_dict") else vars(summary)

    def _crawl_failures(self) -> list[Outcome]:
        """The pairs the crawl skipped (their replies kept breaking the kline rules)."""
        failed = (self.crawl_summary or {}).get("failed") or {}
        coins = db.retry_read(
            self.engine, lambda conn: {symbol: db.coin_by_symbol(conn, symbol)
                                       for symbol in failed},
            self.retry_seconds, "reading the crawl's failed pairs")
        # A new pair whose first page failed was never registered: it has no id (0).
        self.market_of.update({symbol: coins[symbol].quoteAsset for symbol in failed
                               if coins[symbol] is not None})
        return [Outcome(PairTrainTask(int(coins[symbol].id) if coins[symbol] else 0,
                                                    symbol, self.options, self.run_id),
                        FAILED, 0.0, f"crawl failed, not trained: {reason}")
                for symbol, reason in failed.items()]

    def _select_pairs(self) -> tuple[list, str]:
        """The market's TRADING pairs with enough candles of the job's interval (narrowed by
        --only). With --skip-crawl also the pairs whose status is unknown (NULL: imported from
        files, never seen on the exchange): training the imported candles offline is what a
        user of ``coinlstm import`` then ``run --skip-crawl`` asks for, while a pair the
        exchange called DELISTED or BREAK stays out. After a crawl, a NULL pair is one the
        exchange does not list, with no new candles: it stays out too."""
        needed = self.options.required_candles()
        trainable = ("TRADING", None) if self.args.skip_crawl else ("TRADING",)
        coins, counts, self.statuses = self._market_coins(trainable)
        if self.only:  # every named pair too short: bad input, as without --only
            short_pairs({coin.symbol: counts.get(coin.id, 0) for coin in coins}, needed,
                        self.market, self.options.interval, "these training settings")
        tasks, short = [], []
        for coin in coins:
            # Pairs named with --only are attempted whatever they hold: the user asked for
            # them, so a too-short pair fails loudly in the summary instead of vanishing.
            if self.only or counts.get(coin.id, 0) >= needed:
                tasks.append(PairTrainTask(int(coin.id), coin.symbol, self.options,
                                           self.run_id, plot=self.args.plot,
                                           refit=warmstart.pair_refit(self.args.refits)))
            else:
                short.append(f"{coin.symbol} {counts.get(coin.id, 0)}")
        skipped = f"fewer than {needed} candles: {', '.join(short)}" if short else ""
        if short and tasks:  # (none to train: the one error line says it)
            print(f"skipped, {skipped}")
        return tasks, skipped

    def _market_coins(self, statuses: tuple) -> tuple[list, dict[int, int], list[str]]:
        """pairs.market_coins over every market of the job, and each chosen pair's market
        in ``market_of``."""
        found = market_coins(
            self.engine, self.market_names or [self.market], self.only,
            self.options.interval, statuses=statuses, retry_seconds=self.retry_seconds,
            exchange_name=self.settings.exchange)
        self.market_of.update({coin.symbol: coin.quoteAsset for coin in found[0]})
        return found

    def _nothing_to_train(self, skipped: str) -> str:
        """Why no pair is trained, and what to do about it."""
        message = f"no pair of market {self.market} has enough candles to train"
        if skipped:
            return f"{message} ({skipped})"
        if not self.statuses:
            return (f"{message}: the database has no pair of market {self.market}; crawl it "
                    "(coinlstm crawl) or import dumps (coinlstm import)")
        return (f"{message}: no pair of the market is trainable (statuses: "
                f"{', '.join(self.statuses)}; only TRADING pairs are trained, and with "
                "--skip-crawl also imported ones)")

    def _executor(self):
        return make_executor(self.args.executor, ExecutorConfig(
            self.settings, workers=self.args.workers, timeout=self.args.timeout,
            logs_dir=self.settings.logs_dir / self.run_id, ray_address=self.args.ray_address,
            gate=self.keeper.may_launch if self.keeper is not None else None,
            task_modules=(PairTrainTask.__module__,)))

    def _progress(self, outcomes: Iterable[Outcome], total: int, what: str = "training"
                  ) -> Iterable[Outcome]:
        with tqdm(total=total, unit="pair", disable=self.args.no_progress,
                  desc=f"{what} {self.market}") as bar:
            for outcome in outcomes:
                bar.update(1)
                bar.write(f"{outcome.symbol}: {outcome.status} in {outcome.seconds:.1f} s"
                          + (f" ({outcome.reason})" if outcome.reason else ""))
                yield outcome

    # -- records -----------------------------------------------------------------

    def _record_start(self) -> None:
        """Our ``running`` row; the other ``running`` rows of the exchange's jobs (any
        market's: they share our lock) are abandoned: we hold the lock, and JobLock refused
        to start beside a living holder, so their jobs are gone."""

        def write(conn) -> None:
            # Rows are keyed by job (self.key: "ETH", "ALL", "poloniex-ETH"); another
            # exchange's jobs hold another lock and may be alive.
            stale = [row for row in running_jobs(conn, split_job_name(self.key)[0])
                     if row.run_id != self.run_id]
            for row in stale:
                # Closed now (time_end): its job is gone, nothing will close it later.
                conn.execute(db.job_runs.update().where(db.job_runs.c.run_id == row.run_id)
                             .values(status="abandoned", time_end=int(time.time()), reason=_cut(
                                 f"its job (pid {row.pid} on {row.host}) was gone when run "
                                 f"{self.run_id} started")))
                print(f"run {row.run_id} marked abandoned: its job (pid {row.pid} on "
                      f"{row.host}) is gone", flush=True)
            if conn.execute(sa.select(db.job_runs.c.run_id).where(
                    db.job_runs.c.run_id == self.run_id)).first() is None:  # a retried commit
                conn.execute(db.job_runs.insert().values(
                    run_id=self.run_id, market=self.key, executor=self.args.executor,
                    host=socket.gethostname(), pid=os.getpid(), time_start=int(self.started),
                    status="running"))

        db.retry_transaction(self.engine, write, self.retry_seconds, "recording the run")

    def _score(self) -> None:
        """Score the forecasts whose candles the crawl brought (predict/forward_scores.py)."""
        for name in self.market_names:
            summary = score(self.engine, self.options.interval, name)
            prefix = f"{name}: " if len(self.market_names) > 1 else ""
            print(prefix + summary.line(self.options.interval), flush=True)

    def _record_end(self, status: str, outcomes: list[Outcome], reason: str | None) -> None:
        """Close the run's row; a database that stays away is said in one line (the next
        run then marks the row abandoned)."""
        ok = sum(1 for o in outcomes if o.status == "ok")
        update = (db.job_runs.update().where(db.job_runs.c.run_id == self.run_id).values(
            status=status, time_end=int(time.time()), pairs_ok=ok,
            pairs_failed=len(outcomes) - ok, reason=_cut(reason),
            failures=json.dumps({o.symbol: o.reason or o.status for o in outcomes
                                 if o.status != "ok"})))
        try:
            db.retry_transaction(self.engine, lambda conn: conn.execute(update),
                                 self.retry_seconds, "closing the run's job_runs row")
        except CoinlstmError as exc:
            print(f"run {self.run_id}: {exc}", file=sys.stderr, flush=True)

    def _track_records(self, outcomes: list[Outcome]) -> None:
        """Add each trained pair's forward track record (predict/forward_scores.py) to its result:
        the verdict of its forecaster (model, target, interval) on the forecasts scored so
        far, which also becomes the ``edge`` flag of the forecast row this run wrote. The
        shrinkage's own a > 0 test stays in the result as ``a_positive``."""
        edges = {}

        def read(conn) -> None:
            for outcome in (o for o in outcomes if o.status == "ok"):
                result = outcome.result
                verdict, record = pair_verdict(conn, outcome.coin_id, result.get("model"),
                                               result.get("target"), self.options.interval)
                result.setdefault("a_positive", result.get("edge"))
                result["verdict"] = verdict
                result["edge"] = edges[outcome.coin_id] = verdict == EDGE
                for name in ("scored", "skill", "dm_pvalue", "dm_pvalue_adjusted",
                             "coverage_80", "banded_80", "scored_live", "scored_backfill"):
                    result[f"forward_{name}"] = None if record is None else record._mapping[name]

        db.retry_read(self.engine, read, self.retry_seconds, "reading track records")
        db.retry_transaction(self.engine,
                             lambda conn: db.set_prediction_edges(conn, self.run_id, edges),
                             self.retry_seconds, "writing the verdicts")

    def _report(self, outcomes: list[Outcome], status: str, reason: str | None,
                exit_code: int) -> dict:
        try:
            self._track_records(outcomes)
        except CoinlstmError as exc:  # the summary is printed without them
            print(f"run {self.run_id}: no track records: {exc}", file=sys.stderr, flush=True)
        finished = time.time()
        pairs = [{**o.to_dict(), "market": self.market_of.get(o.symbol)}
                 for o in sorted(outcomes, key=_rank_key)]
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
            "driver_peak_rss_mb": round(peak_rss_mb(), 1),
            "crawl": self.crawl_summary,
            "pairs": pairs,
            "totals": {"ok": ok, "failed": len(outcomes) - ok, "pairs": len(outcomes)},
            "refits": [outcome.to_dict() for outcome in self.refits],
            "edges": edge_count(pairs),
            "markets": market_groups(pairs, self.market_names),
            "status": status,
            "reason": reason,
            "exit_code": exit_code,
        }


def _refit_lines(refits: list[dict]) -> list[str]:
    """The summary's lines on the refits run after the forecasts."""
    if not refits:
        return []
    ok = sum(1 for refit in refits if refit["status"] == "ok")
    lines = [f"refitted after the forecasts (their models serve from the next hour): {ok} ok"
             f", {len(refits) - ok} failed"]
    lines += [f"{refit['symbol']} refit {refit['status']}: {refit['reason']} (its fine-tuned "
              "model stays; the refit is tried again next hour)"
              for refit in refits if refit["status"] != "ok"]
    return lines


def _exit_code_of(failure: BaseException) -> int:
    if isinstance(failure, CoinlstmError):
        return failure.exit_code
    return 130 if isinstance(failure, KeyboardInterrupt) else EXIT_FAILURE


def _pairs_reason(outcomes: list[Outcome]) -> str | None:
    failed = [o.symbol for o in outcomes if o.status != "ok"]
    return f"{len(failed)} of {len(outcomes)} pairs failed: {', '.join(failed)}" if failed else None


def _cut(reason: str | None) -> str | None:
    return None if reason is None else reason[:db.JOB_REASON_LENGTH]


def _rank_key(outcome: Outcome) -> tuple:
    """Pairs with an edge first, then the other trained pairs, each by predicted change
    (largest rise first); failures last."""
    change = outcome.result.get("change_pct") if outcome.status == "ok" else None
    return (change is None, outcome.result.get("verdict") != "edge", -(change or 0.0),
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


def edge_count(pairs: list[dict]) -> dict:
    """How many of the trained pairs (report entries) show an edge: the verdicts are
    Benjamini-Hochberg across the market's pairs (predict/track_record.py), so k of N is a
    claim whose false share is at most the FDR level."""
    verdicts = [(pair.get("result") or {}).get("verdict") for pair in pairs
                if pair["status"] == "ok"]
    return {"edge": verdicts.count(EDGE), "pairs": len(verdicts), "fdr": FDR}


def edge_line(edges: dict) -> str:
    """"k of N pairs show an edge at FDR 10 %"."""
    return (f"{edges['edge']} of {edges['pairs']} pairs show an edge at FDR "
            f"{edges['fdr'] * 100:g} %")


def market_groups(pairs: list[dict], names: list[str]) -> dict[str, dict]:
    """Per market of the job (in its order): its pairs' totals and edge count, what the
    summary prints under each market's table."""
    groups = {}
    for name in dict.fromkeys([*names, *(p.get("market") for p in pairs if p.get("market"))]):
        mine = [pair for pair in pairs if pair.get("market") == name]
        ok = sum(1 for pair in mine if pair["status"] == "ok")
        groups[name] = {"totals": {"ok": ok, "failed": len(mine) - ok, "pairs": len(mine)},
                        "edges": edge_count(mine)}
    return groups


def _fit_text(result: dict) -> str:
    """warm, full, or warm+refit (a due refit run after the market's forecasts)."""
    fit = result.get("fit") or "-"
    return f"{fit}+refit" if result.get("refit_deferred") else fit


def _verdict_text(result: dict) -> str:
    """The verdict, and what it rests on where backfilled hours count in it:
    ``no evidence (live 12 h + backfill 720 h)``."""
    verdict = result.get("verdict", "-")
    if not result.get("forward_scored_backfill"):
        return verdict
    basis = verdict_basis(result.get("forward_scored_live"),
                          result["forward_scored_backfill"])
    return f"{verdict} ({basis})"


def _pair_table(pairs: list[dict], label: str | None) -> list[str]:
    """One table of pairs (the summary's, per market), then the failures and fit notes."""
    header = ("symbol", "status", "seconds", "fit", "last close", "next close", "change %",
              f"band {(label or '80').replace('_', '.')} %", "RMSE", "naive RMSE",
              "test skill", "a", "30d skill", "DM p", "adj p", "30d cov 80", "verdict")
    rows = []
    for pair in pairs:
        result = pair.get("result") or {}
        forward = (f"{result['forward_skill']:+.3f} ({result['forward_scored']})"
                   if result.get("forward_skill") is not None else "-")
        coverage = (f"{result['forward_coverage_80']:.2f} ({result['forward_banded_80']})"
                    if result.get("forward_coverage_80") is not None else "-")
        rows.append((pair["symbol"], pair["status"], _num(pair["seconds"], ".1f"),
                     _fit_text(result), _num(result.get("last_close")),
                     _num(result.get("predicted_close")),
                     _num(result.get("change_pct"), "+.3f"), _band_pct(result, label),
                     _num(result.get("rmse"), ".4g"),
                     _num(result.get("naive_rmse"), ".4g"), _num(result.get("skill"), "+.3f"),
                     _num(result.get("shrinkage"), ".2f"), forward,
                     _num(result.get("forward_dm_pvalue"), ".3f"),
                     _num(result.get("forward_dm_pvalue_adjusted"), ".3f"), coverage,
                     _verdict_text(result) if pair["status"] == "ok" else "-"))
    lines = format_table([header, *rows], left=2).split("\n")
    for pair in pairs:
        if pair["status"] != "ok":
            lines.append(f"{pair['symbol']} {pair['status']}: {pair['reason']}")
    for pair in pairs:
        result = pair.get("result") or {}
        if result.get("fit_note"):
            lines.append(f"{pair['symbol']}: {result['fit']} fit, {result['fit_reason']}")
    return lines


def format_summary(report: dict) -> str:
    """The table cron's log keeps: every figure in it comes from the pair's own run. A job
    of several markets prints one table per market, each with its edge count."""
    label = _band_label(report)
    groups = report.get("markets") or {}
    lines = []
    if len(groups) > 1:
        for name, group in groups.items():
            totals = group["totals"]
            lines.append(f"market {name}: pairs ok {totals['ok']}, failed {totals['failed']}")
            lines += _pair_table([p for p in report["pairs"] if p.get("market") == name],
                                 label)
            lines.append(edge_line(group["edges"]))
    else:
        lines += _pair_table(report["pairs"], label)
        if report.get("edges"):
            lines.append(edge_line(report["edges"]))
    lines += _refit_lines(report.get("refits") or [])
    if report.get("status") not in (None, "ok", "partial"):
        lines.append(f"job {report['status']}: {report.get('reason')}")
    totals = report["totals"]
    lines.append(f"pairs ok {totals['ok']}, failed {totals['failed']}; wall time "
                 f"{report['wall_seconds']:.1f} s; run {report['run_id']}")
    lines.append("fit = warm (the pair's saved model fine-tuned on the newest candles) or "
                 "full (fitted from scratch: whenever the settings changed or the saved model "
                 "is missing or unreadable, and in the pair's own hour of each "
                 "--refit-every-hour cycle of data time); warm+refit = that hour under "
                 "--refits after: the forecast is the fine-tune's, the full fit runs after "
                 "every pair's forecast is written and serves from the next hour "
                 "(docs/training.md#warm-start).")
    lines.append("test skill = 1 - RMSE/naive RMSE on this run's test slice: > 0 beats the "
                 "naive forecast (next close = last close), < 0 is worse than it.")
    lines.append("band L % = the next close's L % prediction band, lower/upper in % of the "
                 "last close (split conformal on the calibration slice, scaled by a volatility "
                 "forecast; docs/intervals.md).")
    lines.append("a = shrinkage toward the last close fitted on the calibration slice (0: the "
                 "forecast is the last close); 30d skill (count) and DM p = the forward track "
                 "record of the forecasts published in the last 30 days against the closes that "
                 "came; adj p = DM p Benjamini-Hochberg adjusted across the market's pairs; "
                 "verdict: edge (>= 168 scored, skill > 0, adj p <= 0.10: a false-discovery "
                 "rate of 10 %), worse, or no evidence (docs/track-record.md), with the live "
                 "and backfilled hours it rests on where backfilled ones count (coinlstm "
                 "backfill; a live forecast counts over a backfilled one); 30d cov 80 "
                 "(count) = the share of the last 30 days' published 80 % bands whose close "
                 "fell inside (calibrated: about 0.80). "
                 "Pairs whose verdict is edge are listed first.")
    return "\n".join(lines)

