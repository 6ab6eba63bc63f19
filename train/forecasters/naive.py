"""The naive forecast: every close ahead equals the last close. Fits nothing.

The yardstick of every figure the tool prints (train/metrics.py); in ``coinlstm evaluate`` it
is one more forecaster, whose skill is 0 by definition.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from train.dataset import Dataset
from train.forecasters.base import Forecaster, repeat_steps
from train.forecasters.forecast import Forecast


class Naive(Forecaster):
    def fit(self, dataset: Dataset, start: Any = None) -> Self:
        return self

    def point_forecast(self, dataset: Dataset) -> Forecast:
        split, horizon, closes = dataset.split, dataset.horizon, dataset.closes
        return Forecast(
            val_predictions=repeat_steps(dataset.last_closes(split.val), horizon),
            calibration_predictions=(repeat_steps(dataset.last_closes(split.calibration),
                                                  horizon)
                                     if split.separate_calibration else None),
            test_predictions=repeat_steps(dataset.last_closes(split.test), horizon),
            next_closes=np.full(horizon, float(closes[-1])),
            previous_close=float(closes[-2]))
