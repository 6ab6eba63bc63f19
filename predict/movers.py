"""Which pairs will move most next hour: pure maths, no database.

Hourly returns are close to unpredictable, their size is not (volatility clusters). A
forecast's band says how far the next close may land: its half-width in % of the last close
is the tool's forecast of the size of the next move. Ranking a market's pairs by it is
scored forward, hour by hour: the cross-sectional Spearman rank correlation between the
forecast sizes and the absolute returns that came, beside the same correlation of a naive
ranking (each pair's realised volatility over the 24 hours before the forecast), and a
one-sided test of whether the tool's ranking beats the naive one on the hourly differences
of the two correlations. Definitions: docs/movers.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from predict.track_record import (
    SIGNIFICANCE,
    hac_variance_of_mean,
    newey_west_lags,
    normal_tail,
)

#: A rank correlation across fewer pairs than this says nothing; such an hour is left out.
MIN_PAIRS = 3
#: Fewer scored hours than this in a window and no test is made ("no evidence").
MIN_HOURS_FOR_TEST = 24
#: The naive ranking's look-back: realised volatility over this many hourly returns.
NAIVE_RETURNS = 24
#: The naive volatility needs at least this many of its returns (the rest: gaps).
MIN_NAIVE_RETURNS = 12
HOUR_MS = 3_600_000
#: The windows the ranking is scored over, ending at the newest scored hour.
MOVERS_WINDOWS: dict[str, int] = {"24h": 24 * HOUR_MS, "7d": 7 * 24 * HOUR_MS,
                                  "30d": 30 * 24 * HOUR_MS}
BEATS_NAIVE, NO_EVIDENCE, NAIVE_BETTER = "beats naive", "no evidence", "naive better"


def expected_move_pct(lower: float | None, upper: float | None, base: float | None
                      ) -> float | None:
    """The forecast size of the next move: the band's half-width in % of the last close
    (``base``); None without a band or a base."""
    if lower is None or upper is None or not base:
        return None
    return (float(upper) - float(lower)) / 2.0 / float(base) * 100.0


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy's rankdata "average")."""
    return row_average_ranks(values[np.newaxis])[0]


def row_average_ranks(matrix: np.ndarray) -> np.ndarray:
    """Per row of a 2-D array, the 1-based average ranks of its values, NaN left out and
    left NaN (scipy's ``rankdata(matrix, axis=1, nan_policy="omit")``), all rows at once
    (a market's first pass ranks a month of hourly cross-sections). Numpy's, because the
    scoring pass imports no scipy (see predict.track_record.normal_tail)."""
    rows, width = matrix.shape
    order = np.argsort(matrix, axis=1, kind="mergesort")  # NaN sorts last
    ordered = np.take_along_axis(matrix, order, axis=1)
    starts_run = np.ones(matrix.shape, bool)  # a row's first value starts a run of ties
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts_run[:, 1:])
    flat_starts = np.flatnonzero(starts_run)
    run_lengths = np.diff(flat_starts, append=matrix.size)
    run_ranks = flat_starts % width + (run_lengths + 1) / 2.0
    ranks = np.empty(matrix.shape)
    np.put_along_axis(ranks, order,
                      run_ranks[np.cumsum(starts_run).reshape(rows, width) - 1], axis=1)
    ranks[np.isnan(matrix)] = np.nan
    return ranks


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties, Pearson's correlation of the
    ranks); None for fewer than MIN_PAIRS values or when either side is constant."""
    if len(first) < MIN_PAIRS or len(first) != len(second):
        return None
    ranks_a = average_ranks(np.asarray(first, dtype=float))
    ranks_b = average_ranks(np.asarray(second, dtype=float))
    centre = (len(ranks_a) + 1) / 2.0  # the mean of any n average ranks
    ranks_a, ranks_b = ranks_a - centre, ranks_b - centre
    norm = math.sqrt(float(ranks_a @ ranks_a) * float(ranks_b @ ranks_b))
    return float(ranks_a @ ranks_b) / norm if norm > 0 else None


def trailing_volatility(open_times: Sequence[int], closes: Sequence[float], step_ms: int,
                        returns: int = NAIVE_RETURNS) -> dict[int, float]:
    """Per candle open time, the realised volatility (root mean square of the log returns,
    in %) of the ``returns`` candle-to-candle returns ending at that candle's close, from
    that close and earlier ones only. A return needs both its candles (a gap drops it);
    a candle with fewer than MIN_NAIVE_RETURNS returns in its look-back gets none."""
    if len(open_times) < 2:
        return {}
    times = np.asarray(open_times, dtype=np.int64)
    first = int(times.min())
    slots = ((times - first) // step_ms).astype(np.int64)
    grid = np.full(int(slots.max()) + 1, np.nan)
    grid[slots] = np.log(np.asarray(closes, dtype=float))
    log_returns = np.diff(grid, prepend=np.nan)  # slot i: the return into candle i
    known = ~np.isnan(log_returns)
    squares = np.cumsum(np.where(known, log_returns**2, 0.0))
    counts = np.cumsum(known)
    found = {}
    for slot in slots:
        start = slot - returns
        total = squares[slot] - (squares[start] if start >= 0 else 0.0)
        count = counts[slot] - (counts[start] if start >= 0 else 0)
        if count >= MIN_NAIVE_RETURNS:
            found[first + int(slot) * step_ms] = math.sqrt(total / count) * 100.0
    return found


def latest_volatility(open_times: Sequence[int], closes: Sequence[float], step_ms: int,
                      returns: int = NAIVE_RETURNS) -> float | None:
    """:func:`trailing_volatility` at the newest candle only (oldest first), in one vector
    pass: what the market page needs of 400 pairs."""
    if len(open_times) < 2:
        return None
    times = np.asarray(open_times, dtype=np.int64)
    logs = np.log(np.asarray(closes, dtype=float))
    keep = (np.diff(times) == step_ms) & (times[1:] > times[-1] - returns * step_ms)
    found = np.diff(logs)[keep]
    if len(found) < MIN_NAIVE_RETURNS:
        return None
    return float(np.sqrt(np.mean(found**2)) * 100.0)


class PairHour(NamedTuple):
    """One pair's forecast hour: the forecast size of its move, the naive size (realised
    volatility before it), and the absolute return that came (all in %)."""

    pair: int
    open_time: int
    forecast_size: float | None
    naive_size: float | None
    realised: float


@dataclass(frozen=True)
class HourCorrelation:
    """One hour's cross-sectional rank correlations across the pairs that had all three
    figures: the tool's ranking and the naive one against the absolute returns."""

    open_time: int
    pairs: int
    spearman: float
    naive_spearman: float


