"""One pair's backfill, in one process: the hourly job's runs of the last N days replayed
hour by hour over the stored candles, each hour's forecast stored as the live job would have.

The same code path as the live job (coinlstm/app/jobs/pair_job.py ``PairRun``): every hour plans
warm or full from the saved model and the newest candle's data time (train/warmstart.py: a
full fit at the start, then in the pair's own slot of each ``--refit-every``-hour cycle, warm
fine-tunes between), reads only the candles up to that hour, fits, calibrates, bands and
stores. What differs is where it reads and writes:

- the pair's candles are read from the database once, and every hour cuts what the live job
  would have read then out of them (train/candles.py ``HeldCandles``: the same rows); the
  previous hour's model metadata and fine-tuned network stay in memory for the next
  (pair_job.py ``Chain``: the values its file holds), which the live job reads from the file;
- its model files live in a scratch folder of its own (``ARTIFACTS/backfill/INTERVAL``),
  never the live job's: the chain of saved models is the backfill's, and the live job's
  saved model is never replaced. They are written without fsyncs (a killed process loses
  none of them; after an operating system's crash the chain may start again, see below). A
  pair the live job has no model of gets the backfill's last one at the end (temp name,
  then rename), for the live job's next warm start;
- its rows are forecasts only, marked ``source = 'backfill'``, stamped with the hour's close,
  with a run id made of the series and the hour (:func:`backfill_run_id`): one backfilled
  forecast per series and candle, so a rerun adds nothing. On SQLite its commits are not
  synced to disk one by one (coinlstm/db/engine.py ``durable``): like its files, a killed
  process loses none of them, an operating system's crash may lose the last (the rerun
  replays those hours).

Resuming: the scratch model is the chain's state. A killed run resumes after the newest hour
its scratch model saw (an hour whose row was committed but whose files were not renamed is
replayed, its row found and kept), so it ends with the rows of an uninterrupted run. When the
scratch model does not continue the hours still missing (none, unreadable, other settings,
another range), the chain starts again with a full fit at the first missing hour.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from coinlstm import db
from coinlstm.app.jobs.pair_job import Chain, PairRun, ReplayedHour, prepare_pair
from coinlstm.app.jobs.reporting import write_json_atomically
from coinlstm.app.runtime.lifeline import exit_with_parent
from coinlstm.core import config
from coinlstm.core.config import Settings
from coinlstm.core.errors import BadInput, CoinlstmError, one_line
from coinlstm.core.klines import INTERVAL_MS, ms_to_utc
from predict.artifacts import StagedFiles, artifact_paths, saved_fit
from train import config as train_config
from train import warmstart
from train.candles import HeldCandles
from train.config import TrainConfig
from train.warmstart import settings_change

DAY_MS = 86_400_000
#: Seconds between two writes of a pair's progress file.
PROGRESS_SECONDS = 0.5


def scratch_settings(settings: Settings, interval: str) -> Settings:
    """Settings whose artifact folders are the backfill's scratch ones."""
    return settings.with_(artifacts=settings.artifacts / "backfill" / interval)


def backfill_run_id(options: TrainConfig, as_of: int) -> str:
    """The run id of a backfilled hour: the same for the same series and hour in every run
    (historical_price_predictions is unique per run id and coin)."""
    series = hashlib.sha1(f"{options.model}|{options.target}".encode()).hexdigest()[:8]
    return f"backfill-{options.interval}-{series}-{as_of}"


def replayed_hours(open_times: list[int], days: int, needed: int, symbol: str) -> list[int]:
    """The open times of the stored candles of the last ``days`` days (the newest candle's
    data time): the hours to replay. BadInput naming the pair when the first of them has
    fewer than ``needed`` candles up to it (a full fit's history)."""
    if not open_times:
        raise BadInput(f"{symbol}: no candles to backfill")
    since = open_times[-1] - days * DAY_MS
    first = next(index for index, value in enumerate(open_times) if value > since)
    if first + 1 < needed:
        held = (open_times[-1] - open_times[0]) / DAY_MS
        raise BadInput(f"{symbol}: --days {days} needs {needed} candles before the first "
                       f"backfilled hour; the pair holds {len(open_times)} candles "
                       f"({held:.1f} days)")
    return open_times[first:]


