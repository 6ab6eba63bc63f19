"""One pair's job: load candles -> fit -> predict -> write rows and artifacts, all or nothing.

Order, chosen so that a failure at any step writes nothing and replaces nothing:
check the flags and the symbol (before any file is touched) -> decide warm or full
(train/warmstart.py: the saved model's metadata, the newest candle's data time) -> read the
candles (a warm run: only the newest few it needs) -> build
the dataset (gaps, NaN, too few candles: BadInput) -> train -> predict the test slice and the
next candle -> stage the artifacts under temporary names -> one database transaction with both
rows -> rename the artifacts into place (the model .h5 last). Any failure before the commit
deletes the temporaries; the database rolls back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coinlstm import db
from coinlstm.app.jobs.pair_result import TrainResult, failure_dict, train_result
from coinlstm.core.config import Settings
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import exchange
from predict import plots
from predict.artifacts import artifact_paths, model_meta, saved_fit
from predict.rows import RunInfo, prediction_row, train_row
from predict.store import store_run
from train import backend, forecasters, warmstart
from train.candles import HeldCandles, StoredCandles
from train.config import TrainConfig
from train.dataset import MIN_TRAIN_SAMPLES, build_dataset
from train.finetune import WarmStartFailed
from train.metrics import slice_metrics
from train.prediction_bands import first_steps
from train.steps.network import CompiledNetwork
from train.warmstart import FitPlan, Saved

if TYPE_CHECKING:
    import sqlalchemy as sa

    from predict.artifacts import ArtifactPaths


#: The per-pair contract: the typed training configuration, owned by train/ (train/config.py).
TrainOptions = TrainConfig


def _dataset(open_times, values, with_series, symbol: str, options: TrainConfig,
             plan: FitPlan):
    try:
        return build_dataset(open_times, values, options.window, options.test_size,
                             options.val_size, options.interval_ms, options.target,
                             horizon=options.horizon, with_series=with_series,
                             calibration_size=options.calibration_size,
                             **plan.dataset_arguments(options))
    except BadInput as exc:
        if plan.warm:  # e.g. gaps in the few candles read: a full fit reads them all
            raise WarmStartFailed(f"the newest candles do not hold a warm run's slices "
                                  f"({exc})") from None
        raise BadInput(f"{symbol}: {exc}") from None


def train_pair(settings: Settings, coin_id: int, symbol: str, options: TrainConfig,
               run_id: str | None = None, plot: str = plots.DEFAULT_PLOT,
               refit: str = warmstart.INLINE) -> TrainResult:
    """Train ``symbol``'s model, forecast its next close, store the rows and the artifacts.

    The fit is warm (the saved model fine-tuned) or full (from scratch), as
    train/warmstart.py decides; a warm start that fails on the way (weights that do not load,
    candles that do not hold its slices) falls back to a full fit, which says why.
    Raises CoinlstmError subclasses (BadInput for the user's input or data); on any failure
    no row is written and no artifact replaced. ``plot``: when the pair's PNG is redrawn
    (predict/plots.py ``due``). ``refit``: what a due refit does (train/warmstart.py
    ``REFIT_RUNS``): this run (inline), after it (defer: this run fine-tunes), or this run is
    the deferred refit itself (only: the model saved, no row written).
    """
    started = time.perf_counter()
    paths, backend_name = prepare_pair(settings, symbol, options)
    # A pair started while the database is down (or restarting) waits for it, for the
    # budget its market job passed down (a run by hand: only if given one). A driver (the
    # market job) ensured the schema once for all its pairs; a hand-run train_one.py creates
    # or upgrades it here.
    retry_seconds = settings.db_retry_seconds or 0.0
    engine = db.open_database(settings.db_url, create=not settings.schema_ready,
                              retry_seconds=retry_seconds)
    try:
        candles = StoredCandles(engine, coin_id, symbol, options.with_pairs, options.interval,
                                retry_seconds)
        return PairRun(settings, engine, coin_id, symbol, options, run_id, backend_name, paths,
                       started, candles, plot=plot, refit=refit).run()
    finally:
        engine.dispose()


def prepare_pair(settings: Settings, symbol: str, options: TrainConfig
                 ) -> tuple[ArtifactPaths, str]:
    """The checks a pair's run makes before it touches anything (the symbol, the interval,
    the options: BadInput), then its artifact paths and its prepared backend's name."""
    facts = exchange(settings.exchange)
    facts.check_symbol(symbol)  # another exchange's symbol: BadInput
    facts.check_interval(options.interval)  # the rule and words of crawl and run
    options.check(symbol)
    backend_name = options.backend_name(settings)
    backend.prepare(backend_name, settings.cache_dir)
    return artifact_paths(settings, symbol), backend_name