def _row_correlations(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Per row, Pearson's correlation of two matrices of ranks (NaN: not in the row);
    NaN where either row is constant."""
    first = first - np.nanmean(first, axis=1, keepdims=True)
    second = second - np.nanmean(second, axis=1, keepdims=True)
    product = np.nansum(first * second, axis=1)
    norm = np.sqrt(np.nansum(first**2, axis=1) * np.nansum(second**2, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, product / np.where(norm > 0, norm, 1.0), np.nan)


def hourly_correlations(hours: Iterable[PairHour]) -> list[HourCorrelation]:
    """The hours (oldest first) where both rankings have a correlation across the same
    pairs (at least MIN_PAIRS, neither side constant): one hours x pairs matrix per figure,
    ranked row-wise at once (ties share their average rank)."""
    complete = [hour for hour in hours
                if hour.forecast_size is not None and hour.naive_size is not None]
    if not complete:
        return []
    times = sorted({hour.open_time for hour in complete})
    pairs = sorted({hour.pair for hour in complete})
    row_of = {time: index for index, time in enumerate(times)}
    column_of = {pair: index for index, pair in enumerate(pairs)}
    figures = np.full((3, len(times), len(pairs)), np.nan)
    rows = np.fromiter((row_of[hour.open_time] for hour in complete), np.int64)
    columns = np.fromiter((column_of[hour.pair] for hour in complete), np.int64)
    figures[:, rows, columns] = np.array([[hour.forecast_size, hour.naive_size, hour.realised]
                                          for hour in complete], dtype=float).T
    counts = (~np.isnan(figures).any(axis=0)).sum(axis=1)
    ranks = [row_average_ranks(matrix) for matrix in figures]
    tool = _row_correlations(ranks[0], ranks[2])
    naive = _row_correlations(ranks[1], ranks[2])
    keep = (counts >= MIN_PAIRS) & ~np.isnan(tool) & ~np.isnan(naive)
    return [HourCorrelation(times[index], int(counts[index]), float(tool[index]),
                            float(naive[index])) for index in np.flatnonzero(keep)]


@dataclass(frozen=True)
class MoversScore:
    """The ranking's forward score over one window: the mean hourly Spearman correlation
    of the tool's ranking and of the naive one, their mean difference, the one-sided
    p-value of "the tool's is higher" (None: too few hours) and the verdict."""

    window: str
    hours: int
    mean_pairs: float | None
    spearman: float | None
    naive_spearman: float | None
    difference: float | None
    statistic: float | None
    p_value: float | None
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def window_score(window: str, correlations: Sequence[HourCorrelation]) -> MoversScore:
    """The score of one window's hours: a Diebold-Mariano-style test on the differences
    d = tool - naive correlation (mean(d) > 0, Newey-West variance: hours of one volatile
    day are alike), normal approximation, with at least MIN_HOURS_FOR_TEST hours."""
    if not correlations:
        return MoversScore(window, 0, None, None, None, None, None, None, NO_EVIDENCE)
    tool = np.array([c.spearman for c in correlations])
    naive = np.array([c.naive_spearman for c in correlations])
    differences = tool - naive
    statistic = p_value = None
    verdict = NO_EVIDENCE
    if len(differences) >= MIN_HOURS_FOR_TEST:
        variance = hac_variance_of_mean(differences, newey_west_lags(len(differences)))
        if variance > 0:
            statistic = float(differences.mean() / math.sqrt(variance))
            p_value = normal_tail(statistic)
            if p_value < SIGNIFICANCE:
                verdict = BEATS_NAIVE
            elif normal_tail(-statistic) < SIGNIFICANCE:
                verdict = NAIVE_BETTER
    return MoversScore(window, len(correlations),
                       float(np.mean([c.pairs for c in correlations])), float(tool.mean()),
                       float(naive.mean()), float(differences.mean()), statistic, p_value,
                       verdict)


def movers_score(correlations: Sequence[HourCorrelation],
                 windows: dict[str, int] = MOVERS_WINDOWS) -> tuple[int | None, list[MoversScore]]:
    """(as_of, one score per window): windows end at the newest scored hour (data time, as
    the track records do) and hold the hours opened after as_of - length."""
    if not correlations:
        return None, [window_score(name, []) for name in windows]
    as_of = max(c.open_time for c in correlations)
    return as_of, [window_score(name, [c for c in correlations if c.open_time > as_of - length])
                   for name, length in windows.items()]
