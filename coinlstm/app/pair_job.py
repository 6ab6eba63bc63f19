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

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from coinlstm import db
from coinlstm.app import testhooks
from coinlstm.app.pair_result import TrainResult, failure_dict, train_result
from coinlstm.core.config import DEFAULT_INTERVAL, Settings
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import exchange
from coinlstm.core.klines import INTERVAL_MS, check_interval
from train import formulations, warmstart
from train.dataset import MIN_TRAIN_SAMPLES, MIN_VAL_SAMPLES, required_candles
from train.intervals import DEFAULT_CALIBRATION_SIZE, DEFAULT_LEVELS, parse_levels
from train.models import DEFAULT_MODEL, DEFAULT_UNITS, MODEL_NAMES
from train.warmstart import (
    DEFAULT_REFIT_EVERY,
    DEFAULT_WARM_EPOCHS,
    DEFAULT_WARM_SAMPLES,
    FitPlan,
)
from train.withpairs import check_with

if TYPE_CHECKING:
    import sqlalchemy as sa

    from predict.artifacts import ArtifactPaths


@dataclass(frozen=True)
class TrainOptions:
    """Every training flag: the reference model's settings (SPEC.md) on the return target.

    ``target="close"`` gives the reference model of SPEC.md exactly.
    """

    model: str = DEFAULT_MODEL
    target: str = formulations.DEFAULT
    units: int = DEFAULT_UNITS
    epochs: int = 50
    batch_size: int = 128
    patience: int = 30
    window: int = 1
    test_size: int = 48
    val_size: int = 480
    seed: int = 42
    #: None: the settings' backend (KERAS_BACKEND, default jax).
    backend: str | None = None
    #: Train on only the newest N candles (None: all of them).
    history: int | None = None
    #: Regularisation (train/models.py): 0 adds no Dropout layer and no kernel regulariser.
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    #: Closes forecast per sample: the next K (train/dataset.py, "Horizon").
    horizon: int = 1
    #: Other pairs whose candles are extra inputs (train/withpairs.py); None: none.
    with_pairs: tuple[str, ...] | None = None
    #: Candle interval: which candle table is read, and the step of the gap rule and of
    #: openTime_next.
    interval: str = DEFAULT_INTERVAL
    #: Levels of the prediction bands (train/intervals.py).
    levels: tuple[float, ...] = DEFAULT_LEVELS
    #: Samples before the test slice that only calibration reads (the shrinkage and the
    #: bands; train/dataset.py, "Split"); 0: calibrate on the validation slice.
    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    #: Warm start (train/warmstart.py): a full refit at the latest after this many hours of
    #: data time since the last one (0: every run is full, --cold); between them a run
    #: fine-tunes the saved model for at most ``warm_epochs`` epochs on the newest
    #: ``warm_samples`` training samples.
    refit_every: int = DEFAULT_REFIT_EVERY
    warm_epochs: int = DEFAULT_WARM_EPOCHS
    warm_samples: int = DEFAULT_WARM_SAMPLES

    @property
    def interval_ms(self) -> int:
        return INTERVAL_MS[self.interval]

    def check(self, symbol: str | None = None) -> None:
        """BadInput for values no model can be trained with (``symbol``: the pair trained,
        which may not be one of its own --with pairs)."""
        check_interval(self.interval)
        if self.model not in MODEL_NAMES:
            raise BadInput(f"unknown model {self.model!r}; choose one of "
                           f"{', '.join(MODEL_NAMES)}")
        formulations.get(self.target).check(self.window, self.horizon)
        for name in ("units", "epochs", "batch_size", "window", "test_size", "val_size",
                     "horizon", "warm_epochs"):
            if getattr(self, name) < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1, "
                               f"got {getattr(self, name)}")
        if self.patience < 0:
            raise BadInput(f"--patience must be 0 or more, got {self.patience}")
        if self.refit_every < 0:
            raise BadInput(f"--refit-every must be 0 (always a full fit) or more hours, got "
                           f"{self.refit_every}")
        if self.warm_samples < MIN_TRAIN_SAMPLES:
            raise BadInput(f"--warm-samples must be at least {MIN_TRAIN_SAMPLES}, got "
                           f"{self.warm_samples}")
        if self.calibration_size < 0:
            raise BadInput(f"--calibration-size must be 0 or more, got "
                           f"{self.calibration_size}")
        parse_levels(self.levels)
        # `not 0 <= x` also refuses NaN, which every comparison fails.
        if not 0 <= self.dropout < 1:
            raise BadInput(f"--dropout must be at least 0 and below 1, got {self.dropout}")
        for name in ("l1", "l2"):
            value = getattr(self, name)
            if not 0 <= value < float("inf"):
                raise BadInput(f"--{name} must be a finite number, 0 or more, got {value}")
        if self.val_size < MIN_VAL_SAMPLES:
            raise BadInput(f"--val-size must be at least {MIN_VAL_SAMPLES}, got {self.val_size}")
        check_with(self.with_pairs, symbol)
        if self.history is not None and self.history < self.required_candles():
            raise BadInput(f"--history {self.history} is too short: these settings need at "
                           f"least {self.required_candles()} candles")

    def required_candles(self) -> int:
        return required_candles(self.window, self.test_size, self.target, self.horizon)

    def backend_name(self, settings: Settings) -> str:
        """The Keras backend these options train on: --backend, else the settings' one."""
        return self.backend or settings.backend

    def to_dict(self) -> dict:
        return asdict(self)


