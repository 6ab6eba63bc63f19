"""Prediction intervals: how far the next close may land from the forecast. Pure numpy.

Why a band and not only a point: hourly returns are close to unpredictable, but their *size*
is not; volatility clusters (calm hours follow calm hours). A band that widens in turbulent
hours can be right about the risk while the point forecast has no edge at all.

Method (split conformal, scaled by a volatility forecast):

1. Volatility. :func:`volatility_scales` forecasts the size of the next hour's log return
   from the closes up to the forecast's base candle only: the mean of four exponentially
   weighted averages of absolute log returns, decays :data:`VOLATILITY_DECAYS` (half-lives
   of about 2, 7, 23 and 138 hours), a short memory for shocks and a long one for the level,
   like the HAR models of realised volatility. Why not the RiskMetrics EWMA of squared
   returns (lambda 0.94): absolute returns are less dominated by the one wild hour than
   squares, and the mixture of speeds follows volatility's long memory; the comparison on
   Winkler score (and an hour-of-day factor that made the bands worse) is in
   docs/intervals.md (bench/intervals.py).
2. Calibration. On the validation slice only, each forecast's residual in log-return units,
   ``log(actual / forecast)`` (the same as the actual minus the forecast return from the base
   close), is divided by its sample's volatility scale. The band's bounds are the
   conformal order statistics of these standardised residuals, per level and per step
   (a step h of a K-step forecast has its own, wider quantiles): for miss rate ``alpha = 1 -
   level`` the ``floor((n + 1) alpha / 2)``-th smallest and the ``ceil((n + 1)(1 - alpha /
   2))``-th smallest, which cover at least ``level`` of exchangeable new residuals.
3. Band. ``forecast * exp(scale * lower)`` .. ``forecast * exp(scale * upper)`` with the
   scale of the band's own base candle: positive, and always around the forecast (the lower
   bound is forced below 0 and the upper above, by at least :data:`MIN_HALF_WIDTH`).

Nothing here reads a test row: :func:`calibrate` sees only the validation actuals, forecasts
and scales it is handed, and a volatility scale reads only the closes up to its base candle.

Naive bands (no model, the forecast is the last close), the baselines a model's band must
beat: ``static``, the empirical quantiles of the last :data:`STATIC_WINDOW` log returns, and
``ewma``, the same returns divided by a RiskMetrics volatility (squared returns, lambda
:data:`RISKMETRICS_DECAY`) and multiplied back by today's (filtered historical simulation).

Scores (:func:`score_band`): coverage (share of actual closes inside), mean width and mean
Winkler score, both in % of the base close so pairs compare. The Winkler score of one band
is its width plus ``2 / alpha`` times the distance by which the close missed it: narrow
bands win only if they still cover. Interval skill = 1 - Winkler / Winkler of ``static``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coinlstm.core.columns import STORED_LEVELS
from coinlstm.core.errors import BadInput

#: Levels a band is given for by default: those with columns of their own (80 %, 95 %).
DEFAULT_LEVELS: tuple[float, ...] = STORED_LEVELS
#: Decays of the exponentially weighted mean absolute returns averaged into the scale.
VOLATILITY_DECAYS: tuple[float, ...] = (0.7, 0.9, 0.97, 0.995)
#: The RiskMetrics decay of the ``ewma`` baseline.
RISKMETRICS_DECAY = 0.94
#: Returns the naive bands read (20 days of hours, the validation slice's default size).
STATIC_WINDOW = 480
#: Samples of the calibration slice by default (40 days of hours), for the shrinkage and the
#: bands alike. Why so many: the shrinkage's t test needs them to see a weak edge (the
#: backtests behind this choice are in docs/intervals.md); the bands cover as well with
#: fewer. The cost: training ends 960 samples before the test slice.
DEFAULT_CALIBRATION_SIZE = 960
#: Least volatility scale (log-return units): a pair whose price never moved still gets a
#: band of positive width instead of a division by zero.
MIN_SCALE = 1e-6
#: Least distance (in scale units) of each bound from the forecast, so the band contains it.
MIN_HALF_WIDTH = 1e-3
#: Least distance (log-return units) of a naive band's bounds from the last close.
MIN_LOG_HALF_WIDTH = MIN_SCALE * MIN_HALF_WIDTH
#: Least share of the base close a forecast is floored at before a band is put around it
#: (a level model, --target close, can forecast a price <= 0; its band stays positive).
MIN_FORECAST_SHARE = 1e-6


def parse_levels(text: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.8,0.95"`` -> (0.8, 0.95), sorted and unique; BadInput for anything not in (0, 1)."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    levels = []
    for part in parts:
        try:
            level = float(part)
        except ValueError:
            raise BadInput(f"--levels: {part!r} is not a number (e.g. --levels 0.8,0.95)") \
                from None
        if not 0.0 < level < 1.0 or not math.isfinite(level):
            raise BadInput(f"--levels: {part!r} is not between 0 and 1 (exclusive), e.g. 0.8")
        levels.append(round(level, 6))
    if not levels:
        raise BadInput("--levels: give at least one level, e.g. --levels 0.8,0.95")
    return tuple(sorted(set(levels)))


def format_levels(levels: Sequence[float]) -> str:
    """The flag value that :func:`parse_levels` reads back to ``levels``."""
    return ",".join(f"{level:g}" for level in levels)


def log_returns(closes: np.ndarray) -> np.ndarray:
    """log(close[i] / close[i - 1]) at index i; index 0 has none (NaN).

    A maintenance gap makes one return span more than an hour; it is kept as it is (a jump
    over a gap is real risk for the next hour too)."""
    closes = np.asarray(closes, dtype=np.float64)
    out = np.full(len(closes), np.nan)
    out[1:] = np.log(closes[1:] / closes[:-1])
    return out


#: Values per block of :func:`decayed_sums`: decay ** (BLOCK - 1) stays far from underflow for
#: every decay the bands use, and a block's matrix is small.
BLOCK = 128


def ewma(values: np.ndarray, decay: float) -> np.ndarray:
    """Exponentially weighted mean of ``values[1..i]`` at each index i (index 0: NaN), bias
    corrected (weights normalised to 1), so the first rows need no start value from later
    data."""
    out = np.full(len(values), np.nan)
    if len(values) > 1:
        rest = np.asarray(values[1:], dtype=np.float64)
        # The weights' sums, 1 + decay + ... + decay ** i, in closed form.
        weights = (1.0 - decay ** np.arange(1, len(rest) + 1)) / (1.0 - decay)
        out[1:] = decayed_sums(rest, decay) / weights
    return out


def decayed_sums(values: np.ndarray, decay: float) -> np.ndarray:
    """``s[i] = decay * s[i - 1] + values[i]`` (``s[-1] = 0``) for every i, by blocks instead
    of a Python loop over the history (every replayed hour computes it over thousands of
    candles): within a block a lower-triangular matrix of powers of ``decay``, across
    blocks one carry per block. The same sums up to float64 round-off."""
    n = len(values)
    blocks = -(-n // BLOCK)
    padded = np.zeros(blocks * BLOCK)
    padded[:n] = values
    within_block, after_block = _block_powers(decay)
    within = padded.reshape(blocks, BLOCK) @ within_block
    carry, carried = 0.0, np.empty(blocks)
    step = decay ** BLOCK
    for block in range(blocks):  # what the blocks before hand on (a few dozen of them)
        carried[block] = carry
        carry = step * carry + within[block, -1]
    sums = within + carried[:, None] * after_block
    return sums.reshape(-1)[:n]


@functools.lru_cache(maxsize=16)
def _block_powers(decay: float) -> tuple[np.ndarray, np.ndarray]:
    """(``decay ** (j - k)`` at [k, j] for k <= j, else 0; ``decay ** (j + 1)`` at j) for a
    block of :data:`BLOCK` values: the same few decays every hour."""
    lags = np.arange(BLOCK)[None, :] - np.arange(BLOCK)[:, None]
    within = np.where(lags >= 0, decay ** np.maximum(lags, 0), 0.0)
    return within, decay ** np.arange(1, BLOCK + 1)[None, :]


def volatility_scales(closes: np.ndarray, decays: Sequence[float] = VOLATILITY_DECAYS
                      ) -> np.ndarray:
    """The forecast size of the log return after each candle, from that candle's close and
    earlier ones only (module doc, step 1); index 0 (no return yet) gets index 1's."""
    absolute = np.abs(log_returns(closes))
    scales = np.mean([ewma(absolute, decay) for decay in decays], axis=0)
    if len(scales) > 1:
        scales[0] = scales[1]
    return np.maximum(np.nan_to_num(scales, nan=MIN_SCALE), MIN_SCALE)