@dataclass(frozen=True)
class ReplayedHour:
    """An hour the backfill replays: the run the hourly job made when the candle opened at
    ``as_of`` was the newest, reading nothing newer. Its forecast row is marked backfilled,
    stamped with the hour's close (``time_create``); it writes no training row and no plot
    (those are the live job's record of its own runs)."""

    as_of: int
    time_create: int


@dataclass
class Chain:
    """The backfill's previous hour, kept in memory for the next: what its saved model file
    holds (the metadata and scaler the warm-start decision reads; after a warm hour, the
    fine-tuned network on compiled steps), so the next hour does not read them back. The
    same values as the file's: the metadata and scaler as their JSON reads back, the
    network's state the arrays the file was written from. After a full fit (a Keras model)
    the next hour loads the network from the file, as the live job does."""

    saved: Saved | None = None
    network: CompiledNetwork | None = None

    def remember(self, meta: dict, scaler: dict, model) -> None:
        self.saved = Saved(meta=json.loads(json.dumps(meta, sort_keys=True)),
                           scaler=json.loads(json.dumps(scaler)))
        self.network = model if isinstance(model, CompiledNetwork) else None

    def forget(self) -> None:
        """The next hour reads the saved file (an hour failed: what it held is unknown)."""
        self.saved, self.network = None, None


