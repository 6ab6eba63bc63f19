"""A forecaster's forward track record: pure maths on scored forecasts, no database.

A test-slice skill says how a model did on candles it was tuned around; the track record
says how the forecasts the tool actually published did against the closes that came, beside
the naive forecast (next close = last close). The verdict claims an ``edge`` only when a
Diebold-Mariano test says the model's squared errors are smaller than the naive ones, on
enough forecasts; ``worse`` when it says the opposite; otherwise ``no evidence``. A market
tests hundreds of pairs at once, so the p-values a verdict reads are Benjamini-Hochberg
adjusted across the market's pairs (:func:`market_verdicts`): of the pairs called ``edge``,
at most a share FDR is expected to be chance. A window judged alone is a market of one
(its adjusted p-values are its raw ones). Beating the last close is not yet an edge a
trader can use: closes bounce between bid and ask, and a forecast that leans against the
last move beats the last close inside the spread. So an edge stays ``edge`` only where the
predicted moves are worth trading after the spread (:class:`Tradability`, measured by
predict/costs.py); otherwise the verdict says ``within spread`` (or ``spread unknown``).
:func:`verdict` is the one place that rule lives.

Bands are scored forward too: per level, the share of the window's banded forecasts whose
close fell inside the band (its forward coverage, to read beside the nominal level), how
many had a band, and their mean width. Forecasts without a band count in none of these,
so a window without any band has coverage None, never 0.
Definitions and a worked example: docs/track-record.md.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from coinlstm.core.columns import record_band_columns

#: At least this many scored forecasts in the window (a week of hours) before ``edge``.
MIN_SCORED_FOR_EDGE = 168
#: The false-discovery rate ``edge`` and ``worse`` control across a market's pairs: the
#: Benjamini-Hochberg level q of the one-sided Diebold-Mariano p-values.
FDR = 0.10
#: The level of a single test that is not one of many pairs' edge claims: the movers
#: ranking against the naive one (one per market), a pair's value after the spread (asked
#: only of a pair whose edge already survived the market's FDR).
SIGNIFICANCE = 0.05
#: Fewer losses than this and no test is made (the HAC variance needs a few lags' worth).
MIN_SCORED_FOR_TEST = 10
EDGE, WORSE, NO_EVIDENCE = "edge", "worse", "no evidence"
#: A scored forecast's source: published by the hourly job, or replayed by the backfill. For
#: the same candle a live forecast counts over a backfilled one.
LIVE, BACKFILL = "live", "backfill"
#: Beats the last close, but the predicted moves are not worth trading after the spread.
EDGE_WITHIN_SPREAD = "within spread"
#: Beats the last close, but the pair's spread cannot be read from its candles: no claim
#: either way about trading on it.
EDGE_SPREAD_UNKNOWN = "spread unknown"
#: Every verdict a stored track record can hold (each fits its 16-character column).
VERDICTS = (EDGE, EDGE_WITHIN_SPREAD, EDGE_SPREAD_UNKNOWN, WORSE, NO_EVIDENCE)


class Tradability(enum.Enum):
    """What the spread says of a series' predicted moves (predict/costs.py measures it):
    worth trading after it with evidence, not, or no spread to pay could be read."""

    WORTH_TRADING = "worth trading"
    WITHIN_SPREAD = "within spread"
    SPREAD_UNKNOWN = "spread unknown"


@dataclass(frozen=True)
class DieboldMariano:
    """The test of mean(d) = 0 for the loss differential d = model error^2 - naive error^2.

    ``p_better`` is the one-sided p-value for "the model's mean squared error is below the
    naive one's" (small when d is clearly negative), ``p_worse`` the one for the opposite.
    """

    statistic: float
    p_better: float
    p_worse: float
    lags: int


def newey_west_lags(n: int) -> int:
    """Newey and West's (1994) automatic bandwidth floor(4 (n/100)^(2/9))."""
    return int(math.floor(4 * (n / 100.0) ** (2.0 / 9.0))) if n > 0 else 0