def _dataset(open_times, values, with_series, symbol: str, options: TrainOptions,
             plan: FitPlan):
    from train.dataset import build_dataset
    from train.finetune import WarmStartFailed

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


def train_pair(settings: Settings, coin_id: int, symbol: str, options: TrainOptions,
               run_id: str | None = None) -> TrainResult:
    """Train ``symbol``'s model, forecast its next close, store the rows and the artifacts.

    The fit is warm (the saved model fine-tuned) or full (from scratch), as
    train/warmstart.py decides; a warm start that fails on the way (weights that do not load,
    candles that do not hold its slices) falls back to a full fit, which says why.
    Raises CoinlstmError subclasses (BadInput for the user's input or data); on any failure
    no row is written and no artifact replaced.
    """
    started = time.perf_counter()
    facts = exchange(settings.exchange)
    facts.check_symbol(symbol)  # another exchange's symbol: BadInput
    facts.check_interval(options.interval)  # the rule and words of crawl and run
    options.check(symbol)
    from predict.artifacts import artifact_paths
    from train.finetune import WarmStartFailed

    paths = artifact_paths(settings, symbol)
    backend_name = options.backend_name(settings)
    from train import backend

    backend.prepare(backend_name, settings.cache_dir)
    # A pair started while the database is down (or restarting) waits for it, for the
    # budget its market job passed down (a run by hand: only if given one). A driver (the
    # market job) ensured the schema once for all its pairs; a hand-run train_one.py creates
    # or upgrades it here.
    retry_seconds = settings.db_retry_seconds or 0.0
    engine = db.open_database(settings.db_url, create=not settings.schema_ready,
                              retry_seconds=retry_seconds)
    try:
        run = _PairRun(settings, engine, coin_id, symbol, options, run_id, backend_name, paths,
                       started)
        plan = run.plan()
        try:
            return run.fit_and_store(plan)
        except WarmStartFailed as exc:
            return run.fit_and_store(warmstart.full(f"warm start failed: {exc}", note=True))
    finally:
        engine.dispose()


