"""The forecaster seam: a forecaster built with its parameters, fitted on a dataset, that
forecasts closes in prices.

Why a seam: ``coinlstm evaluate`` compares a list of forecasters on the same folds, and the
naive forecast ("next close = last close") is one of them, not a special case. A Keras network
(keras_model.py) and a baseline (naive.py) are peers behind :class:`Forecaster`; a new one is
one module and one registry line (train/forecasters/registry.py).

A forecaster is built from its parameters (a :class:`~train.config.TrainConfig`), fitted
(:meth:`Forecaster.fit`, which returns the forecaster), then asked for its forecasts
(:meth:`Forecaster.predict`): what it says is a :class:`~train.forecasters.forecast.Forecast`,
the validation and test samples' closes and the K closes after the newest candle, all in
price units and (samples, K), with prediction bands. A forecaster with a fitted state (a Keras
network) saves it and loads it again (:meth:`Forecaster.save`, :meth:`Forecaster.load`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from coinlstm.core.errors import CoinlstmError
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
    """One way of forecasting, built with its parameters; ``name`` is its --models name and
    its cases' "model"."""

    #: Whether fitting loads Keras: evaluate fits these in fresh worker processes (the driver
    #: never imports Keras) and the others in the driver.
    needs_keras: ClassVar[bool] = False
    #: Whether the seed matters: evaluate repeats only these (--repeats).
    seeded: ClassVar[bool] = False
    #: Whether :meth:`fit` continues a fitted state given as ``start``: evaluate runs the
    #: others on the full schedule only (train/schedule.py).
    warmable: ClassVar[bool] = False

    def __init__(self, config: TrainConfig, name: str) -> None:
        self.config = config
        self.name = name

    # -- what evaluate asks of a kind of forecaster, before any is built --------------------

    @classmethod
    def network(cls, config: TrainConfig) -> str:
        """The cases' "network" column: what was fitted (empty: the forecaster's name)."""
        return ""

    @classmethod
    def reported_options(cls, config: TrainConfig) -> dict:
        """The options that decide this forecaster's figures (evaluate's summary.json)."""
        return {key: getattr(config, key) for key in FOLD_OPTIONS}

    @classmethod
    def prepare_process(cls, seed: int, backend_name: str) -> None:
        """Before each fit of a process: a clean, seeded start (nothing by default)."""
        return None

    # -- the forecaster --------------------------------------------------------------------

    @abstractmethod
    def fit(self, dataset: Dataset, start: Any = None) -> Self:
        """Fit on the training slice (validation for early stopping, the calibration slice
        for calibration only). With ``start`` (a warm start, train/warmstart.py: a saved
        weights file, or the fitted model of an earlier :class:`Forecast`), continue from it
        instead of fitting from scratch; a forecaster that keeps no state ignores it."""

    @abstractmethod
    def point_forecast(self, dataset: Dataset) -> Forecast:
        """The fitted forecaster's forecasts of ``dataset``'s validation, calibration and test
        samples and of the candles after its newest, without bands."""

    def predict(self, dataset: Dataset) -> Forecast:
        """:meth:`point_forecast` with prediction bands at the config's levels (conformal on
        the calibration slice unless the forecaster made its own)."""
        return with_bands(dataset, self.point_forecast(dataset), self.config.levels)

    def save(self, path: Path) -> None:
        """Write the fitted state to ``path`` (a temp name, then renamed)."""
        raise CoinlstmError(f"the {self.name} forecaster keeps no state to save")

    @classmethod
    def load(cls, config: TrainConfig, name: str, path: Path,
             input_shape: tuple[int, ...]) -> Self:
        """A forecaster of ``config`` holding the state :meth:`save` wrote to ``path``."""
        raise CoinlstmError(f"the {name} forecaster keeps no state to load")


def repeat_steps(closes: np.ndarray, horizon: int) -> np.ndarray:
    """One close per sample -> (samples, K), the same close for every step."""
    return np.repeat(np.asarray(closes, dtype=np.float64)[:, None], horizon, axis=1)