def hac_variance_of_mean(values: np.ndarray, lags: int) -> float:
    """Newey-West (Bartlett kernel) estimate of Var(mean(values)).

    Hourly forecast errors are autocorrelated (volatility clusters), so the plain variance
    of the mean would overstate the evidence; the Bartlett weights 1 - k/(lags+1) keep the
    estimate non-negative.
    """
    n = len(values)
    centred = values - values.mean()
    long_run = float(centred @ centred) / n
    for k in range(1, min(lags, n - 1) + 1):
        gamma = float(centred[k:] @ centred[:-k]) / n
        long_run += 2.0 * (1.0 - k / (lags + 1.0)) * gamma
    return long_run / n


def diebold_mariano(errors: Sequence[float], naive_errors: Sequence[float],
                    lags: int | None = None) -> DieboldMariano | None:
    """The DM test of squared errors against naive; None with too few forecasts or when the
    two loss series do not differ at all (nothing to test)."""
    model = np.asarray(errors, dtype=float)
    naive = np.asarray(naive_errors, dtype=float)
    if len(model) < MIN_SCORED_FOR_TEST:
        return None
    differential = model**2 - naive**2
    lags = newey_west_lags(len(differential)) if lags is None else lags
    return dm_test(float(differential.mean()), hac_variance_of_mean(differential, lags), lags)


def dm_test(mean: float, variance: float, lags: int) -> DieboldMariano | None:
    """The DM test of a loss differential of this mean and HAC variance of its mean; None
    when the variance is not positive (the two loss series do not differ)."""
    if not variance > 0:
        return None
    statistic = mean / math.sqrt(variance)
    return DieboldMariano(statistic=statistic, p_better=normal_tail(-statistic),
                          p_worse=normal_tail(statistic), lags=lags)


def normal_tail(statistic: float) -> float:
    """P(Z > statistic) for a standard normal Z, from math.erfc (accurate in both tails).
    The scoring pass and the dashboard import no scipy: scipy.stats alone would about double
    the hourly job's driver's memory (docs/performance.md)."""
    return 0.5 * math.erfc(statistic / math.sqrt(2.0))


@dataclass(frozen=True)
class BandSeries:
    """One level's band outcomes of a series' scored forecasts, oldest first: whether the
    close fell inside (None: the forecast had no band of this level) and the band's width
    in % of the last close (None likewise); or the same as float arrays, NaN for None."""

    level: float
    inside: Sequence[bool | None]
    widths: Sequence[float | None]


@dataclass(frozen=True)
class BandRecord:
    """One level's forward band figures in one window."""

    level: float
    #: Forecasts of the window that had a band of this level.
    banded: int
    #: Share of those whose close fell inside the band; None when none had a band.
    coverage: float | None
    #: Their mean band width, % of the last close; None when none had a band.
    width: float | None

    def columns(self) -> dict:
        """{"coverage_80": ..., "banded_80": ..., "width_80": ...}: the stored columns."""
        return dict(zip(record_band_columns(self.level),
                        (self.coverage, self.banded, self.width), strict=True))


def _as_floats(values: Sequence) -> np.ndarray:
    """Flags or figures with None as floats with NaN (True 1, False 0): one vector pass."""
    return np.asarray(values, dtype=float)


def band_record(level: float, inside: Sequence[bool | None],
                widths: Sequence[float | None]) -> BandRecord:
    """The band figures of one window from its forecasts' outcomes (None: no band)."""
    hits, sizes = _as_floats(inside), _as_floats(widths)
    banded = ~np.isnan(hits)
    count = int(banded.sum())
    if count == 0:
        return BandRecord(level, 0, None, None)
    known = sizes[~np.isnan(sizes)]
    return BandRecord(level, count, float(hits[banded].mean()),
                      float(known.mean()) if known.size else None)