def riskmetrics_scales(closes: np.ndarray, decay: float = RISKMETRICS_DECAY) -> np.ndarray:
    """RiskMetrics volatility (root of the EWMA of squared log returns) after each candle."""
    squared = log_returns(closes) ** 2
    scales = np.sqrt(ewma(squared, decay))
    if len(scales) > 1:
        scales[0] = scales[1]
    return np.maximum(np.nan_to_num(scales, nan=MIN_SCALE), MIN_SCALE)


def _as_steps(values: np.ndarray) -> np.ndarray:
    """(samples,) -> (samples, 1); (samples, K) unchanged."""
    values = np.asarray(values, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


def conformal_bounds(standardised: np.ndarray, level: float) -> tuple[float, float]:
    """The lower and upper conformal order statistics of one step's standardised residuals
    (module doc, step 2), forced to either side of 0.

    With fewer than ``2 / alpha - 1`` residuals the finite-sample rank lies beyond the
    sample; the extreme residual is used then (such a band covers less than ``level``)."""
    ordered = np.sort(standardised[np.isfinite(standardised)])
    n = len(ordered)
    if n == 0:
        raise ValueError("no finite residual to calibrate a band on")
    alpha = 1.0 - level
    low_rank = math.floor((n + 1) * alpha / 2)
    high_rank = math.ceil((n + 1) * (1 - alpha / 2))
    lower = ordered[min(max(low_rank, 1), n) - 1]
    upper = ordered[min(high_rank, n) - 1]
    return min(float(lower), -MIN_HALF_WIDTH), max(float(upper), MIN_HALF_WIDTH)


@dataclass(frozen=True)
class Band:
    """Lower and upper closes of one level, each shaped like the forecasts they surround."""

    level: float
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class IntervalCalibration:
    """Standardised-residual bounds per level and step, fitted on validation forecasts."""

    levels: tuple[float, ...]
    #: (levels, K): the lower bound of each level and step, in volatility-scale units (< 0).
    lower: np.ndarray
    #: (levels, K): the upper bound (> 0).
    upper: np.ndarray
    #: Validation samples the bounds were fitted on.
    samples: int

    def bands(self, forecasts: np.ndarray, bases: np.ndarray, scales: np.ndarray
              ) -> list[Band]:
        """The band of every level around ``forecasts`` ((samples,) or (samples, K), their
        base closes ``bases`` and volatility scales ``scales``, one per sample)."""
        one_step = np.ndim(forecasts) == 1
        points = _as_steps(forecasts)
        if points.shape[1] != self.lower.shape[1]:
            raise ValueError(f"forecasts of {points.shape[1]} steps, calibration of "
                             f"{self.lower.shape[1]}")
        floor = np.asarray(bases, dtype=np.float64)[:, None] * MIN_FORECAST_SHARE
        points = np.maximum(points, floor)
        scale = np.asarray(scales, dtype=np.float64)[:, None]
        out = []
        for index, level in enumerate(self.levels):
            lower = points * np.exp(scale * self.lower[index][None, :])
            upper = points * np.exp(scale * self.upper[index][None, :])
            if one_step:
                lower, upper = lower[:, 0], upper[:, 0]
            out.append(Band(level, lower, upper))
        return out

    def to_dict(self) -> dict:
        return {"levels": list(self.levels), "lower": self.lower.tolist(),
                "upper": self.upper.tolist(), "samples": self.samples,
                "method": "split conformal on validation residuals / volatility scale",
                "volatility_decays": list(VOLATILITY_DECAYS)}

    @classmethod
    def from_dict(cls, data: dict) -> IntervalCalibration:
        return cls(tuple(float(v) for v in data["levels"]),
                   np.asarray(data["lower"], dtype=np.float64),
                   np.asarray(data["upper"], dtype=np.float64), int(data["samples"]))


def calibrate(actual: np.ndarray, forecasts: np.ndarray, bases: np.ndarray,
              scales: np.ndarray, levels: Sequence[float] = DEFAULT_LEVELS
              ) -> IntervalCalibration:
    """Bounds from validation forecasts only: actual closes, forecast closes, the closes they
    were based on and their samples' volatility scales (module doc, step 2)."""
    actual = _as_steps(actual)
    floor = np.asarray(bases, dtype=np.float64)[:, None] * MIN_FORECAST_SHARE
    points = np.maximum(_as_steps(forecasts), floor)
    if actual.shape != points.shape or len(actual) == 0:
        raise ValueError("actual and forecasts must be equal, non-empty shapes")
    standardised = np.log(actual / points) / np.asarray(scales, dtype=np.float64)[:, None]
    levels = tuple(levels)
    bounds = np.array([[conformal_bounds(standardised[:, step], level)
                        for step in range(actual.shape[1])] for level in levels])
    return IntervalCalibration(levels, bounds[:, :, 0], bounds[:, :, 1], len(actual))


def naive_bands(closes: np.ndarray, base_rows: np.ndarray, levels: Sequence[float],
                scales: np.ndarray | None = None, horizon: int = 1,
                window: int = STATIC_WINDOW) -> list[Band]:
    """Bands around the last close from the ``window`` returns before each base row only.

    ``scales`` None: ``static``, the empirical quantiles of the last ``window`` h-step log
    returns. Otherwise (e.g. :func:`riskmetrics_scales`, the ``ewma`` baseline) each past
    return is divided by the scale of its own base candle and the quantiles are multiplied
    by the scale of the band's base (filtered historical simulation). Each base row needs
    ``window + horizon`` earlier candles; a shorter history uses what there is (at least 2).
    Bands have shape (len(base_rows), K), K = 1 included, like every forecast.
    """
    closes = np.asarray(closes, dtype=np.float64)
    base_rows = np.asarray(base_rows, dtype=np.int64)
    unit = np.ones(len(closes)) if scales is None else np.asarray(scales, dtype=np.float64)
    logs = np.log(closes)
    probabilities = [p for level in levels for p in ((1 - level) / 2, (1 + level) / 2)]
    lower = np.empty((len(levels), len(base_rows), horizon))
    upper = np.empty_like(lower)
    for step in range(1, horizon + 1):
        # standardised[j]: the h-step return from row j to row j + h over row j's scale.
        standardised = (logs[step:] - logs[:-step]) / unit[:-step]
        for sample, row in enumerate(base_rows):
            # Returns ending at or before the base row: from rows <= row - h.
            first = max(0, row - step + 1 - window)
            history = standardised[first:max(first, row - step + 1)]
            if len(history) < 2:
                raise ValueError(f"row {row} has fewer than 2 earlier {step}-step returns")
            quantiles = np.quantile(history, probabilities).reshape(len(levels), 2)
            least = MIN_LOG_HALF_WIDTH / unit[row]
            lower[:, sample, step - 1] = np.minimum(quantiles[:, 0], -least)
            upper[:, sample, step - 1] = np.maximum(quantiles[:, 1], least)
    base = closes[base_rows][:, None]
    scale = unit[base_rows][:, None]
    out = []
    for index, level in enumerate(levels):
        low = base * np.exp(scale * lower[index])
        high = base * np.exp(scale * upper[index])
        out.append(Band(level, low, high))
    return out


@dataclass(frozen=True)
class IntervalScore:
    """How one level's bands did on the actual closes."""

    level: float
    #: Share of actual closes inside [lower, upper].
    coverage: float
    #: Mean band width, % of the base close.
    width: float
    #: Mean Winkler score, % of the base close (lower is better).
    winkler: float
    samples: int

    def to_dict(self) -> dict:
        return {"level": self.level, "coverage": self.coverage, "width": self.width,
                "winkler": self.winkler, "samples": self.samples}


def winkler_scores(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   level: float) -> np.ndarray:
    """Width plus 2 / alpha times the miss, per band (price units)."""
    alpha = 1.0 - level
    return (upper - lower) + (2.0 / alpha) * (np.maximum(lower - actual, 0.0)
                                              + np.maximum(actual - upper, 0.0))


def score_band(actual: np.ndarray, band: Band, bases: np.ndarray) -> IntervalScore:
    """Coverage, width and Winkler score of ``band`` on ``actual`` (all steps of all samples,
    width and Winkler relative to each sample's base close)."""
    actual = _as_steps(actual)
    lower, upper = _as_steps(band.lower), _as_steps(band.upper)
    if not actual.shape == lower.shape == upper.shape or actual.size == 0:
        raise ValueError("actual and band must be equal, non-empty shapes")
    base = np.asarray(bases, dtype=np.float64)[:, None]
    inside = (lower <= actual) & (actual <= upper)
    return IntervalScore(
        level=band.level, coverage=float(np.mean(inside)),
        width=float(np.mean((upper - lower) / base)) * 100.0,
        winkler=float(np.mean(winkler_scores(actual, lower, upper, band.level) / base)) * 100.0,
        samples=int(actual.size))


def interval_skill(winkler: float, static_winkler: float) -> float | None:
    """1 - Winkler / Winkler of ``static``: above 0 the band beats the naive static one."""
    if not static_winkler > 0:
        return None
    return 1.0 - winkler / static_winkler


@dataclass(frozen=True)
class ForecastBands:
    """A forecast's bands: per level, around every test forecast and the next one."""

    #: "conformal" (calibrated on held-out forecasts), or the naive "static" / "ewma".
    method: str
    #: One band per level, (test samples, K) each.
    test: tuple[Band, ...]
    #: One band per level, (1, K) each: the K closes after the newest candle.
    next: tuple[Band, ...]
    #: The conformal bounds (None for the naive bands, which calibrate every hour).
    calibration: IntervalCalibration | None = None

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(band.level for band in self.test)

    def scores(self, actual: np.ndarray, bases: np.ndarray) -> tuple[IntervalScore, ...]:
        """Each level's coverage, width and Winkler score on the test slice."""
        return tuple(score_band(actual, band, bases) for band in self.test)

    def next_band(self, level: float) -> Band | None:
        """The next closes' band of ``level`` (None when that level was not asked for)."""
        return next((band for band in self.next if math.isclose(band.level, level)), None)


def first_steps(bands: Sequence[Band]) -> list[Band]:
    """Each band's first step, (samples,): what a one-line plot of the test slice draws."""
    return [Band(band.level, band.lower[:, 0], band.upper[:, 0]) for band in bands]
