"""``--target window``: window-relative normalisation, the multi-coin tutorial's set-up.

Each sample's window is divided by its own first row, ``x / x0 - 1``, for every input column,
and the target is the close(s) after the window over that first row's close, minus 1 (the
window's return). A forecast turns back into a price as ``x0 close * (1 + output)``.

Why it exists beside the return target: it is what the tutorials did, and like the return
target it cannot leave the range it was trained on the way a price level can. Nothing is
fitted, so nothing can leak from the validation or test candles. It needs ``--window`` of at
least 2: a one-row window divided by itself is all zeros. A column whose first row is 0 (a
candle without trades, Binance's ``ignore``) gives 0 instead of a division by zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from train.formulations.base import CLOSE_INDEX, Formulation
from train.withpairs import raw_names


def relative(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``values / first - 1``, 0 where ``first`` is 0."""
    safe = np.where(first != 0, first, 1.0)
    return np.where(first != 0, values / safe - 1.0, 0.0)


@dataclass(frozen=True)
class Window(Formulation):
    """Window-relative inputs and targets; the only state is the window length."""

    name: ClassVar[str] = "window"

    window: int
    #: Names of the --with pairs' columns after FEATURE_COLUMNS (train/withpairs.py).
    extra: tuple[str, ...] = ()

    @classmethod
    def check(cls, window: int, horizon: int) -> None:
        if window < 2:
            raise BadInput(f"--target window needs --window 2 or more (got {window}): each "
                           "window is divided by its first row, so a one-row window is all "
                           "zeros")

    @classmethod
    def fit(cls, features: np.ndarray, train_targets: np.ndarray, window: int,
            horizon: int = 1, with_pairs: Sequence[str] = ()) -> Window:
        """Nothing to fit: every window is its own reference."""
        cls.check(window, horizon)
        return cls(window, extra=raw_names(with_pairs))

    @property
    def base_offset(self) -> int:  # type: ignore[override]
        """Rows before the target whose close a forecast is relative to: the window's first."""
        return self.window

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64)

    def window_inputs(self, windows: np.ndarray) -> np.ndarray:
        return relative(windows, windows[:, :1, :]).astype(np.float32)

    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        closes = features[:, CLOSE_INDEX]
        return relative(closes[rows], closes[rows[:, :1] - self.window]).astype(np.float32)

    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 factor: float | None = None) -> np.ndarray:
        """first row's close * (1 + output); a sample's K steps share its base."""
        bases = np.asarray(bases, dtype=np.float64)[:, None]
        return bases * (1.0 + np.asarray(outputs, dtype=np.float64))

    def to_dict(self) -> dict:
        return {"kind": self.name, "window": self.window,
                "features": [*FEATURE_COLUMNS, *self.extra]}

    @classmethod
    def from_dict(cls, data: dict) -> Window:
        names = data.get("features", FEATURE_COLUMNS)
        return cls(int(data["window"]), extra=tuple(names[len(FEATURE_COLUMNS):]))
