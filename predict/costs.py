"""What a forecast is worth after the cost of trading on it: pure maths, no database.

Closes bounce between bid and ask, so consecutive hourly returns are negatively
autocorrelated and a forecast that leans against the last move beats the last close without
anything a trader could earn after paying the spread. Three estimators read the effective
spread from klines: Roll's (1984) from that bounce, 2 sqrt(-cov(r_t, r_t-1)); Corwin and
Schultz's (2012) from the high-low ranges of consecutive candles; Abdi and Ranaldo's (2017)
from the closes against the candles' mid-ranges. The tool prices trades with Corwin-Schultz
(:func:`effective_spread`: defined on every real pair-month measured and the steadiest from
month to month) and shows Roll's beside it. The value after costs trades the forecast's
direction in the hours whose predicted move exceeds the spread and pays the spread each
time; :func:`tradability` is what the verdict (predict/track_record.py) asks of an edge.
Definitions and the measurement: docs/movers.md, docs/evidence.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from predict.track_record import (
    SIGNIFICANCE,
    Tradability,
    hac_variance_of_mean,
    newey_west_lags,
    normal_tail,
)

#: The estimator whose spread prices the trades (and the verdict's tradability).
SPREAD_ESTIMATOR = "corwin-schultz"
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


def _consecutive_pairs(open_times: Sequence[int], step_ms: int) -> np.ndarray:
    """Mask of candle pairs (t, t+1) that are consecutive: a gap breaks the pair across it."""
    return np.diff(np.asarray(open_times, dtype=np.int64)) == step_ms


@dataclass(frozen=True)
class HighLowSpread:
    """A high-low spread estimate from one pair's candles: ``spread`` as a fraction of the
    price (None: the estimator is undefined on these candles, or too few pairs of
    consecutive candles), ``moment`` the mean it is read from (the estimator's own:
    4 E[...] for Abdi-Ranaldo, the mean two-candle estimate for Corwin-Schultz), ``pairs``
    the pairs of consecutive candles used."""

    spread: float | None
    moment: float | None
    pairs: int


def abdi_ranaldo_spread(open_times: Sequence[int], highs: Sequence[float],
                        lows: Sequence[float], closes: Sequence[float], step_ms: int
                        ) -> HighLowSpread:
    """Abdi and Ranaldo's (2017) close-high-low estimator: with c_t the log close and
    eta_t = (log high_t + log low_t) / 2 the log mid-range of candle t, the squared spread
    is 4 E[(c_t - eta_t)(c_t - eta_t+1)] over pairs of consecutive candles; the spread its
    root, undefined (None) where that mean is not positive. The mid-range stands in for
    the unobserved efficient price, so unlike Roll's no return autocorrelation from
    anything but the bounce enters."""
    close = np.log(np.asarray(closes, dtype=float))
    mid = (np.log(np.asarray(highs, dtype=float)) + np.log(np.asarray(lows, dtype=float))) / 2
    if len(close) < 2:
        return HighLowSpread(None, None, 0)
    both = _consecutive_pairs(open_times, step_ms)
    products = ((close[:-1] - mid[:-1]) * (close[:-1] - mid[1:]))[both]
    if len(products) < MIN_RETURNS_FOR_SPREAD:
        return HighLowSpread(None, None, int(len(products)))
    moment = 4.0 * float(products.mean())
    return HighLowSpread(math.sqrt(moment) if moment > 0 else None, moment, int(len(products)))


#: 3 - 2 sqrt(2), the denominator of Corwin and Schultz's alpha.
_CS_K = 3.0 - 2.0 * math.sqrt(2.0)


def corwin_schultz_spread(open_times: Sequence[int], highs: Sequence[float],
                          lows: Sequence[float], closes: Sequence[float], step_ms: int
                          ) -> HighLowSpread:
    """Corwin and Schultz's (2012) high-low estimator: per pair of consecutive candles,
    beta = sum of the two squared log high/low ranges, gamma = the squared log range of the
    two together, alpha = (sqrt(2 beta) - sqrt(beta)) / (3 - 2 sqrt 2) - sqrt(gamma /
    (3 - 2 sqrt 2)), S = 2 (e^alpha - 1) / (1 + e^alpha); negative estimates set to 0 and
    the mean taken, as in the paper. The second candle's range is first shifted by the gap
    from the first candle's close when it opened beyond it (the paper's overnight
    adjustment). None where the mean is 0 (no range to read a spread from)."""
    high = np.asarray(highs, dtype=float)
    low = np.asarray(lows, dtype=float)
    close = np.asarray(closes, dtype=float)
    if len(close) < 2:
        return HighLowSpread(None, None, 0)
    both = _consecutive_pairs(open_times, step_ms)
    shift = (np.maximum(close[:-1] - high[1:], 0.0) - np.maximum(low[1:] - close[:-1], 0.0))
    high2, low2 = high[1:] + shift, low[1:] + shift
    beta = np.log(high[:-1] / low[:-1]) ** 2 + np.log(high2 / low2) ** 2
    gamma = np.log(np.maximum(high[:-1], high2) / np.minimum(low[:-1], low2)) ** 2
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_K - np.sqrt(gamma / _CS_K)
    estimates = np.maximum(2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha)), 0.0)[both]
    if len(estimates) < MIN_RETURNS_FOR_SPREAD:
        return HighLowSpread(None, None, int(len(estimates)))
    mean = float(estimates.mean())
    return HighLowSpread(mean if mean > 0 else None, mean, int(len(estimates)))


def effective_spread(open_times: Sequence[int], highs: Sequence[float], lows: Sequence[float],
                     closes: Sequence[float], step_ms: int) -> HighLowSpread:
    """The spread the tool prices trades with (SPREAD_ESTIMATOR: Corwin-Schultz)."""
    return corwin_schultz_spread(open_times, highs, lows, closes, step_ms)


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


def tradability(value: ValueAfterCosts | None) -> Tradability:
    """What an edge's predicted moves are worth after the spread: worth trading (positive
    with evidence, :attr:`ValueAfterCosts.worth_trading`), within the spread, or spread
    unknown where there is no spread to pay (none estimated: no claim either way)."""
    if value is None or value.spread is None:
        return Tradability.SPREAD_UNKNOWN
    return Tradability.WORTH_TRADING if value.worth_trading else Tradability.WITHIN_SPREAD
