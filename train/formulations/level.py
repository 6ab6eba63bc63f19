"""``--target close``: the tutorial's reference formulation, the next close's level.

The inputs are the 10 raw kline features (and the --with pairs' raw columns), MinMax-scaled
to [0, 1] on the candles the training samples use (their inputs and targets) and nothing
newer: the validation and test candles never influence it, so the test figures do not see the
future. The target is the close scaled with the close column's own min/scale, so predictions
invert back to price units exactly. A level needs no base close and is never calibrated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from train.formulations.base import CLOSE_INDEX, Formulation
from train.withpairs import raw_names


@dataclass(frozen=True)
class Level(Formulation):
    """MinMax scaling to [0, 1] as plain numbers (JSON, never pickle) for the artifacts."""

    name: ClassVar[str] = "close"

    data_min: np.ndarray
    data_max: np.ndarray
    #: Names of the --with pairs' columns after FEATURE_COLUMNS (train/withpairs.py).
    extra: tuple[str, ...] = ()

    @classmethod
    def fit(cls, features: np.ndarray, train_targets: np.ndarray, window: int,
            horizon: int = 1, with_pairs: Sequence[str] = ()) -> Level:
        """The same numbers as sklearn's ``MinMaxScaler(feature_range=(0, 1)).fit`` (a test
        compares them), computed with numpy: importing sklearn (and scipy with it) would cost
        every pair's process more than the rest of its start-up, for two column reductions
        (docs/performance.md)."""
        first_row = int(train_targets[0]) - window
        last_row = int(train_targets[-1]) + horizon - 1
        rows = features[first_row:last_row + 1]
        return cls(rows.min(axis=0).astype(np.float64), rows.max(axis=0).astype(np.float64),
                   extra=raw_names(with_pairs))

    @property
    def scale(self) -> np.ndarray:
        """sklearn's ``scale_``: a constant column (e.g. ``ignore``) gets scale 1, not inf."""
        span = self.data_max - self.data_min
        return 1.0 / np.where(span == 0, 1.0, span)

    @property
    def min(self) -> np.ndarray:
        """sklearn's ``min_``: scaled = x * scale + min."""
        return -self.data_min * self.scale

    def transform(self, features: np.ndarray) -> np.ndarray:
        return features * self.scale + self.min

    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        scaled_close = features[rows, CLOSE_INDEX] * self.scale[CLOSE_INDEX] \
            + self.min[CLOSE_INDEX]
        return scaled_close.astype(np.float32)

    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 factor: float | None = None) -> np.ndarray:
        """Scaled closes back to prices (a level needs no base close and is never shrunk)."""
        return (np.asarray(outputs, dtype=np.float64) - self.min[CLOSE_INDEX]) \
            / self.scale[CLOSE_INDEX]

    def to_dict(self) -> dict:
        return {"kind": self.name, "feature_range": [0, 1],
                "features": [*FEATURE_COLUMNS, *self.extra],
                "data_min_": self.data_min.tolist(), "data_max_": self.data_max.tolist(),
                "scale_": self.scale.tolist(), "min_": self.min.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Level:
        return cls(np.asarray(data["data_min_"], dtype=np.float64),
                   np.asarray(data["data_max_"], dtype=np.float64),
                   extra=tuple(data.get("features", FEATURE_COLUMNS)[len(FEATURE_COLUMNS):]))
