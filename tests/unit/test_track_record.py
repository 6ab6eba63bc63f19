"""The track record's maths (predict/track_record.py) against figures computed here by hand:
the Newey-West variance, the Diebold-Mariano p-values, the verdict rules, the windows."""

from __future__ import annotations

import math
import random

import pytest

from predict.track_record import (
    EDGE,
    FDR,
    MIN_SCORED_FOR_EDGE,
    NO_EVIDENCE,
    WORSE,
    BandSeries,
    band_width_pct,
    diebold_mariano,
    direction_hit,
    inside_band,
    newey_west_lags,
    track_record,
    verdict,
    window_record,
)

HOUR = 3_600_000


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _dm_by_hand(errors, naive, lags):
    """The DM statistic written out with loops: d_t, its mean, Bartlett-weighted
    autocovariances, the variance of the mean, z, and the two one-sided p-values."""
    d = [e * e - n * n for e, n in zip(errors, naive, strict=True)]
    count = len(d)
    mean = sum(d) / count
    def gamma(k):
        return sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, count)) / count
    long_run = gamma(0) + sum(2 * (1 - k / (lags + 1)) * gamma(k) for k in range(1, lags + 1))
    z = mean / math.sqrt(long_run / count)
    return z, _normal_cdf(z), 1 - _normal_cdf(z)


def test_diebold_mariano_matches_the_formula_written_out():
    rng = random.Random(3)
    errors = [rng.gauss(0, 1.0) for _ in range(300)]
    naive = [e + rng.gauss(0, 0.7) + 0.1 for e in errors]
    test = diebold_mariano(errors, naive)
    lags = math.floor(4 * (300 / 100) ** (2 / 9))
    assert test.lags == lags == newey_west_lags(300) == 5
    z, p_better, p_worse = _dm_by_hand(errors, naive, lags)
    assert test.statistic == pytest.approx(z, rel=1e-9)
    assert test.p_better == pytest.approx(p_better, rel=1e-9)
    assert test.p_worse == pytest.approx(p_worse, rel=1e-9)
    assert test.p_better + test.p_worse == pytest.approx(1.0)


def test_no_test_without_enough_forecasts_or_any_difference():
    assert diebold_mariano([1.0] * 5, [2.0] * 5) is None
    assert diebold_mariano([0.5, -0.5] * 20, [0.5, -0.5] * 20) is None  # identical losses


def test_verdict_rules():
    """The rule on (adjusted) p-values: edge needs enough forecasts, skill > 0 and
    p (better) <= FDR; worse needs p (worse) <= FDR; no test is no evidence."""
    assert FDR == 0.10
    assert verdict(MIN_SCORED_FOR_EDGE, 0.1, 0.00003, 0.99997) == EDGE
    assert verdict(MIN_SCORED_FOR_EDGE, 0.1, FDR, 1 - FDR) == EDGE  # at the level: rejected
    assert verdict(MIN_SCORED_FOR_EDGE - 1, 0.1, 0.00003, 0.99997) == NO_EVIDENCE  # too few
    assert verdict(500, -0.01, 0.00003, 0.99997) == NO_EVIDENCE  # skill must be > 0 as well
    assert verdict(500, 0.1, 0.16, 0.84) == NO_EVIDENCE
    assert verdict(500, 0.1, 0.1001, 0.8999) == NO_EVIDENCE
    assert verdict(20, -0.5, 0.9987, 0.0013) == WORSE
    assert verdict(500, 0.1, None, None) == NO_EVIDENCE


def test_a_window_judged_alone_is_a_market_of_one():
    """window_record's own verdict: the adjusted p-values are the raw ones."""
    rng = random.Random(3)
    moves = [rng.gauss(0, 1) for _ in range(300)]
    record = window_record("30d", [0.5 * m for m in moves], moves, [True] * 300)
    assert record.dm_pvalue < 1e-6 and record.verdict == EDGE
    assert (record.dm_pvalue_adjusted, record.dm_pvalue_worse_adjusted) == (
        record.dm_pvalue, record.dm_pvalue_worse)
    assert {"dm_pvalue_adjusted", "dm_pvalue_worse_adjusted"} <= set(record.to_dict())


