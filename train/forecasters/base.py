"""The forecaster seam: something fitted on a dataset that forecasts closes, in prices.

Why a seam: ``coinlstm evaluate`` compares a list of forecasters on the same folds, and the
naive forecast ("next close = last close") is one of them, not a special case. A Keras network
(keras_model.py) and a baseline (naive.py) are peers behind :class:`Forecaster`; a new one is
one module and one registry line (train/forecasters/registry.py).

What a forecaster says (:class:`~train.forecasters.forecast.Forecast`): the validation and
test samples' closes and the K closes after the newest candle, all in price units and
(samples, K). The fitted state (a Keras
model) travels in the forecast; train_one saves it (predict/artifacts.py) and the saved file
alone forecasts again (predict/forecast.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from train.dataset import Dataset
from train.forecasters.bands import with_bands
from train.forecasters.forecast import Forecast

if TYPE_CHECKING:
    from train.config import TrainConfig

#: The options every forecaster's folds are cut with and its bands made at: all a fit-free
#: forecaster depends on.
FOLD_OPTIONS: tuple[str, ...] = ("target", "window", "test_size", "val_size", "history",
                                  "interval", "calibration_size", "levels")


class Forecaster(ABC):
    """One way of forecasting; ``name`` is its --models name and its cases' "model"."""

    name: str
    #: Whether fitting loads Keras: evaluate fits these in fresh worker processes (the driver
    #: never imports Keras) and the others in the driver.
    needs_keras: ClassVar[bool] = False
    #: Whether the seed matters: evaluate repeats only these (--repeats).
    seeded: ClassVar[bool] = False
    #: Whether :meth:`warm_forecast` continues a fitted state: evaluate runs the others on
    #: the full schedule only (train/schedule.py).
    warmable: ClassVar[bool] = False

    def configure(self, options: TrainConfig) -> TrainConfig:
        """The options this forecaster runs with (a preset overrides some)."""
        return options

    def network(self, options: TrainConfig) -> str:
        """The cases' "network" column: what was fitted."""
        return self.name

    def reported_options(self, options: TrainConfig) -> dict:
        """The options that decide this forecaster's figures (evaluate's summary.json)."""
        return {key: getattr(options, key) for key in FOLD_OPTIONS}

    def prepare_fit(self, seed: int, backend_name: str) -> None:
        """Before each fit of a process: a clean, seeded start (nothing by default)."""
        return None

    @abstractmethod
    def fit_forecast(self, dataset: Dataset, options: TrainConfig) -> Forecast:
        """Fit on the training slice (validation for early stopping, the calibration slice
        for calibration only), then forecast validation, calibration, test and the next
        candle."""

    def warm_forecast(self, dataset: Dataset, options: TrainConfig, start: Any) -> Forecast:
        """Continue from ``start`` (a warm start, train/warmstart.py: the saved model's
        weights file, or the model an earlier :class:`Forecast` holds) instead of fitting
        from scratch, then forecast as :meth:`fit_forecast` does. A forecaster that keeps no
        state has nothing to continue: it just runs."""
        return self.fit_forecast(dataset, options)

    def forecast(self, dataset: Dataset, options: TrainConfig, start: Any = None
                 ) -> Forecast:
        """:meth:`fit_forecast` (or with a ``start``, :meth:`warm_forecast`) with prediction
        bands at ``options.levels`` (what train_one and evaluate call)."""
        forecast = (self.fit_forecast(dataset, options) if start is None
                    else self.warm_forecast(dataset, options, start))
        return with_bands(dataset, forecast, options.levels)


def repeat_steps(closes: np.ndarray, horizon: int) -> np.ndarray:
    """One close per sample -> (samples, K), the same close for every step."""
    return np.repeat(np.asarray(closes, dtype=np.float64)[:, None], horizon, axis=1)
