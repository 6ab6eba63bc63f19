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
from train.dataset import Scaler


def forecast_from_loaded(loaded: LoadedModel, newest_features: np.ndarray) -> float:
    """The next close (price units) after ``newest_features`` (rows oldest first)."""
    window = int(loaded.meta["window"])
    rows = np.asarray(newest_features, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < window:
        raise BadInput(f"the model needs the newest {window} candles, got {rows.shape[0]}")
    scaler = Scaler.from_dict(loaded.scaler)
    inputs = scaler.transform(rows[-window:])[None, :, :].astype(np.float32)
    scaled = np.asarray(loaded.model.predict(inputs, verbose=0), dtype=np.float64).reshape(-1)
    return float(scaler.close_to_price(scaled)[0])


def forecast_next(settings: Settings, symbol: str, newest_features: np.ndarray) -> float:
    """Load the pair's saved model and forecast the close after ``newest_features``."""
    return forecast_from_loaded(load_model(settings, symbol), newest_features)