@dataclass
class PairBackfill:
    """One pair's backfill (what its process is given)."""

    settings: Settings
    coin_id: int
    symbol: str
    options: TrainConfig
    days: int
    progress_path: Path | None = None
    #: The market job's rule for due refits (``--refits``, train/warmstart.py): with AFTER a
    #: due hour forecasts from a fine-tune and then refits, as the live job does.
    refits: str = warmstart.DEFAULT_JOB_REFITS
    #: Seconds per replayed hour, by fit ("full", "warm"; a refit after the forecast: "refit").
    seconds: dict[str, list[float]] = field(default_factory=dict)
    _progress_written: float = field(default=-math.inf, repr=False)

    def run(self) -> dict:
        started = time.perf_counter()
        _, backend_name = prepare_pair(self.settings, self.symbol, self.options)
        scratch = scratch_settings(self.settings, self.options.interval)
        engine = db.open_database(self.settings.db_url, create=not self.settings.schema_ready,
                                  retry_seconds=self.settings.db_retry_seconds or 0.0,
                                  durable=False)
        try:
            held, done = self._candles(engine)
            hours = replayed_hours(held.open_times, self.days, self.options.required_candles(),
                                   self.symbol)
            start = self._resume_index(scratch, hours, done)
            stored, failed = self._replay(engine, scratch, backend_name, held, hours, start)
            handed_over = self._hand_over(scratch)
        finally:
            engine.dispose()
        return {"symbol": self.symbol, "id_coin": self.coin_id, "status": "ok",
                "exit_code": 0, "error": None, "hours": len(hours),
                "replayed": len(hours) - start, "stored": stored,
                "failed_hours": len(failed), "first_failure": failed[0] if failed else None,
                "model_handed_over": handed_over, "full_seconds": _median(self.seconds, "full"),
                "warm_seconds": _median(self.seconds, "warm"),
                "refit_seconds": _median(self.seconds, "refit"),
                "seconds": round(time.perf_counter() - started, 3)}

    def _candles(self, engine) -> tuple[HeldCandles, set[int]]:
        """The pair's candles, read once for every replayed hour (each hour cuts what it
        reads out of them: train/candles.py ``HeldCandles``), and the hours a backfilled
        forecast of this series holds."""
        options, retry_seconds = self.options, self.settings.db_retry_seconds or 0.0
        held = db.retry(lambda: HeldCandles.read(engine, self.coin_id, self.symbol,
                                                 options.with_pairs, options.interval),
                        retry_seconds, f"{self.symbol}: reading candles")
        done_next = db.retry_read(
            engine, lambda conn: db.backfilled_open_times(
                conn, self.coin_id, options.model, options.target, options.interval),
            retry_seconds, f"{self.symbol}: reading its backfilled forecasts")
        step = INTERVAL_MS[options.interval]
        return held, {value - step for value in done_next}

    def _resume_index(self, scratch: Settings, hours: list[int], done: set[int]) -> int:
        """Where the chain goes on (see the module's docstring)."""
        missing = [index for index, hour in enumerate(hours) if hour not in done]
        if not missing:
            return len(hours)
        saved, _ = saved_fit(scratch, self.symbol)
        last = None if saved is None else saved.meta.get("openTime_last")
        same = saved is not None and settings_change(
            saved.meta.get("options") or {},
            self.options.stored(self.options.backend_name(self.settings))) is None
        if same and last in hours and hours.index(last) < missing[0]:
            return hours.index(last) + 1
        paths = artifact_paths(scratch, self.symbol)
        paths.weights.unlink(missing_ok=True)  # a new chain: a full fit at its first hour
        return missing[0]

    def _replay(self, engine, scratch: Settings, backend_name: str, held: HeldCandles,
                hours: list[int], start: int) -> tuple[int, list[str]]:
        """Replay ``hours[start:]``: (rows stored, one line per failed hour). An hour whose
        data the live job would have refused (BadInput) is skipped, as that job's run would
        have failed; any other fault ends the pair."""
        chain = Chain()  # the previous hour's model in memory; its file is written too

        def hour_run(index: int) -> PairRun:
            as_of, began = hours[index], time.perf_counter()
            step = INTERVAL_MS[self.options.interval]
            return PairRun(scratch, engine, self.coin_id, self.symbol, self.options,
                           backfill_run_id(self.options, as_of), backend_name,
                           artifact_paths(scratch, self.symbol), began, held,
                           ReplayedHour(as_of=as_of, time_create=(as_of + step) // 1000),
                           chain, refit=warmstart.pair_refit(self.refits))

        stored, failed = 0, []
        self._progress(start, len(hours))
        if start > 0:
            self._finish_refit(hour_run(start - 1))
        for index in range(start, len(hours)):
            run = hour_run(index)
            try:
                result = run.run()
                seconds = time.perf_counter() - run.started
                if result.refit_deferred:  # the live job's refit after the market's forecasts
                    self._refit_after(run)
            except BadInput as exc:
                failed.append(f"{ms_to_utc(hours[index])}: {one_line(exc)}")
                chain.forget()
            else:
                stored += int(result.rows_written)
                self.seconds.setdefault(result.fit, []).append(seconds)
            self._progress(index + 1, len(hours))
        return stored, failed

    def _finish_refit(self, run: PairRun) -> None:
        """A resumed chain whose last hour's refit was deferred and not run (the process was
        killed between the two) runs it now, as the uninterrupted chain did."""
        try:
            if run.plan().refit_deferred:
                self._refit_after(run)
        except BadInput:
            pass  # the hour's data fails the refit too: its next hour plans from the file

    def _refit_after(self, run: PairRun) -> None:
        """The hour's deferred refit: the full fit the live job runs once the market's
        forecasts are written (its model files only; the chain's next hour continues it)."""
        began = time.perf_counter()
        replace(run, refit=warmstart.ONLY, started=began).run()
        self.seconds.setdefault("refit", []).append(time.perf_counter() - began)

    def _progress(self, done: int, total: int) -> None:
        """The progress file the driver's bars read: at the start, at the end, and at most
        every :data:`PROGRESS_SECONDS` between (the bars look twice a second; a warm hour
        takes a fraction of that)."""
        now = time.monotonic()
        if self.progress_path is None or (
                0 < done < total and now - self._progress_written < PROGRESS_SECONDS):
            return
        write_json_atomically(self.progress_path, {"done": done, "total": total})
        self._progress_written = now

    def _hand_over(self, scratch: Settings) -> bool:
        """Give a pair the live job has no model of the backfill's last one."""
        live, mine = (artifact_paths(self.settings, self.symbol),
                      artifact_paths(scratch, self.symbol))
        if live.weights.exists() or not mine.weights.exists():
            return False
        staged = StagedFiles()
        try:
            for source, final in ((mine.architecture, live.architecture),
                                  (mine.scaler, live.scaler), (mine.weights, live.weights)):
                staged.stage(final, lambda path, source=source: path.write_bytes(
                    source.read_bytes()))
            staged.commit()
        except BaseException:
            staged.discard()
            raise
        return True


def _median(seconds: dict[str, list[float]], fit: str) -> float | None:
    values = seconds.get(fit)
    return round(statistics.median(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    """A pair's backfill process (the executor's child): writes its result JSON."""
    exit_with_parent()
    parser = argparse.ArgumentParser(prog="python -m coinlstm.app.jobs.backfill_pair")
    parser.add_argument("--coin-id", type=int, required=True)
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--progress", type=Path, default=None)
    parser.add_argument("--refits", choices=warmstart.JOB_REFITS,
                        default=warmstart.DEFAULT_JOB_REFITS)
    parser.add_argument("--result-json", type=Path, required=True)
    train_config.add_arguments(parser)
    args = parser.parse_args(argv)
    options = train_config.from_args(args)
    backfill = PairBackfill(config.load(), args.coin_id, args.symbol, options, args.days,
                            args.progress, refits=args.refits)
    result = run_safely(backfill)
    write_json_atomically(args.result_json, result)
    if result["status"] != "ok":
        print(f"{args.symbol}: error: {result['error']}", file=sys.stderr, flush=True)
    return int(result["exit_code"])


def run_safely(backfill: PairBackfill) -> dict:
    """The pair's result: its figures, or its one-line failure (coinlstm's own errors)."""
    started = time.perf_counter()
    try:
        return backfill.run()
    except CoinlstmError as exc:
        return {"symbol": backfill.symbol, "id_coin": backfill.coin_id, "status": "failed",
                "exit_code": exc.exit_code, "error": one_line(exc),
                "seconds": round(time.perf_counter() - started, 3)}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))


__all__ = ["PairBackfill", "backfill_run_id", "main", "replayed_hours", "run_safely",
           "scratch_settings"]
