"""What a fitted forecaster says: :class:`Forecast`, in price units, (samples, K).

A value of its own module so that the forecasters (base.py) and the bands made for any of
them (bands.py) both import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from train.fit import FitOutcome
from train.formulations import UNCALIBRATED, Calibration
from train.prediction_bands import ForecastBands


@dataclass
class Forecast:
    """What a fitted forecaster says, in price units, (samples, K)."""

    val_predictions: np.ndarray
    test_predictions: np.ndarray
    #: The K closes after the newest candle.
    next_closes: np.ndarray
    #: The one-step forecast of the newest candle, from the candles before it (None when
    #: those span a gap).
    previous_close: float | None = None
    #: The formulation's calibration (the return target's shrinkage), or none.
    calibration: Calibration = UNCALIBRATED
    #: The fitted model (None for a forecaster that keeps no state) and how its fit went.
    model: Any = None
    outcome: FitOutcome | None = None
    #: The calibration slice's forecasts (None: that slice is the validation slice, whose
    #: forecasts are ``val_predictions``; train/dataset.py, "Split").
    calibration_predictions: np.ndarray | None = None
    #: Prediction bands per level (train/forecasters/bands.py); None until attached.
    bands: ForecastBands | None = None

    @property
    def calibration_forecasts(self) -> np.ndarray:
        """The forecasts the shrinkage and the bands are calibrated on."""
        if self.calibration_predictions is None:
            return self.val_predictions
        return self.calibration_predictions

    @property
    def factor(self) -> float | None:
        return self.calibration.factor

    @property
    def next_close(self) -> float:
        """The first step: the forecast of the next candle."""
        return float(self.next_closes[0])
