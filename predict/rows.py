"""The two rows one training run adds: historical_train and historical_price_predictions.

Column names are the dashboards' (SPEC.md), including the historical typo
``price_preidct_last``. Arrays go into text columns as JSON (db.to_json_array).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from coinlstm import db
from coinlstm.config import DEFAULT_INTERVAL
from train.metrics import SliceMetrics
from train.shrinkage import Shrinkage


def train_row(*, coin_id: int, time_create: int, test_closes: Sequence[float],
              test_predictions: Sequence[float], metrics: SliceMetrics, open_time_last: int,
              run_id: str | None, model: str, target: str, shrinkage: Shrinkage | None,
              backend: str, settings: dict, n_train: int, n_val: int, n_test: int,
              epochs_run: int, train_seconds: float, interval: str = DEFAULT_INTERVAL) -> dict:
    """The historical_train row: the test slice, the model's errors and the naive ones, and
    the candle interval (a 5m model's figures are not comparable with a 1h model's)."""
    return {
        "id_coin": coin_id,
        "time_create": time_create,
        "price_test": db.to_json_array(test_closes),
        "price_predict": db.to_json_array(test_predictions),
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
        "interval": interval,
    }


def _anchor(shrinkage: Shrinkage | None) -> dict:
    """The shrinkage columns: NULL for the level target, which has no anchor."""
    if shrinkage is None:
        return {"shrinkage": None, "shrinkage_t": None, "edge": None}
    return {"shrinkage": shrinkage.factor, "shrinkage_t": shrinkage.t_stat,
            "edge": shrinkage.edge}


def prediction_row(*, coin_id: int, time_create: int, test_closes: Sequence[float],
                   test_predictions: Sequence[float], predicted_next: float,
                   predicted_previous: float, close_last: float, close_previous: float,
                   open_time_next: int, run_id: str | None, model: str, target: str,
                   shrinkage: Shrinkage | None, skill: float | None,
                   interval: str = DEFAULT_INTERVAL) -> dict:
    """The historical_price_predictions row.

    ``price_predict`` is the test predictions followed by the forecast of the next (not yet
    closed) candle, ``price_actual`` the test closes; ``*_last`` is the next candle (forecast)
    and the newest close, ``*_previous`` the newest closed candle's forecast and the close
    before it.
    """
    return {
        "id_coin": coin_id,
        "time_create": time_create,
        "price_predict": db.to_json_array([*test_predictions, predicted_next]),
        "price_actual": db.to_json_array(test_closes),
        "price_preidct_last": predicted_next,
        "price_predict_previous": predicted_previous,
        "price_actual_last": close_last,
        "price_actual_previous": close_previous,
        "run_id": run_id,
        "openTime_next": open_time_next,
        "model": model,
        "skill": skill,
        "target": target,
        "edge": _anchor(shrinkage)["edge"],
        "interval": interval,
    }
