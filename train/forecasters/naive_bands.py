"""The naive forecast with a naive band: the baselines a model's band must beat.

Both forecast the last close (like ``naive``) and build each band from the returns before its
base candle only, recomputed every hour (train/prediction_bands.py, :func:`naive_bands`):

- ``static``: empirical quantiles of the last 480 hourly log returns;
- ``ewma``: the same returns over a RiskMetrics volatility (lambda 0.94), times today's
  (filtered historical simulation).

In ``coinlstm evaluate`` they sit beside the models, so a band is compared like with like;
interval skill is measured against ``static``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from train.dataset import Dataset
from train.forecasters.forecast import Forecast
from train.forecasters.naive import Naive
from train.prediction_bands import ForecastBands, naive_bands, riskmetrics_scales

if TYPE_CHECKING:
    from train.config import TrainConfig


#: Their names (the registry's, evaluate's --models and the bands' method).
STATIC, EWMA = "static", "ewma"


class NaiveBand(Naive):
    """The last close, with the ``static`` band (no scales) or the ``ewma`` band."""

    def __init__(self, config: TrainConfig, name: str, filtered: bool) -> None:
        super().__init__(config, name)
        self.filtered = filtered

    def point_forecast(self, dataset: Dataset) -> Forecast:
        forecast = super().point_forecast(dataset)
        closes, levels = dataset.closes, self.config.levels
        scales = riskmetrics_scales(closes) if self.filtered else None
        newest = np.array([len(closes) - 1])
        forecast.bands = ForecastBands(
            method=self.name,
            test=tuple(naive_bands(closes, dataset.split.test - 1, levels, scales,
                                   dataset.horizon)),
            next=tuple(naive_bands(closes, newest, levels, scales, dataset.horizon)))
        return forecast