def test_window_figures_and_direction_on_moved_candles_only():
    errors, naive = [0.1, -0.2, 0.3, 0.0], [0.2, 0.2, -0.4, 0.1]
    hits = [True, False, None, True]
    record = window_record("all", errors, naive, hits)
    assert record.scored == 4 and record.moved == 3
    rmse = math.sqrt((0.01 + 0.04 + 0.09 + 0.0) / 4)
    naive_rmse = math.sqrt((0.04 + 0.04 + 0.16 + 0.01) / 4)
    assert record.rmse == pytest.approx(rmse)
    assert record.naive_rmse == pytest.approx(naive_rmse)
    assert record.skill == pytest.approx(1 - rmse / naive_rmse)
    assert record.mae == pytest.approx(0.6 / 4)
    assert record.direction == pytest.approx(2 / 3)
    assert record.dm_pvalue is None and record.verdict == NO_EVIDENCE  # 4 < 10: no test
    assert direction_hit(1.1, 1.0, 1.2) is True
    assert direction_hit(0.9, 1.0, 1.2) is False
    assert direction_hit(1.0, 1.0, 1.2) is False  # no move forecast: not a hit
    assert direction_hit(1.1, 1.0, 1.0) is None  # the close did not move


def test_windows_end_at_the_newest_scored_candle_not_the_clock():
    times = [HOUR * h for h in range(1, 31 * 24 + 1)]
    errors = [0.1] * len(times)
    as_of, records = track_record(times, errors, [0.2] * len(times), [True] * len(times),
                                  {"24h": 24 * HOUR, "7d": 7 * 24 * HOUR,
                                   "30d": 30 * 24 * HOUR, "all": None})
    assert as_of == times[-1]
    assert [(r.window, r.scored) for r in records] == [("24h", 24), ("7d", 168),
                                                       ("30d", 720), ("all", 744)]
    empty_as_of, empty = track_record([], [], [], [], {"all": None})
    assert empty_as_of == 0 and empty[0].scored == 0 and empty[0].verdict == NO_EVIDENCE


def test_band_coverage_counts_only_forecasts_with_a_band():
    assert inside_band(0.9, 1.1, 1.0) is True
    assert inside_band(0.9, 1.1, 0.9) is True and inside_band(0.9, 1.1, 1.1) is True  # bounds in
    assert inside_band(0.9, 1.1, 1.2) is False and inside_band(0.9, 1.1, 0.8) is False
    assert inside_band(None, 1.1, 1.0) is None and inside_band(0.9, None, 1.0) is None
    assert band_width_pct(0.98, 1.02, 2.0) == pytest.approx(2.0)
    assert band_width_pct(None, 1.02, 2.0) is None

    inside = [True, None, False, True, None, True]
    widths = [2.0, None, 4.0, 3.0, None, 1.0]
    record = window_record("all", [0.1] * 6, [0.2] * 6, [True] * 6,
                           [BandSeries(0.8, inside, widths), BandSeries(0.95, [None] * 6,
                                                                        [None] * 6)])
    eighty, ninety_five = record.bands
    assert (eighty.level, eighty.banded) == (0.8, 4)
    assert eighty.coverage == pytest.approx(3 / 4)  # the two unbanded ones count nowhere
    assert eighty.width == pytest.approx(10.0 / 4)
    # No band at all: no coverage (None), never a coverage of 0.
    assert (ninety_five.banded, ninety_five.coverage, ninety_five.width) == (0, None, None)
    row = record.to_dict()
    assert row["coverage_80"] == pytest.approx(0.75) and row["banded_80"] == 4
    assert row["width_80"] == pytest.approx(2.5)
    assert row["coverage_95"] is None and row["banded_95"] == 0 and "bands" not in row
    assert row["scored"] == 6 and row["verdict"] == NO_EVIDENCE


def test_band_coverage_per_window():
    times = [HOUR * h for h in range(1, 49)]
    inside = [h % 3 != 0 for h in range(48)]  # misses every third close
    inside[-1] = None  # the newest forecast had no band
    as_of, records = track_record(times, [0.1] * 48, [0.2] * 48, [True] * 48,
                                  {"24h": 24 * HOUR, "all": None},
                                  [BandSeries(0.8, inside, [1.0] * 48)])
    day, everything = (record.bands[0] for record in records)
    last_day = inside[24:47]
    assert day.banded == 23 and day.coverage == pytest.approx(sum(last_day) / 23)
    assert everything.banded == 47
    assert everything.coverage == pytest.approx(sum(inside[:47]) / 47)
    _, empty = track_record([], [], [], [], {"all": None}, [BandSeries(0.8, [], [])])
    assert empty[0].bands[0].coverage is None and empty[0].bands[0].banded == 0
