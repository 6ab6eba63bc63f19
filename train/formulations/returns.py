"""``--target return``, the default formulation: scale-free inputs, the next log return as
target. Pure numpy.

Why not price levels (the reference, ``--target close``): a MinMax-scaled level model can only
output levels inside its training range, and real pairs leave that range all the time (every
ADAETH test close of the shared data lay below the training minimum; docs/backtest.md). Here
every input and the target are ratios against the previous close, so a new low or high is
just another return:

- ``open``, ``high``, ``low``, ``close``: log(price / previous close);
- ``volume``, ``quoteAssetVolume``, ``numberOfTrader``: change of log(1 + x) over the
  previous candle;
- ``taker_buy_share``: taker buy base volume / volume (0.5 for a candle without volume);
- per ``--with`` pair (train/withpairs.py): its close log return and change of
  log(1 + volume).

Each input column is standardised with the mean and standard deviation of the training rows;
the target (the next candle's close log return) is divided by the training returns' standard
deviation but not centred, so an output of 0 means "no change". A forecast is turned back into
a price as ``last close * exp(shrinkage * return)``: the shrinkage factor is this
formulation's calibration, fitted on the calibration slice's outputs (train/shrinkage.py).

With ``--horizon K`` the target is the K cumulative log returns log(close[t+h-1] / close[t-1])
from the last close, h = 1..K, in the same unit (the one-step training returns' standard
deviation, so the unit and the K = 1 model stay what they were); step h's price is
``last close * exp(shrinkage * return_h)`` with one factor for all steps, fitted on step 1
(the later steps overlap; train/shrinkage.py).

Every row's features read the row before it, so a sample needs ``window + 1`` consecutive
candles before its target (:data:`LEAD` = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from train.formulations.base import CLOSE_INDEX, Formulation
from train.shrinkage import Shrinkage, fit_shrinkage
from train.withpairs import with_closes

#: Candles before a sample's window that its inputs read (the previous close).
LEAD = 1
RETURN_FEATURES: tuple[str, ...] = ("open", "high", "low", "close", "volume",
                                    "quoteAssetVolume", "numberOfTrader", "taker_buy_share")
#: What each --with pair's two raw columns (close, volume) become here.
WITH_RETURN_COLUMNS: tuple[str, ...] = ("close_log_return", "log_volume_change")
_PRICE_COLUMNS = ("open", "high", "low", "close")
_COUNT_COLUMNS = ("volume", "quoteAssetVolume", "numberOfTrader")
_INDEX = {name: FEATURE_COLUMNS.index(name) for name in FEATURE_COLUMNS}


def check_prices(features: np.ndarray) -> None:
    """BadInput when a price (--with closes included) is not positive: its log return would
    be -inf or NaN."""
    prices = np.hstack([features[:, [_INDEX[name] for name in _PRICE_COLUMNS]],
                        with_closes(features)])
    if np.any(prices <= 0):
        row = int(np.argwhere(prices <= 0)[0][0])
        raise BadInput(f"candle {row} has a price <= 0; the return target needs positive "
                       "prices (use --target close)")


def return_names(pairs: Sequence[str]) -> tuple[str, ...]:
    """Names of the columns the --with pairs add here."""
    return tuple(f"{pair}.{column}" for pair in pairs for column in WITH_RETURN_COLUMNS)


def with_returns(features: np.ndarray) -> np.ndarray:
    """Each --with pair's close log return and change of log(1 + volume); row 0 is NaN."""
    extra = features[:, len(FEATURE_COLUMNS):]
    out = np.full(extra.shape, np.nan)
    if len(extra) < 2:
        return out
    out[1:, 0::2] = np.log(extra[1:, 0::2] / extra[:-1, 0::2])
    out[1:, 1::2] = np.diff(np.log1p(extra[:, 1::2]), axis=0)
    return out


