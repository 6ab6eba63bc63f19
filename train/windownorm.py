"""Window-relative normalisation (``--target window``), the multi-coin tutorial's set-up.

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

from dataclasses import dataclass

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput

_CLOSE = FEATURE_COLUMNS.index("close")


def check_window(window: int) -> None:
    if window < 2:
        raise BadInput(f"--target window needs --window 2 or more (got {window}): each window "
                       "is divided by its first row, so a one-row window is all zeros")


def relative(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``values / first - 1``, 0 where ``first`` is 0."""
    safe = np.where(first != 0, first, 1.0)
    return np.where(first != 0, values / safe - 1.0, 0.0)


@dataclass(frozen=True)
class WindowScaler:
    """The scaler protocol of train/dataset.py for window-relative inputs and targets."""

    window: int
    lead: int = 0
    #: Names of the --with pairs' columns after FEATURE_COLUMNS (train/withpairs.py).
    extra: tuple[str, ...] = ()

    @property
    def base_offset(self) -> int:
        """Rows before the target whose close a forecast is relative to: the window's first."""
        return self.window

    def transform(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64)

    def window_inputs(self, windows: np.ndarray) -> np.ndarray:
        return relative(windows, windows[:, :1, :]).astype(np.float32)

    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        closes = features[:, _CLOSE]
        first_targets = rows if rows.ndim == 1 else rows[:, 0]
        bases = closes[first_targets - self.window]
        return relative(closes[rows], bases if rows.ndim == 1 else bases[:, None]) \
            .astype(np.float32)

    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 shrinkage: float = 1.0) -> np.ndarray:
        """first row's close * (1 + output); (samples, K) outputs share their sample's base."""
        bases = np.asarray(bases, dtype=np.float64)
        if np.ndim(outputs) == 2:
            bases = bases[:, None]
        return bases * (1.0 + np.asarray(outputs, dtype=np.float64))

    def to_dict(self) -> dict:
        return {"kind": "window", "window": self.window,
                "features": [*FEATURE_COLUMNS, *self.extra]}

    @classmethod
    def from_dict(cls, data: dict) -> WindowScaler:
        names = data.get("features", FEATURE_COLUMNS)
        return cls(int(data["window"]), extra=tuple(names[len(FEATURE_COLUMNS):]))