@dataclass(frozen=True)
class WindowRecord:
    """One window of a track record: what the API's track-record list holds."""

    window: str
    scored: int
    rmse: float | None
    naive_rmse: float | None
    skill: float | None
    mae: float | None
    naive_mae: float | None
    direction: float | None
    moved: int
    dm_stat: float | None
    dm_pvalue: float | None
    dm_pvalue_worse: float | None
    verdict: str
    #: Forward band figures per level (empty when the caller gave no band outcomes).
    bands: tuple[BandRecord, ...] = field(default=())
    #: The DM p-values Benjamini-Hochberg adjusted across the market's pairs (the window
    #: judged alone: the raw ones); what ``verdict`` compares with FDR.
    dm_pvalue_adjusted: float | None = None
    dm_pvalue_worse_adjusted: float | None = None
    #: What the window rests on: its scored forecasts published live and backfilled (None:
    #: not counted, the caller gave no sources).
    scored_live: int | None = None
    scored_backfill: int | None = None

    def evidence(self) -> Evidence:
        """What the verdict of this window reads, for :func:`market_verdicts`."""
        return Evidence(self.scored, self.skill, self.dm_pvalue, self.dm_pvalue_worse)

    def to_dict(self) -> dict:
        """The flat row the track_records table and the API hold: every figure, and each
        level's band figures under its columns' names (coverage_80, banded_80, ...)."""
        row = {item.name: getattr(self, item.name) for item in fields(self)
               if item.name != "bands"}
        for band in self.bands:
            row.update(band.columns())
        return row


def verdict(scored: int, skill: float | None, p_better: float | None,
            p_worse: float | None, tradability: Tradability | None = None) -> str:
    """``edge`` only with MIN_SCORED_FOR_EDGE forecasts, skill > 0, the adjusted DM
    p (better) <= FDR and predicted moves worth trading after the spread; such a record
    whose moves are not is ``within spread``, and ``spread unknown`` where no spread could
    be read. ``worse`` when the adjusted p (worse) <= FDR; else ``no evidence`` (also
    without a test: None). ``tradability`` None: the statistical claim alone, before
    costs (what a study of the test itself counts; every stored verdict is asked it)."""
    if (p_better is not None and scored >= MIN_SCORED_FOR_EDGE and skill is not None
            and skill > 0 and p_better <= FDR):
        if tradability is None or tradability is Tradability.WORTH_TRADING:
            return EDGE
        if tradability is Tradability.WITHIN_SPREAD:
            return EDGE_WITHIN_SPREAD
        return EDGE_SPREAD_UNKNOWN
    if p_worse is not None and p_worse <= FDR:
        return WORSE
    return NO_EVIDENCE


