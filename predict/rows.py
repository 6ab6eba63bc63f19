"""The two rows one training run adds: historical_train and historical_price_predictions.

Column names are the dashboards' (SPEC.md), including the historical typo
``price_preidct_last``. Arrays go into text columns as JSON (db.to_json_array).

Horizon. With ``--horizon K`` > 1 each test sample is K closes, so the arrays become arrays
of K-arrays (db.to_json_rows); ``price_preidct_last`` stays one number, the first step, and
``price_predict_horizon`` holds all K. At K = 1 every column is what it always was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from coinlstm import db
from coinlstm.core.config import DEFAULT_INTERVAL
from train.metrics import SliceMetrics
from train.shrinkage import Shrinkage


def _json(values: np.ndarray | Sequence) -> str:
    """A flat JSON array (one step per sample) or an array of K-arrays (K steps)."""
    if np.ndim(values) == 2:
        return db.to_json_rows(values)
    return db.to_json_array(values)


def train_row(*, coin_id: int, time_create: int, test_closes: np.ndarray,
              test_predictions: np.ndarray, metrics: SliceMetrics, open_time_last: int,
              run_id: str | None, model: str, target: str, shrinkage: Shrinkage | None,
              backend: str, settings: dict, n_train: int, n_val: int, n_test: int,
              epochs_run: int, train_seconds: float, horizon: int = 1,
              interval: str = DEFAULT_INTERVAL) -> dict:
    """The historical_train row: the test slice, the model's errors and the naive ones, and
    the candle interval (a 5m model's figures are not comparable with a 1h model's)."""
    return {
        "id_coin": coin_id,
        "time_create": time_create,
        "price_test": _json(test_closes),
        "price_predict": _json(test_predictions),
        "RMSE": metrics.model.rmse,
        "max_error": metrics.model.max_error,
        "openTime_last": open_time_last,
        "MAE": metrics.model.mae,
        "MAPE": metrics.model.mape,
        "direction_accuracy": metrics.model.direction_accuracy,
        "naive_RMSE": metrics.naive.rmse,
        "naive_max_error": metrics.naive.max_error,
        "naive_MAE": metrics.naive.mae,
        "naive_MAPE": metrics.naive.mape,
        "naive_direction_accuracy": metrics.naive.direction_accuracy,
        "skill": metrics.skill,
        "run_id": run_id,
        "model": model,
        "backend": backend,
        "settings": json.dumps(settings, sort_keys=True),
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "epochs_run": epochs_run,
        "train_seconds": train_seconds,
        "target": target,
        **_anchor(shrinkage),
        "horizon": horizon,
        "interval": interval,
    }


def _anchor(shrinkage: Shrinkage | None) -> dict:
    """The shrinkage columns: NULL for the level target, which has no anchor."""
    if shrinkage is None:
        return {"shrinkage": None, "shrinkage_t": None, "edge": None}
    return {"shrinkage": shrinkage.factor, "shrinkage_t": shrinkage.t_stat,
            "edge": shrinkage.edge}


def prediction_row(*, coin_id: int, time_create: int, test_closes: np.ndarray,
                   test_predictions: np.ndarray, forecasts: Sequence[float],
                   predicted_previous: float | None, close_last: float, close_previous: float,
                   open_time_next: int, run_id: str | None, model: str, target: str,
                   shrinkage: Shrinkage | None, skill: float | None,
                   interval: str = DEFAULT_INTERVAL) -> dict:
    """The historical_price_predictions row.

    ``price_predict`` is the test predictions followed by the forecast of the next (not yet
    closed) candle(s), ``price_actual`` the test closes; ``*_last`` is the next candle
    (forecast) and the newest close, ``*_previous`` the newest closed candle's one-step
    forecast and the close before it. ``forecasts`` holds the K closes after the newest candle.
    """
    horizon = len(forecasts)
    following = [float(v) for v in forecasts] if horizon > 1 else float(forecasts[0])
    return {
        "id_coin": coin_id,
        "time_create": time_create,
        "price_predict": _json([*np.asarray(test_predictions).tolist(), following]),
        "price_actual": _json(test_closes),
        "price_preidct_last": float(forecasts[0]),
        "price_predict_previous": predicted_previous,
        "price_actual_last": close_last,
        "price_actual_previous": close_previous,
        "run_id": run_id,
        "openTime_next": open_time_next,
        "model": model,
        "skill": skill,
        "target": target,
        "edge": _anchor(shrinkage)["edge"],
        "horizon": horizon,
        "price_predict_horizon": db.to_json_array(forecasts) if horizon > 1 else None,
        "interval": interval,
    }
