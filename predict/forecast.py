"""The next close from a saved model: what a later run (or another backend) reproduces.

Takes the newest raw candles (features in db.FEATURE_COLUMNS order) and the saved .h5 alone:
the scaler and the window travel inside it (predict/artifacts.py), so the forecast uses
exactly the scaling the model was trained with.
"""

from __future__ import annotations

import numpy as np

from coinlstm.config import Settings
from coinlstm.errors import BadInput
from predict.artifacts import LoadedModel, load_model
from train.dataset import CLOSE_INDEX, next_input, scaler_from_dict


def forecast_from_loaded(loaded: LoadedModel, newest_features: np.ndarray) -> float:
    """The next close (price units) after ``newest_features`` (rows oldest first)."""
    window = int(loaded.meta["window"])
    scaler = scaler_from_dict(loaded.scaler)
    needed = window + scaler.lead
    rows = np.asarray(newest_features, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < needed:
        raise BadInput(f"the model needs the newest {needed} candles, got {rows.shape[0]}")
    outputs = np.asarray(loaded.model.predict(next_input(scaler, rows, window), verbose=0),
                         dtype=np.float64).reshape(-1)
    shrinkage = loaded.meta.get("shrinkage")
    return float(scaler.to_price(outputs, rows[-1:, CLOSE_INDEX],
                                 1.0 if shrinkage is None else float(shrinkage))[0])


def forecast_next(settings: Settings, symbol: str, newest_features: np.ndarray) -> float:
    """Load the pair's saved model and forecast the close after ``newest_features``."""
    return forecast_from_loaded(load_model(settings, symbol), newest_features)
