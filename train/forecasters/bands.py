"""Bands for any forecaster's forecast: split conformal on its calibration-slice forecasts.

Why here and not in each forecaster: a band is a property of a forecast's errors, not of how
the forecast was made, so one function serves the Keras networks, the naive forecast and
any forecaster added later (train/prediction_bands.py holds the method). A forecaster that makes
its own bands (the naive ``static`` and ``ewma``, train/forecasters/naive_bands.py) sets
:attr:`Forecast.bands` itself and is left alone.

Calibration reads only the calibration slice (train/dataset.py, "Split"): the actual closes,
the forecaster's forecasts of them, and the volatility scale of each sample's last close.
The test slice's bands use the same bounds and each test sample's own scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from train.dataset import Dataset
from train.forecasters.forecast import Forecast
from train.prediction_bands import ForecastBands, calibrate, volatility_scales


def conformal_bands(dataset: Dataset, forecast: Forecast, levels: Sequence[float]
                    ) -> ForecastBands:
    """The forecast's bands per level, calibrated on its calibration-slice forecasts."""
    split, closes = dataset.split, dataset.closes
    scales = volatility_scales(closes)
    held_out = split.calibration
    calibration = calibrate(dataset.actual_closes(held_out), forecast.calibration_forecasts,
                            dataset.last_closes(held_out), scales[held_out - 1], levels)
    test_bases = split.test - 1
    newest = np.array([len(closes) - 1])
    return ForecastBands(
        method="conformal",
        test=tuple(calibration.bands(forecast.test_predictions, closes[test_bases],
                                     scales[test_bases])),
        next=tuple(calibration.bands(forecast.next_closes[None, :], closes[newest],
                                     scales[newest])),
        calibration=calibration)


def with_bands(dataset: Dataset, forecast: Forecast, levels: Sequence[float]) -> Forecast:
    """``forecast`` with its bands (calibrated here unless the forecaster made its own)."""
    if forecast.bands is None:
        forecast.bands = conformal_bands(dataset, forecast, levels)
    return forecast
