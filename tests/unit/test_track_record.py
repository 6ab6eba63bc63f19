"""The track record's maths (predict/track_record.py) against figures computed here by hand:
the Newey-West variance, the Diebold-Mariano p-values, the verdict rules, the windows."""

from __future__ import annotations

import math
import random

import pytest

from predict.track_record import (
    EDGE,
    MIN_SCORED_FOR_EDGE,
    NO_EVIDENCE,
    WORSE,
    DieboldMariano,
    diebold_mariano,
    direction_hit,
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
    strong = DieboldMariano(statistic=-4.0, p_better=0.00003, p_worse=0.99997, lags=5)
    weak = DieboldMariano(statistic=-1.0, p_better=0.16, p_worse=0.84, lags=5)
    bad = DieboldMariano(statistic=3.0, p_better=0.9987, p_worse=0.0013, lags=5)
    assert verdict(MIN_SCORED_FOR_EDGE, 0.1, strong) == EDGE
    assert verdict(MIN_SCORED_FOR_EDGE - 1, 0.1, strong) == NO_EVIDENCE  # too few
    assert verdict(500, -0.01, strong) == NO_EVIDENCE  # skill must be > 0 as well
    assert verdict(500, 0.1, weak) == NO_EVIDENCE
    assert verdict(20, -0.5, bad) == WORSE
    assert verdict(500, 0.1, None) == NO_EVIDENCE


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
