"""The formulation seam: how candles become a network's inputs and targets, and its outputs
become prices again.

Why a seam: the network, the fit, the splits and the metrics do not care whether the model
predicts a price level, a log return or a window's return. Everything that does care is one
:class:`Formulation` subclass in one module of this package, found by name in the registry
(train/formulations/registry.py). The CLI's ``--target`` is that name; the saved model's
scaler JSON is the fitted formulation's :meth:`Formulation.to_dict` (its ``"kind"`` is the
name).

Shapes. A sample's target rows are (samples, K) for ``--horizon K``, K = 1 included, and so
are the model's targets, its outputs and the prices they turn into: no formulation branches
on K.

Life cycle. ``fit`` (a classmethod) reads the training rows only and returns the fitted
formulation (an instance); ``from_dict`` rebuilds it from a saved model. An optional
``calibrate`` reads the calibration slice's outputs (the return target's shrinkage toward the
last close); a formulation without one reports :data:`UNCALIBRATED`, whose figures are NULL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS

#: Index of the close among the features: what every formulation forecasts.
CLOSE_INDEX = FEATURE_COLUMNS.index("close")


class Calibration(Protocol):
    """What a fitted calibration reports (train/shrinkage.Shrinkage is one)."""

    @property
    def factor(self) -> float | None: ...

    @property
    def t_stat(self) -> float | None: ...

    @property
    def edge(self) -> bool | None: ...

    def describe(self) -> str | None: ...


@dataclass(frozen=True)
class Uncalibrated:
    """No calibration: the model's outputs are priced as they are; every figure is None
    (NULL in the rows, no line in the report)."""

    factor: None = None
    t_stat: None = None
    edge: None = None

    def describe(self) -> str | None:
        return None


UNCALIBRATED = Uncalibrated()


class Formulation(ABC):
    """One target formulation; an instance is the formulation fitted on a pair's training rows.

    Subclasses set :attr:`name` (the ``--target`` value and the saved ``"kind"``) and, when
    their rows read earlier candles, :attr:`lead`.
    """

    #: The --target value, the "target" column and the saved scaler's "kind".
    name: ClassVar[str]
    #: Candles before a sample's window that its inputs read (the previous close: 1).
    lead: ClassVar[int] = 0
    #: Rows before a sample's first target whose close its forecast is priced against.
    base_offset: int = 1

    @classmethod
    def check(cls, window: int, horizon: int) -> None:
        """BadInput for options this formulation cannot work with (none by default)."""
        return None

    @classmethod
    def check_rows(cls, features: np.ndarray) -> None:
        """BadInput for candles this formulation cannot transform (none by default); ``fit``
        checks them, and so does a warm start that reuses a fitted formulation."""
        return None

    @classmethod
    @abstractmethod
    def fit(cls, features: np.ndarray, train_targets: np.ndarray, window: int,
            horizon: int = 1, with_pairs: Sequence[str] = ()) -> Formulation:
        """Fitted on the rows the training samples use (inputs and all K targets) only."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict) -> Formulation:
        """The fitted formulation saved with a model (:meth:`to_dict`)."""

    @abstractmethod
    def to_dict(self) -> dict:
        """Plain numbers (JSON, never pickle): the saved model's scaler."""

    @abstractmethod
    def transform(self, features: np.ndarray) -> np.ndarray:
        """Every row's model features (rows before ``lead`` may be NaN)."""

    def window_inputs(self, windows: np.ndarray) -> np.ndarray:
        """(samples, window, features) of transformed rows -> the network's inputs."""
        return windows

    @abstractmethod
    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """What the network learns for target rows (samples, K): float32 (samples, K)."""

    def calibrate(self, features: np.ndarray, rows: np.ndarray,
                  outputs: np.ndarray) -> Calibration:
        """A cheap fit on the calibration slice's outputs (samples, K) of target rows ``rows``."""
        return UNCALIBRATED

    @abstractmethod
    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 factor: float | None = None) -> np.ndarray:
        """Outputs (samples, K) -> closes (samples, K); ``bases`` (samples,) are the closes
        :attr:`base_offset` rows before each sample's first target, ``factor`` the
        calibration's (None: uncalibrated)."""
