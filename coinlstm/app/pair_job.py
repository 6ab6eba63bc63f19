"""One pair's job: load candles -> fit -> predict -> write rows and artifacts, all or nothing.

Order, chosen so that a failure at any step writes nothing and replaces nothing:
check the flags and the symbol (before any file is touched) -> read the candles -> build
the dataset (gaps, NaN, too few candles: BadInput) -> train -> predict the test slice and the
next candle -> stage the artifacts under temporary names -> one database transaction with both
rows -> rename the artifacts into place (the model .h5 last). Any failure before the commit
deletes the temporaries; the database rolls back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from coinlstm import db
from coinlstm.app import testhooks
from coinlstm.core.config import DEFAULT_INTERVAL, Settings
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import INTERVAL_MS, check_interval, check_symbol, ms_to_utc
from train.dataset import (
    DEFAULT_TARGET,
    MIN_TRAIN_SAMPLES,
    MIN_VAL_SAMPLES,
    TARGETS,
    required_candles,
)
from train.models import DEFAULT_MODEL, DEFAULT_UNITS, MODEL_NAMES
from train.windownorm import check_window
from train.withpairs import check_with, raw_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    """Every training flag: the reference model's settings (SPEC.md) on the return target.

    ``target="close"`` gives the reference model of SPEC.md exactly.
    """

    model: str = DEFAULT_MODEL
    target: str = DEFAULT_TARGET
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
        if self.target not in TARGETS:
            raise BadInput(f"unknown target {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.target == "window":
            check_window(self.window)
        for name in ("units", "epochs", "batch_size", "window", "test_size", "val_size",
                     "horizon"):
            if getattr(self, name) < 1:
                raise BadInput(f"--{name.replace('_', '-')} must be at least 1, "
                               f"got {getattr(self, name)}")
        if self.patience < 0:
            raise BadInput(f"--patience must be 0 or more, got {self.patience}")
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


@dataclass
class TrainResult:
    """What one pair's run produced; ``to_dict`` is the market job's result JSON."""

    symbol: str
    id_coin: int
    backend: str
    model: str
    target: str
    last_close: float
    predicted_close: float
    change_pct: float
    rmse: float
    naive_rmse: float
    skill: float | None
    mae: float
    naive_mae: float
    direction_accuracy: float
    openTime_last: int  # noqa: N815 - the database's column name
    openTime_next: int  # noqa: N815
    epochs_run: int
    train_seconds: float
    seconds: float
    #: The return target's factor a (0: no edge); None for the level target.
    shrinkage: float | None = None
    #: Whether the forecast carries the model's view: a > 0 (return target), None (level).
    edge: bool | None = None
    status: str = "ok"
    exit_code: int = 0
    error: str | None = None
    rows_written: bool = True
    report: str = field(default="", repr=False)
    #: One close per test sample, or K of them (a list each) for --horizon K > 1.
    test_predictions: list = field(default_factory=list, repr=False)
    #: The K closes after the newest candle (``predicted_close`` is the first).
    forecasts: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        keys = ("symbol", "id_coin", "status", "exit_code", "error", "last_close",
                "predicted_close", "change_pct", "rmse", "naive_rmse", "skill", "mae",
                "naive_mae", "direction_accuracy", "openTime_last", "openTime_next",
                "epochs_run", "train_seconds", "seconds", "backend", "model", "target",
                "shrinkage", "edge")
        return {key: getattr(self, key) for key in keys}


def failure_dict(symbol: str, coin_id: int, exit_code: int, error: str, seconds: float,
                 backend: str | None, model: str | None) -> dict:
    """The result JSON of a run that failed: same keys, figures null."""
    keys = ("last_close", "predicted_close", "change_pct", "rmse", "naive_rmse", "skill",
            "mae", "naive_mae", "direction_accuracy", "openTime_last", "openTime_next",
            "epochs_run", "train_seconds", "target", "shrinkage", "edge")
    return {"symbol": symbol, "id_coin": coin_id, "status": "failed", "exit_code": exit_code,
            "error": error, **dict.fromkeys(keys), "seconds": seconds, "backend": backend,
            "model": model}


def _dataset(open_times, values, with_series, symbol: str, options: TrainOptions):
    from train.dataset import build_dataset

    try:
        return build_dataset(open_times, values, options.window, options.test_size,
                             options.val_size, options.interval_ms, options.target,
                             horizon=options.horizon, with_series=with_series)
    except BadInput as exc:
        raise BadInput(f"{symbol}: {exc}") from None


def train_pair(settings: Settings, coin_id: int, symbol: str, options: TrainOptions,
               run_id: str | None = None) -> TrainResult:
    """Train ``symbol``'s model, forecast its next close, store the rows and the artifacts.

    Raises CoinlstmError subclasses (BadInput for the user's input or data); on any failure
    no row is written and no artifact replaced.
    """
    started = time.perf_counter()
    check_symbol(symbol)
    options.check(symbol)
    from predict.artifacts import artifact_paths

    paths = artifact_paths(settings, symbol)
    backend_name = options.backend_name(settings)
    from train import backend

    backend.prepare(backend_name, settings.cache_dir)
    # A driver (the market job) ensured the schema once for all its pairs; a hand-run
    # train_one.py creates or upgrades it here.
    engine = db.open_database(settings.db_url, create=not settings.schema_ready)
    try:
        from train.candles import load_candles

        open_times, values, with_series = load_candles(engine, coin_id, symbol,
                                                       options.history, options.with_pairs,
                                                       options.interval)
        testhooks.stall_if_asked(symbol)
        dataset = _dataset(open_times, values, with_series, symbol, options)
        return _train_and_store(settings, engine, dataset, coin_id, symbol, options, run_id,
                                backend_name, paths, started)
    finally:
        engine.dispose()


def _train_and_store(settings, engine, dataset, coin_id, symbol, options, run_id,
                     backend_name, paths, started) -> TrainResult:
    from predict import plots
    from predict.artifacts import StagedFiles, stage_model
    from predict.rows import prediction_row, train_row
    from train import backend
    from train.forecaster import fit_and_forecast
    from train.metrics import evaluate

    keras = backend.load_keras(backend_name)
    backend.seed(options.seed, backend_name)
    split = dataset.split
    forecast = fit_and_forecast(dataset, options)
    model, outcome, shrinkage = forecast.model, forecast.outcome, forecast.shrinkage
    test_predictions, predicted_next = forecast.test_predictions, forecast.next_close
    test_closes = dataset.actual_closes(split.test)
    naive = dataset.last_closes(split.test)
    metrics = evaluate(test_closes, test_predictions, naive)

    now = int(time.time())
    times, closes = dataset.open_times, dataset.closes
    open_time_last = int(times[-1])
    open_time_next = open_time_last + options.interval_ms
    settings_json = {**options.to_dict(), "backend": backend_name}
    common = {"coin_id": coin_id, "time_create": now, "test_closes": test_closes,
              "test_predictions": test_predictions, "run_id": run_id, "model": options.model,
              "target": options.target, "shrinkage": shrinkage, "interval": options.interval}
    train_values = train_row(**common, metrics=metrics, open_time_last=open_time_last,
                             backend=backend_name, settings=settings_json,
                             n_train=len(split.train), n_val=len(split.val),
                             n_test=len(split.test), epochs_run=outcome.epochs_run,
                             train_seconds=outcome.train_seconds, horizon=options.horizon)
    prediction_values = prediction_row(
        **common, forecasts=forecast.next_closes, predicted_previous=forecast.previous_close,
        close_last=float(closes[-1]), close_previous=float(closes[-2]),
        open_time_next=open_time_next, skill=metrics.skill)
    meta = {"symbol": symbol, "id_coin": coin_id, "model": options.model,
            "window": options.window,
            "features": [*db.FEATURE_COLUMNS, *raw_names(dataset.with_pairs)],
            "backend": backend_name, "keras": keras.__version__, "run_id": run_id,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "openTime_last": open_time_last, "interval": options.interval,
            "options": settings_json, "target": options.target, "shrinkage": forecast.factor,
            "predicted_close": predicted_next, "horizon": options.horizon,
            "with": list(dataset.with_pairs),
            "predicted_closes": [float(v) for v in forecast.next_closes]}

    staged = StagedFiles(before_last_rename=testhooks.pause_before_last_rename)
    try:
        staged.stage(paths.plot, lambda path: plots.draw(
            path, symbol, times[split.test].tolist(), _first_step(test_closes),
            _first_step(test_predictions), naive, outcome.loss, outcome.val_loss,
            metrics.verdict()))
        stage_model(staged, paths, model, dataset.scaler.to_dict(), meta)
        with db.transaction(engine) as conn:
            written = db.write_training_result(conn, train_values, prediction_values)
        if not written:
            log.info("%s: rows of run %s were already stored; kept them", symbol, run_id)
        staged.commit()
    except BaseException:
        staged.discard()
        raise

    last_close = float(closes[-1])
    change_pct = (predicted_next - last_close) / last_close * 100.0 if last_close else 0.0
    inputs = "".join([f", horizon {options.horizon}" if options.horizon > 1 else "",
                      f", with {', '.join(dataset.with_pairs)}" if dataset.with_pairs else ""])
    summary = (f"{symbol} (id {coin_id}), {options.model} on {backend_name}, target "
               f"{options.target}{inputs}: "
               f"{len(split.train)} train / {len(split.val)} validation / {len(split.test)} "
               f"test samples, {outcome.epochs_run} epochs (best {outcome.best_epoch}), "
               f"{outcome.train_seconds:.1f} s")
    next_line = (f"next close ({ms_to_utc(open_time_next)} UTC): {predicted_next:.8g} "
                 f"(last close {last_close:.8g}, {change_pct:+.3f} %)")
    if options.horizon > 1:
        next_line = (f"next {options.horizon} closes (from {ms_to_utc(open_time_next)} UTC): "
                     + ", ".join(f"{v:.8g}" for v in forecast.next_closes)
                     + f" (last close {last_close:.8g}; step 1 {change_pct:+.3f} %)")
    lines = [summary, metrics.table(), next_line]
    if shrinkage is not None:
        lines.insert(2, shrinkage.describe())
    return TrainResult(
        symbol=symbol, id_coin=coin_id, backend=backend_name, model=options.model,
        target=options.target, shrinkage=forecast.factor,
        edge=None if shrinkage is None else shrinkage.edge,
        last_close=last_close, predicted_close=predicted_next, change_pct=change_pct,
        rmse=metrics.model.rmse, naive_rmse=metrics.naive.rmse, skill=metrics.skill,
        mae=metrics.model.mae, naive_mae=metrics.naive.mae,
        direction_accuracy=metrics.model.direction_accuracy, openTime_last=open_time_last,
        openTime_next=open_time_next, epochs_run=outcome.epochs_run,
        train_seconds=round(outcome.train_seconds, 3),
        seconds=round(time.perf_counter() - started, 3), rows_written=written,
        report="\n".join(lines), test_predictions=test_predictions.tolist(),
        forecasts=[float(v) for v in forecast.next_closes])


def _first_step(values):
    """The first step of (samples, K) forecasts: what the plot shows (the rows hold all K)."""
    return values[:, 0] if values.ndim == 2 else values


__all__ = ["MIN_TRAIN_SAMPLES", "TrainOptions", "TrainResult", "failure_dict", "train_pair"]