@dataclass
class PairRun:
    """One pair's run: what every step needs, so the warm and the full path share them (and
    the hourly job's runs and the backfill's replayed hours: ``replay``)."""

    settings: Settings
    engine: sa.Engine
    coin_id: int
    symbol: str
    options: TrainConfig
    run_id: str | None
    backend_name: str
    paths: ArtifactPaths
    started: float
    #: Where the run reads its candles: the database (the live job) or, for the backfill's
    #: hours, the pair's candles read once (the same rows).
    candles: StoredCandles | HeldCandles
    replay: ReplayedHour | None = None
    #: The previous replayed hour's model in memory (the backfill's hours); None: read the
    #: saved file, as the live job does.
    chain: Chain | None = None
    #: When the pair's PNG is redrawn (predict/plots.py); a replayed hour draws none.
    plot: str = plots.DEFAULT_PLOT
    #: What a due refit does (train/warmstart.py ``REFIT_RUNS``).
    refit: str = warmstart.INLINE

    def run(self) -> TrainResult:
        """Plan, fit and store; a failed warm start falls back to a full fit (which writes
        the forecast: the deferred refit is then done)."""
        plan = self.plan()
        try:
            return self.fit_and_store(plan)
        except WarmStartFailed as exc:
            return self.fit_and_store(warmstart.full(f"warm start failed: {exc}", note=True))

    @property
    def until(self) -> int | None:
        """The newest candle this run may read (None: the newest stored)."""
        return None if self.replay is None else self.replay.as_of

    @property
    def retry_seconds(self) -> float:
        return self.settings.db_retry_seconds or 0.0

    @property
    def stored_options(self) -> dict:
        """The run's options and backend as stored (historical_train.settings, the model's
        metadata), before the fit says whether it was warm or full."""
        return self.options.stored(self.backend_name)

    def plan(self) -> FitPlan:
        """Warm or full (train/warmstart.py), from the saved model and the newest candle's
        data time; the pair's refit falls in its own hour of the cycle, its coin id's
        (warmstart.refit_due: a market's pairs no longer all refit in the same hour)."""
        if self.refit == warmstart.ONLY:
            return warmstart.refit_after()
        if self.chain is not None and self.chain.saved is not None:
            saved, problem = self.chain.saved, None
        else:
            saved, problem = saved_fit(self.settings, self.symbol)
        newest = self.candles.newest_open_time(self.until)
        return warmstart.decide(saved, problem, self.stored_options, self.options.refit_every,
                                newest, slot=self.coin_id,
                                defer_refit=self.refit == warmstart.DEFER)

    def fit_and_store(self, plan: FitPlan) -> TrainResult:
        options = self.options
        open_times, values, with_series = self.candles.load(plan.history(options), self.until)
        dataset = _dataset(open_times, values, with_series, self.symbol, options, plan)
        del open_times, values, with_series
        return self._train_and_store(dataset, plan)

    def _train_and_store(self, dataset, plan: FitPlan) -> TrainResult:
        """Fit (or fine-tune), score against naive, store files and rows together, and say
        what happened. A deferred refit (``refit`` ONLY) stores the files alone: its model
        serves the next hour, this hour's forecast is the fine-tune's."""
        options, symbol, backend_name = self.options, self.symbol, self.backend_name
        rows = self.refit != warmstart.ONLY
        keras = backend.load_keras(backend_name)
        backend.seed(options.seed, backend_name)
        start = plan.start(self.paths.weights)
        if start is not None and self.chain is not None and self.chain.network is not None:
            start = self.chain.network
        forecast = forecasters.get(options.model).forecast(dataset, options, start=start)
        test = dataset.split.test
        metrics = slice_metrics(dataset.actual_closes(test), forecast.test_predictions,
                                dataset.last_closes(test))
        stored_json = {**self.stored_options, "fit": plan.fit}
        replay = self.replay
        run = RunInfo(coin_id=self.coin_id, run_id=self.run_id, model=options.model,
                      time_create=int(time.time()) if replay is None else replay.time_create,
                      backend=backend_name, settings=stored_json, interval=options.interval,
                      source=db.SOURCE_LIVE if replay is None else db.SOURCE_BACKFILL)
        meta = model_meta(symbol, self.coin_id, self.run_id, backend_name, keras.__version__,
                          stored_json, dataset, forecast, plan.full_fit_open_time)
        draw = replay is None and plots.due(self.plot, not plan.warm, self.paths.plot)
        written = store_run(
            self.engine, self.paths,
            _plot_writer(symbol, dataset, forecast, metrics) if draw else None,
            forecast.model, dataset.formulation.to_dict(), meta,
            None if replay or not rows else train_row(run, dataset, forecast, metrics),
            prediction_row(run, dataset, forecast, metrics) if rows else None,
            retry_seconds=self.retry_seconds,
            durable=replay is None)  # a replayed hour's files: the backfill's scratch chain
        if self.chain is not None:
            self.chain.remember(meta, dataset.formulation.to_dict(), forecast.model)
        return train_result(symbol, self.coin_id, options, backend_name, dataset, forecast,
                            metrics, time.perf_counter() - self.started, written, plan)


def _plot_writer(symbol, dataset, forecast, metrics):
    """The PNG of the test slice: each sample's first step (the rows hold all K)."""
    test = dataset.split.test
    outcome = forecast.outcome
    return lambda path: plots.draw(
        path, symbol, dataset.open_times[test].tolist(), dataset.actual_closes(test)[:, 0],
        forecast.test_predictions[:, 0], dataset.last_closes(test), outcome.loss,
        outcome.val_loss, metrics.verdict(), bands=first_steps(forecast.bands.test))


__all__ = ["MIN_TRAIN_SAMPLES", "PairRun", "ReplayedHour", "TrainConfig", "TrainOptions",
           "TrainResult", "failure_dict", "prepare_pair", "train_pair"]