@dataclass
class _PairRun:
    """One pair's run: what every step needs, so the warm and the full path share them."""

    settings: Settings
    engine: sa.Engine
    coin_id: int
    symbol: str
    options: TrainOptions
    run_id: str | None
    backend_name: str
    paths: ArtifactPaths
    started: float

    @property
    def retry_seconds(self) -> float:
        return self.settings.db_retry_seconds or 0.0

    @property
    def stored_settings(self) -> dict:
        """The run's options and backend as stored (historical_train.settings, the model's
        metadata), before the fit says whether it was warm or full."""
        return {**self.options.to_dict(), "backend": self.backend_name}

    def plan(self) -> FitPlan:
        """Warm or full (train/warmstart.py), from the saved model and the newest candle's
        data time."""
        from predict.artifacts import saved_fit

        saved, problem = saved_fit(self.settings, self.symbol)
        newest = db.retry(lambda: _newest_open_time(self.engine, self.coin_id,
                                                    self.options.interval),
                          self.retry_seconds, f"{self.symbol}: reading the newest candle")
        return warmstart.decide(saved, problem, self.stored_settings, self.options.refit_every,
                                newest)

    def fit_and_store(self, plan: FitPlan) -> TrainResult:
        from train.candles import load_candles

        options = self.options
        open_times, values, with_series = db.retry(
            lambda: load_candles(self.engine, self.coin_id, self.symbol,
                                 plan.history(options), options.with_pairs, options.interval),
            self.retry_seconds, f"{self.symbol}: reading candles")
        testhooks.stall_if_asked(self.symbol)
        testhooks.crash_if_asked(self.symbol)
        dataset = _dataset(open_times, values, with_series, self.symbol, options, plan)
        del open_times, values, with_series
        return self._train_and_store(dataset, plan)

    def _train_and_store(self, dataset, plan: FitPlan) -> TrainResult:
        """Fit (or fine-tune), score against naive, store files and rows together, and say
        what happened."""
        from predict.artifacts import model_meta
        from predict.rows import RunInfo, prediction_row, train_row
        from predict.store import store_run
        from train import backend, forecasters
        from train.metrics import evaluate

        options, symbol, backend_name = self.options, self.symbol, self.backend_name
        keras = backend.load_keras(backend_name)
        backend.seed(options.seed, backend_name)
        forecast = forecasters.get(options.model).forecast(dataset, options,
                                                           start=plan.start(self.paths.weights))
        test = dataset.split.test
        metrics = evaluate(dataset.actual_closes(test), forecast.test_predictions,
                           dataset.last_closes(test))
        settings_json = {**self.stored_settings, "fit": plan.fit}
        run = RunInfo(coin_id=self.coin_id, time_create=int(time.time()), run_id=self.run_id,
                      model=options.model, backend=backend_name, settings=settings_json,
                      interval=options.interval)
        written = store_run(
            self.engine, self.paths, _plot_writer(symbol, dataset, forecast, metrics),
            forecast.model, dataset.formulation.to_dict(),
            model_meta(symbol, self.coin_id, self.run_id, backend_name, keras.__version__,
                       settings_json, dataset, forecast, plan.full_fit_open_time),
            train_row(run, dataset, forecast, metrics),
            prediction_row(run, dataset, forecast, metrics),
            before_last_rename=testhooks.pause_before_last_rename,
            retry_seconds=self.retry_seconds)
        return train_result(symbol, self.coin_id, options, backend_name, dataset, forecast,
                            metrics, time.perf_counter() - self.started, written, plan)


def _newest_open_time(engine, coin_id: int, interval: str) -> int | None:
    with engine.connect() as conn:
        return db.newest_open_time(conn, coin_id, interval=interval)


def _plot_writer(symbol, dataset, forecast, metrics):
    """The PNG of the test slice: each sample's first step (the rows hold all K)."""
    from predict import plots
    from train.intervals import first_steps

    test = dataset.split.test
    outcome = forecast.outcome
    return lambda path: plots.draw(
        path, symbol, dataset.open_times[test].tolist(), dataset.actual_closes(test)[:, 0],
        forecast.test_predictions[:, 0], dataset.last_closes(test), outcome.loss,
        outcome.val_loss, metrics.verdict(), bands=first_steps(forecast.bands.test))


__all__ = ["MIN_TRAIN_SAMPLES", "TrainOptions", "TrainResult", "failure_dict", "train_pair"]