def benjamini_hochberg(pvalues: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values, in the order given; None (no test) stays None
    and is no hypothesis: m counts the p-values given.

    The i-th smallest of m p-values becomes min over j >= i of p_(j) m / j, capped at 1, so
    "adjusted p <= q" rejects exactly the hypotheses the step-up procedure at level q
    rejects, and the false-discovery rate among them is at most q for independent (or
    positively dependent) tests.
    """
    tested = [(p, index) for index, p in enumerate(pvalues) if p is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    m = len(tested)
    running = 1.0
    for rank, (p, index) in zip(range(m, 0, -1), sorted(tested, reverse=True), strict=True):
        running = min(running, p * m / rank)
        adjusted[index] = running
    return adjusted


@dataclass(frozen=True)
class Evidence:
    """What a verdict reads of one pair's window: its count, skill and raw DM p-values."""

    scored: int
    skill: float | None
    p_better: float | None
    p_worse: float | None
    #: Whether the pair's predicted moves are worth trading after its spread (None: not
    #: asked, the statistical verdict alone).
    tradability: Tradability | None = None


@dataclass(frozen=True)
class MarketVerdict:
    """One pair's verdict among its market's pairs, with the adjusted p-values it read."""

    verdict: str
    p_better_adjusted: float | None
    p_worse_adjusted: float | None


def market_verdicts(pairs: Sequence[Evidence]) -> list[MarketVerdict]:
    """The verdicts of one window of every pair of a market (one forecaster, interval and
    exchange), in the order given.

    ``edge`` and ``worse`` are two families of tests, each Benjamini-Hochberg adjusted over
    every pair with a test (pairs still short of MIN_SCORED_FOR_EDGE count in m, so a young
    market is judged no more leniently); a pair then needs what :func:`verdict` asks.
    """
    better = benjamini_hochberg([pair.p_better for pair in pairs])
    worse = benjamini_hochberg([pair.p_worse for pair in pairs])
    return [MarketVerdict(verdict(pair.scored, pair.skill, p_better, p_worse,
                                  pair.tradability), p_better, p_worse)
            for pair, p_better, p_worse in zip(pairs, better, worse, strict=True)]


def window_record(window: str, errors: Sequence[float], naive_errors: Sequence[float],
                  direction_hits: Sequence[bool | None],
                  bands: Sequence[BandSeries] = (),
                  tradability: Tradability | None = None) -> WindowRecord:
    """The figures of one window from its scored forecasts (oldest first).

    ``direction_hits`` holds None for candles whose close did not move from the last close:
    they count in neither the hits nor the moved candles. ``bands``: per level, the same
    forecasts' band outcomes. ``tradability``: what the verdict asks of an edge
    (:func:`verdict`).
    """
    model = np.asarray(errors, dtype=float)
    naive = np.asarray(naive_errors, dtype=float)
    hits = [hit for hit in direction_hits if hit is not None]
    band_records = tuple(band_record(series.level, series.inside, series.widths)
                         for series in bands)
    if len(model) == 0:
        return judged_record(WindowFigures.empty(window), band_records, None, tradability)
    figures = WindowFigures(
        window, len(model), float(np.mean(model**2)), float(np.mean(naive**2)),
        float(np.mean(np.abs(model))), float(np.mean(np.abs(naive))),
        sum(bool(h) for h in hits), len(hits))
    return judged_record(figures, band_records, diebold_mariano(model, naive), tradability)


@dataclass(frozen=True)
class WindowFigures:
    """What a window's record is computed from, however it was summed: its scored
    forecasts, their mean squared and absolute errors (model, naive) and direction hits
    among the moved candles."""

    window: str
    scored: int
    #: Mean squared errors, model and naive (0 without forecasts).
    mse: float
    naive_mse: float
    #: Mean absolute errors, model and naive.
    mae: float
    naive_mae: float
    hits: int
    moved: int

    @classmethod
    def empty(cls, window: str) -> WindowFigures:
        return cls(window, 0, 0.0, 0.0, 0.0, 0.0, 0, 0)


def judged_record(figures: WindowFigures, bands: tuple[BandRecord, ...],
                  test: DieboldMariano | None,
                  tradability: Tradability | None = None) -> WindowRecord:
    """The window's record from its figures, band records and DM test, with its verdict
    judged alone (a market of one: the adjusted p-values are the raw ones)."""
    if figures.scored == 0:
        return WindowRecord(figures.window, 0, None, None, None, None, None, None, 0, None,
                            None, None, NO_EVIDENCE, bands)
    rmse, naive_rmse = math.sqrt(figures.mse), math.sqrt(figures.naive_mse)
    record = WindowRecord(
        window=figures.window, scored=figures.scored, rmse=rmse, naive_rmse=naive_rmse,
        skill=1.0 - rmse / naive_rmse if naive_rmse > 0 else None, mae=figures.mae,
        naive_mae=figures.naive_mae,
        direction=figures.hits / figures.moved if figures.moved else None,
        moved=figures.moved, dm_stat=None if test is None else test.statistic,
        dm_pvalue=None if test is None else test.p_better,
        dm_pvalue_worse=None if test is None else test.p_worse,
        verdict=NO_EVIDENCE, bands=bands)
    alone = market_verdicts([replace(record.evidence(), tradability=tradability)])[0]
    return replace(record, verdict=alone.verdict, dm_pvalue_adjusted=alone.p_better_adjusted,
                   dm_pvalue_worse_adjusted=alone.p_worse_adjusted)


def track_record(open_times: Sequence[int], errors: Sequence[float],
                 naive_errors: Sequence[float], direction_hits: Sequence[bool | None],
                 windows: dict[str, int | None], bands: Sequence[BandSeries] = (),
                 sources: Sequence[str] | None = None,
                 tradability: Tradability | None = None) -> tuple[int, list[WindowRecord]]:
    """Every window's record of one series, ending at its newest scored candle.

    Returns (as_of, records): as_of is the newest scored candle's open time, the data time
    the windows end at (never the wall clock, so a replayed history scores like a live one);
    a window of length L holds the candles opened after as_of - L. ``bands``: per level, the
    scored forecasts' band outcomes, in the same order as the other sequences; ``sources``:
    each scored forecast's source ("live", "backfill"), counted per window; ``tradability``:
    the series' (one for every window: the spread and the value after it are measured over
    the 30 days to as_of).
    """
    times = np.asarray(open_times, dtype=np.int64)
    if len(times) == 0:
        empty = [BandSeries(series.level, [], []) for series in bands]
        return 0, [window_record(name, [], [], [], empty, tradability) for name in windows]
    as_of = int(times.max())
    model = np.asarray(errors, dtype=float)
    naive = np.asarray(naive_errors, dtype=float)
    hits = list(direction_hits)
    band_values = [(series.level, _as_floats(series.inside), _as_floats(series.widths))
                   for series in bands]
    records = []
    for name, length in windows.items():
        keep = np.ones(len(times), bool) if length is None else times > as_of - length
        record = window_record(
            name, model[keep], naive[keep], [h for h, k in zip(hits, keep, strict=True) if k],
            [BandSeries(level, inside[keep], widths[keep])
             for level, inside, widths in band_values], tradability)
        if sources is not None:
            kept = np.asarray(sources, dtype=object)[keep]
            record = replace(record, scored_live=int(np.sum(kept == LIVE)),
                             scored_backfill=int(np.sum(kept == BACKFILL)))
        records.append(record)
    return as_of, records


def verdict_basis(live: int | None, backfill: int | None, unit: str = "h") -> str:
    """What a verdict rests on, e.g. ``backfill 720 h`` or ``live 12 h + backfill 720 h``
    ("" when not counted: a record scored before sources were)."""
    parts = [f"{name} {count} {unit}" for name, count in ((LIVE, live), (BACKFILL, backfill))
             if count]
    if not parts:
        return "" if live is None and backfill is None else f"{LIVE} 0 {unit}"
    return " + ".join(parts)


def direction_hit(forecast: float, naive: float, actual: float) -> bool | None:
    """Whether the forecast moved from the last close the way the close did; None when the
    close did not move (such candles say nothing about direction)."""
    if actual == naive:
        return None
    return (forecast - naive) * (actual - naive) > 0


def inside_band(lower: float | None, upper: float | None, actual: float) -> bool | None:
    """Whether the close fell inside the band, bounds included (as the test slice's coverage
    counts it, train/prediction_bands.py); None when the forecast had no band."""
    if lower is None or upper is None:
        return None
    return float(lower) <= actual <= float(upper)


def band_width_pct(lower: float | None, upper: float | None, base: float | None
                   ) -> float | None:
    """The band's width in % of ``base`` (the last close when the forecast was made), as
    the test slice's width is measured; None without a band or a base."""
    if lower is None or upper is None or not base:
        return None
    return (float(upper) - float(lower)) / float(base) * 100.0


def cumulative_loss_differential(errors: Sequence[float],
                                 naive_errors: Sequence[float]) -> list[float]:
    """Running sum of model error^2 - naive error^2: the picture of the DM test (a line
    drifting down means the model beats naive; up, naive wins)."""
    model = np.asarray(errors, dtype=float)
    naive = np.asarray(naive_errors, dtype=float)
    return np.cumsum(model**2 - naive**2).tolist()
