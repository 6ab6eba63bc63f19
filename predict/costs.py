"""What a forecast is worth after the cost of trading on it: pure maths, no database.

Closes bounce between bid and ask, so consecutive hourly returns are negatively
autocorrelated and a forecast that leans against the last move beats the last close without
anything a trader could earn after paying the spread. Roll's (1984) estimator reads the
effective spread from that bounce: 2 sqrt(-cov(r_t, r_t-1)). The value after costs trades
the forecast's direction in the hours whose predicted move exceeds the spread and pays the
spread each time. ``after_costs`` turns a pair's ``edge`` into ``edge within the spread``
where that value is not positive with evidence. Definitions: docs/movers.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from predict.movers import normal_tail
from predict.track_record import EDGE, SIGNIFICANCE, hac_variance_of_mean, newey_west_lags

EDGE_WITHIN_SPREAD = "edge within the spread"
#: An edge on a pair whose spread cannot be read from its candles (Roll undefined).
EDGE_SPREAD_UNKNOWN = "edge, spread unknown"
#: Fewer consecutive returns pairs than this and Roll's estimate is not made.
MIN_RETURNS_FOR_SPREAD = 24
#: Fewer traded hours than this and the value after costs gets no test.
MIN_TRADES_FOR_TEST = 10


@dataclass(frozen=True)
class RollSpread:
    """Roll's effective-spread estimate from one pair's closes: ``spread`` as a fraction of
    the price, None when the lag-1 autocovariance is not negative (the estimator is then
    undefined: the returns show no bounce to read a spread from) or with too few returns."""

    spread: float | None
    autocovariance: float | None
    pairs: int

    def to_dict(self) -> dict:
        return asdict(self)


def roll_spread(open_times: Sequence[int], closes: Sequence[float], step_ms: int
                ) -> RollSpread:
    """Roll's estimate from the closes (oldest first): log returns between consecutive
    candles (a gap in the open times drops the returns across it), the sample
    autocovariance of each return with the one before it (both from consecutive candles),
    spread = 2 sqrt(-autocovariance)."""
    times = np.asarray(open_times, dtype=np.int64)
    logs = np.log(np.asarray(closes, dtype=float))
    if len(times) < 3:
        return RollSpread(None, None, 0)
    returns = np.diff(logs)
    consecutive = np.diff(times) == step_ms
    both = consecutive[1:] & consecutive[:-1]
    current, previous = returns[1:][both], returns[:-1][both]
    if len(current) < MIN_RETURNS_FOR_SPREAD:
        return RollSpread(None, None, int(len(current)))
    autocovariance = float(np.mean((current - current.mean()) * (previous - previous.mean())))
    spread = 2.0 * math.sqrt(-autocovariance) if autocovariance < 0 else None
    return RollSpread(spread, autocovariance, int(len(current)))


@dataclass(frozen=True)
class ValueAfterCosts:
    """The forecasts' value after the spread, per traded hour (fractions of the price):
    ``mean`` of sign(forecast - last) x (actual - last) / last - spread over the ``trades``
    hours whose predicted move exceeded the spread (None: none did, or no spread), and the
    one-sided p-value of "mean > 0" (None: too few trades). Doing nothing is worth 0."""

    trades: int
    mean: float | None
    p_value: float | None
    spread: float | None

    @property
    def worth_trading(self) -> bool:
        """Positive after the spread, with evidence (p < SIGNIFICANCE)."""
        return (self.mean is not None and self.mean > 0 and self.p_value is not None
                and self.p_value < SIGNIFICANCE)

    def to_dict(self) -> dict:
        return {**asdict(self), "worth_trading": self.worth_trading}


def value_after_costs(forecasts: Sequence[float], lasts: Sequence[float],
                      actuals: Sequence[float], spread: float | None) -> ValueAfterCosts:
    """Trade each hour whose predicted move |forecast - last| / last exceeds ``spread`` in
    the forecast's direction, pay the spread: the mean of what that earned, with a one-sided
    test of mean > 0 (Newey-West variance, normal approximation)."""
    if spread is None:
        return ValueAfterCosts(0, None, None, None)
    forecast = np.asarray(forecasts, dtype=float)
    last = np.asarray(lasts, dtype=float)
    actual = np.asarray(actuals, dtype=float)
    predicted = (forecast - last) / last
    traded = np.abs(predicted) > spread
    earned = np.sign(predicted[traded]) * (actual[traded] - last[traded]) / last[traded] - spread
    if len(earned) == 0:
        return ValueAfterCosts(0, None, None, spread)
    p_value = None
    if len(earned) >= MIN_TRADES_FOR_TEST:
        variance = hac_variance_of_mean(earned, newey_west_lags(len(earned)))
        if variance > 0:
            p_value = normal_tail(float(earned.mean()) / math.sqrt(variance))
    return ValueAfterCosts(int(len(earned)), float(earned.mean()), p_value, spread)


def after_costs(verdict: str, value: ValueAfterCosts | None) -> str:
    """The verdict a trader reads: ``edge`` stays only where the forecasts' predicted moves
    are worth trading after the spread (:attr:`ValueAfterCosts.worth_trading`); otherwise
    it becomes ``edge within the spread``, or ``edge, spread unknown`` where there is no
    spread to pay (Roll's estimator undefined: no claim either way). Every other verdict is
    left as it is."""
    if verdict != EDGE:
        return verdict
    if value is None or value.spread is None:
        return EDGE_SPREAD_UNKNOWN
    if not value.worth_trading:
        return EDGE_WITHIN_SPREAD
    return EDGE