def return_features(features: np.ndarray) -> np.ndarray:
    """The scale-free features of every row (see module doc); row 0 has none (NaN)."""
    if features.shape[1] > len(FEATURE_COLUMNS):
        return np.hstack([return_features(features[:, :len(FEATURE_COLUMNS)]),
                          with_returns(features)])
    out = np.full((len(features), len(RETURN_FEATURES)), np.nan)
    if len(features) < 2:
        return out
    previous_close = features[:-1, CLOSE_INDEX]
    current = features[1:]
    for column, name in enumerate(_PRICE_COLUMNS):
        out[1:, column] = np.log(current[:, _INDEX[name]] / previous_close)
    for offset, name in enumerate(_COUNT_COLUMNS):
        out[1:, len(_PRICE_COLUMNS) + offset] = np.diff(np.log1p(features[:, _INDEX[name]]))
    volume = current[:, _INDEX["volume"]]
    taker = current[:, _INDEX["takerBuyBaseAssetVolume"]]
    out[1:, -1] = np.where(volume > 0, taker / np.where(volume > 0, volume, 1.0), 0.5)
    return out


def close_log_returns(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """log(close[row] / close[row - 1]) for each row (every row >= 1), any shape."""
    closes = features[:, CLOSE_INDEX]
    return np.log(closes[rows] / closes[rows - 1])


def cumulative_log_returns(features: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For target rows (samples, K): log(close[row] / close[first - 1]), each step's return
    from the close before the sample's first target."""
    closes = features[:, CLOSE_INDEX]
    return np.log(closes[rows] / closes[rows[:, :1] - 1])


@dataclass(frozen=True)
class Returns(Formulation):
    """Standardisation of the return features, fitted on training rows only."""

    name: ClassVar[str] = "return"
    lead: ClassVar[int] = LEAD

    mean: np.ndarray
    std: np.ndarray
    #: Standard deviation of the training targets' close log returns (the target's unit).
    target_scale: float
    #: Names of the --with pairs' columns after RETURN_FEATURES.
    extra: tuple[str, ...] = ()

    @classmethod
    def check_rows(cls, features: np.ndarray) -> None:
        check_prices(features)

    @classmethod
    def fit(cls, features: np.ndarray, train_targets: np.ndarray, window: int,
            horizon: int = 1, with_pairs: Sequence[str] = ()) -> Returns:
        """Mean and spread of the rows the training samples read (inputs and all K targets),
        nothing newer; BadInput for a price <= 0."""
        cls.check_rows(features)
        first_row = int(train_targets[0]) - window
        last_row = int(train_targets[-1]) + horizon - 1
        rows = return_features(features[first_row - LEAD:last_row + 1])[LEAD:]
        std = rows.std(axis=0)
        target_scale = float(close_log_returns(features, train_targets).std())
        return cls(mean=rows.mean(axis=0), std=np.where(std > 0, std, 1.0),
                   target_scale=target_scale if target_scale > 0 else 1.0,
                   extra=return_names(with_pairs))

    def transform(self, features: np.ndarray) -> np.ndarray:
        return (return_features(features) - self.mean) / self.std

    def model_targets(self, features: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return (cumulative_log_returns(features, rows) / self.target_scale).astype(np.float32)

    def to_returns(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs in log-return units."""
        return np.asarray(outputs, dtype=np.float64) * self.target_scale

    def calibrate(self, features: np.ndarray, rows: np.ndarray,
                  outputs: np.ndarray) -> Shrinkage:
        """The shrinkage factor, on every calibration sample's (samples, K) returns; the test
        reads step 1 only (train/shrinkage.py: the K steps overlap)."""
        return fit_shrinkage(cumulative_log_returns(features, rows), self.to_returns(outputs))

    def to_price(self, outputs: np.ndarray, bases: np.ndarray,
                 factor: float | None = None) -> np.ndarray:
        """last close (``bases``) * exp(factor * predicted return); the K steps of a sample
        share its last close. No factor: the model's return unshrunk."""
        anchors = np.asarray(bases, dtype=np.float64)[:, None]
        return anchors * np.exp((1.0 if factor is None else factor) * self.to_returns(outputs))

    def to_dict(self) -> dict:
        return {"kind": self.name, "features": [*RETURN_FEATURES, *self.extra],
                "mean": self.mean.tolist(), "std": self.std.tolist(),
                "target_scale": self.target_scale}

    @classmethod
    def from_dict(cls, data: dict) -> Returns:
        return cls(np.asarray(data["mean"], dtype=np.float64),
                   np.asarray(data["std"], dtype=np.float64), float(data["target_scale"]),
                   extra=tuple(data.get("features", RETURN_FEATURES)[len(RETURN_FEATURES):]))
