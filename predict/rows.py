"""The two rows one training run adds: historical_train and historical_price_predictions.

Column names are the dashboards' (the tutorial's), including the historical typo
``price_preidct_last``. Arrays go into text columns as JSON (db.to_json_array).

Bands. Per stored level (80 %, 95 %) the test slice's coverage, width and Winkler score
(historical_train) and the next close's bounds (historical_price_predictions); every level's
bounds, test forecasts or next K closes, in ``price_bands`` as JSON {"80": {"lower": [...],
"upper": [...]}, ...}, shaped like the price columns (flat at K = 1).

Horizon. Forecasts arrive as (samples, K), K = 1 included. This module is the one place that
flattens K = 1: the seed's columns hold a flat array of one close per sample, as they always
did. With ``--horizon K`` > 1 each test sample is K closes, so the arrays become arrays of
K-arrays (db.to_json_rows); ``price_preidct_last`` stays one number, the first step, and
``price_predict_horizon`` holds all K.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from coinlstm import db
from coinlstm.core.columns import STORED_LEVELS, band_columns, band_score_columns, level_label
from coinlstm.core.klines import DEFAULT_INTERVAL
from train.dataset import Dataset
from train.forecasters import Forecast
from train.formulations import Calibration
from train.metrics import SliceMetrics
from train.prediction_bands import Band, ForecastBands


def _json(values: np.ndarray) -> str:
    """(samples, K) as the columns hold it: a flat array at K = 1, else arrays of K."""
    values = np.asarray(values)
    if values.shape[1] == 1:
        return db.to_json_array(values[:, 0])
    return db.to_json_rows(values)


def _calibration_columns(calibration: Calibration) -> dict:
    """The shrinkage columns: NULL for a formulation without a calibration (the level)."""
    return {"shrinkage": calibration.factor, "shrinkage_t": calibration.t_stat,
            "edge": calibration.edge}


def _bands_json(bands: tuple[Band, ...], sample: int | None = None) -> str:
    """Every level's bounds as one JSON object keyed by the level in percent: per test
    sample (flat at K = 1, arrays of K otherwise), or only ``sample``'s K closes."""
    def plain(values: np.ndarray) -> list:
        values = np.asarray(values, dtype=np.float64)
        if sample is not None:
            return values[sample].tolist()
        return values[:, 0].tolist() if values.shape[1] == 1 else values.tolist()

    return json.dumps({level_label(band.level): {"lower": plain(band.lower),
                                                  "upper": plain(band.upper)}
                       for band in bands})


def _score_columns(dataset: Dataset, bands: ForecastBands) -> dict:
    """coverage_80, width_80, winkler_80, ... of the test slice (NULL for a level not asked
    for)."""
    test = dataset.split.test
    scores = bands.scores(dataset.actual_closes(test), dataset.last_closes(test))
    by_label = {level_label(score.level): score for score in scores}
    columns = {}
    for level in STORED_LEVELS:
        score = by_label.get(level_label(level))
        for name, value in zip(band_score_columns(level), ("coverage", "width", "winkler"),
                               strict=True):
            columns[name] = None if score is None else getattr(score, value)
    return columns


def _next_band_columns(bands: ForecastBands) -> dict:
    """lower_80, upper_80, ... of the next close (NULL for a level not asked for)."""
    columns = {}
    for level in STORED_LEVELS:
        band = bands.next_band(level)
        lower, upper = band_columns(level)
        columns[lower] = None if band is None else float(band.lower[0, 0])
        columns[upper] = None if band is None else float(band.upper[0, 0])
    return columns


@dataclass(frozen=True)
class RunInfo:
    """What identifies one training run in its rows."""

    coin_id: int
    time_create: int
    run_id: str | None
    model: str
    backend: str
    #: The run's options (and backend), stored as JSON.
    settings: dict
    interval: str = DEFAULT_INTERVAL
    #: "live" (the hourly job) or "backfill" (a replayed hour): the forecast row's source.
    source: str = db.SOURCE_LIVE


