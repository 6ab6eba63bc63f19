"""The next close(s) from a saved model: what a later run (or another backend) reproduces.

Takes the newest raw candles (features in db.FEATURE_COLUMNS order) and the saved .h5 alone:
the scaler, the window, the horizon and the --with pairs travel inside it
(predict/artifacts.py), so the forecast uses exactly the scaling the model was trained with.

A ``--horizon K`` model forecasts K closes: :func:`forecast_path` returns them all, while
:func:`forecast_next` keeps returning one float (the first step) for every caller written for
one step. A ``--with`` model also needs the newest candles of each --with pair, at the same
open times as the pair's (``with_features``); without them it is refused, never guessed.

Bands. :func:`bands_from_loaded` puts the saved conformal bounds around that forecast, scaled
by the volatility forecast of the candles passed (train/prediction_bands.py): pass a few hundred
newest candles, not just the window, for the slow averages of the scale to settle.
"""

from __future__ import annotations

import numpy as np

from coinlstm.core.config import Settings
from coinlstm.core.errors import BadInput
from predict.artifacts import LoadedModel, load_model
from train import formulations
from train.dataset import CLOSE_INDEX, next_input
from train.prediction_bands import IntervalCalibration, volatility_scales
from train.withpairs import input_rows

#: {symbol: that pair's newest feature rows}, for a model trained --with other pairs.
WithFeatures = dict[str, np.ndarray]


def forecast_path_from_loaded(loaded: LoadedModel, newest_features: np.ndarray,
                              with_features: WithFeatures | None = None) -> list[float]:
    """The next K closes (price units) after ``newest_features`` (rows oldest first)."""
    window = int(loaded.meta["window"])
    formulation = formulations.from_dict(loaded.scaler)
    needed = window + formulation.lead
    rows = input_rows(newest_features, tuple(loaded.meta.get("with") or ()), with_features)
    if rows.ndim != 2 or rows.shape[0] < needed:
        raise BadInput(f"the model needs the newest {needed} candles, got {rows.shape[0]}")
    outputs = np.asarray(loaded.model.predict(next_input(formulation, rows, window), verbose=0),
                         dtype=np.float64).reshape(1, -1)
    base = len(rows) - formulation.base_offset
    # "shrinkage" is the saved calibration factor (None: the formulation has none).
    prices = formulation.to_price(outputs, rows[base:base + 1, CLOSE_INDEX],
                                  loaded.meta.get("shrinkage"))
    return [float(v) for v in prices[0]]


def bands_from_loaded(loaded: LoadedModel, newest_features: np.ndarray,
                      with_features: WithFeatures | None = None
                      ) -> dict[float, tuple[list[float], list[float]]]:
    """{level: (lower, upper)} of the next K closes after ``newest_features``; BadInput for a
    model saved without conformal bounds (before bands existed, or a naive band)."""
    saved = (loaded.meta.get("bands") or {}).get("calibration")
    if saved is None:
        raise BadInput("this saved model has no band calibration; train it again")
    path = np.array([forecast_path_from_loaded(loaded, newest_features, with_features)])
    closes = np.asarray(newest_features, dtype=np.float64)[:, CLOSE_INDEX]
    scale = volatility_scales(closes)[-1:]
    bands = IntervalCalibration.from_dict(saved).bands(path, closes[-1:], scale)
    return {band.level: (band.lower[0].tolist(), band.upper[0].tolist()) for band in bands}


def forecast_from_loaded(loaded: LoadedModel, newest_features: np.ndarray,
                         with_features: WithFeatures | None = None) -> float:
    """The next close (price units) after ``newest_features``: the first step of any model."""
    return forecast_path_from_loaded(loaded, newest_features, with_features)[0]


def forecast_path(settings: Settings, symbol: str, newest_features: np.ndarray,
                  with_features: WithFeatures | None = None) -> list[float]:
    """Load the pair's saved model and forecast the K closes after ``newest_features``."""
    return forecast_path_from_loaded(load_model(settings, symbol), newest_features,
                                     with_features)


def forecast_next(settings: Settings, symbol: str, newest_features: np.ndarray,
                  with_features: WithFeatures | None = None) -> float:
    """Load the pair's saved model and forecast the close after ``newest_features``."""
    return forecast_from_loaded(load_model(settings, symbol), newest_features, with_features)