def test_window_after(dataset: Dataset) -> int:
    """historical_train.openTime_last as the original system means it: the open time of the
    candle before the test window's first target, so that its predictor's and website's
    ``openTime > openTime_last`` reads exactly the test candles (one interval before the
    first when the series starts there)."""
    first = int(dataset.target_rows(dataset.split.test).min())
    if first > 0:
        return int(dataset.open_times[first - 1])
    return int(dataset.open_times[first]) - (int(dataset.open_times[1] - dataset.open_times[0])
                                             if len(dataset.open_times) > 1 else 1)


def train_row(run: RunInfo, dataset: Dataset, forecast: Forecast,
              metrics: SliceMetrics) -> dict:
    """The historical_train row: the test slice, the model's errors and the naive ones, and
    the candle interval (a 5m model's figures are not comparable with a 1h model's)."""
    split = dataset.split
    outcome = forecast.outcome
    return {
        "id_coin": run.coin_id,
        "time_create": run.time_create,
        "price_test": _json(dataset.actual_closes(split.test)),
        "price_predict": _json(forecast.test_predictions),
        "RMSE": metrics.model.rmse,
        "max_error": metrics.model.max_error,
        "openTime_last": test_window_after(dataset),
        "openTime_newest": int(dataset.open_times[-1]),
        "MAE": metrics.model.mae,
        "MAPE": metrics.model.mape,
        "direction_accuracy": metrics.model.direction_accuracy,
        "naive_RMSE": metrics.naive.rmse,
        "naive_max_error": metrics.naive.max_error,
        "naive_MAE": metrics.naive.mae,
        "naive_MAPE": metrics.naive.mape,
        "naive_direction_accuracy": metrics.naive.direction_accuracy,
        "skill": metrics.skill,
        "run_id": run.run_id,
        "model": run.model,
        "backend": run.backend,
        "settings": json.dumps(run.settings, sort_keys=True),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "n_cal": len(split.calibration) if split.separate_calibration else 0,
        "epochs_run": outcome.epochs_run if outcome else None,
        "train_seconds": outcome.train_seconds if outcome else None,
        "target": dataset.target,
        **_calibration_columns(forecast.calibration),
        "horizon": dataset.horizon,
        "interval": run.interval,
        **_score_columns(dataset, forecast.bands),
        "price_bands": _bands_json(forecast.bands.test),
    }


def prediction_row(run: RunInfo, dataset: Dataset, forecast: Forecast,
                   metrics: SliceMetrics) -> dict:
    """The historical_price_predictions row.

    ``price_predict`` is the test predictions followed by the forecast of the next (not yet
    closed) candle(s), ``price_actual`` the test closes; ``*_last`` is the next candle
    (forecast) and the newest close, ``*_previous`` the newest closed candle's one-step
    forecast and the close before it.
    """
    forecasts = forecast.next_closes
    horizon = len(forecasts)
    closes = dataset.closes
    return {
        "id_coin": run.coin_id,
        "time_create": run.time_create,
        "price_predict": _json(np.vstack([forecast.test_predictions, forecasts[None, :]])),
        "price_actual": _json(dataset.actual_closes(dataset.split.test)),
        "price_preidct_last": float(forecasts[0]),
        "price_predict_previous": forecast.previous_close,
        "price_actual_last": float(closes[-1]),
        "price_actual_previous": float(closes[-2]),
        "run_id": run.run_id,
        "openTime_next": int(dataset.open_times[-1]) + dataset.interval_ms,
        "model": run.model,
        "skill": metrics.skill,
        "target": dataset.target,
        "edge": forecast.calibration.edge,
        "horizon": horizon,
        "price_predict_horizon": db.to_json_array(forecasts) if horizon > 1 else None,
        "interval": run.interval,
        **_next_band_columns(forecast.bands),
        "price_bands": _bands_json(forecast.bands.next, sample=0),
        "source": run.source,
    }
