"""The movers ranking's maths (predict/movers.py): the expected move, Spearman's rank
correlation against scipy's, the naive trailing volatility against a hand computation, the
hourly cross-sections and the one-sided test on their differences."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from predict.movers import (
    BEATS_NAIVE,
    MIN_HOURS_FOR_TEST,
    NAIVE_BETTER,
    NO_EVIDENCE,
    HourCorrelation,
    PairHour,
    average_ranks,
    expected_move_pct,
    hourly_correlations,
    latest_volatility,
    movers_score,
    row_average_ranks,
    spearman,
    trailing_volatility,
    window_score,
)

HOUR = 3_600_000


def test_expected_move_is_the_bands_half_width_in_percent_of_the_last_close():
    assert expected_move_pct(98.0, 103.0, 100.0) == pytest.approx(2.5)
    assert expected_move_pct(None, 103.0, 100.0) is None
    assert expected_move_pct(98.0, 103.0, 0.0) is None


def test_ranks_and_spearman_agree_with_scipy_ties_included():
    rng = np.random.default_rng(7)
    for _ in range(200):
        size = int(rng.integers(3, 25))
        first = rng.integers(0, 4, size).astype(float)  # many ties
        second = rng.normal(size=size)
        assert average_ranks(first) == pytest.approx(rankdata(first))
        expected = spearmanr(first, second).statistic
        got = spearman(first, second)
        if np.isnan(expected):
            assert got is None
        else:
            assert got == pytest.approx(expected, abs=1e-12)
    assert spearman([1.0, 2.0], [2.0, 1.0]) is None  # too few pairs
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None  # constant side


def test_row_ranks_agree_with_scipys_rankdata_leaving_nan_out():
    """The hourly cross-sections are ranked all at once, each row apart, a pair missing from
    an hour (NaN) left out of its ranks: scipy's rankdata(axis=1, nan_policy="omit")."""
    rng = np.random.default_rng(11)
    for _ in range(100):
        matrix = rng.integers(0, 5, (int(rng.integers(1, 12)), int(rng.integers(1, 15))))
        matrix = matrix.astype(float)
        matrix[rng.random(matrix.shape) < 0.3] = np.nan
        expected = rankdata(matrix, axis=1, nan_policy="omit")
        np.testing.assert_allclose(row_average_ranks(matrix), expected, rtol=0, atol=1e-12)
    assert np.isnan(row_average_ranks(np.full((2, 3), np.nan))).all()


def test_trailing_volatility_is_the_rms_of_the_24_returns_ending_at_the_candle():
    rng = random.Random(3)
    closes = [100.0]
    for _ in range(40):
        closes.append(closes[-1] * math.exp(rng.gauss(0, 0.01)))
    times = [HOUR * index for index in range(len(closes))]
    volatility = trailing_volatility(times, closes, HOUR)
    returns = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    by_hand = math.sqrt(sum(r * r for r in returns[-24:]) / 24) * 100
    assert volatility[times[-1]] == pytest.approx(by_hand)
    assert times[11] not in volatility and times[12] in volatility  # needs 12 returns
    # A gap drops the returns across it: candle 30 missing leaves 22 of the last 24.
    del times[30], closes[30]
    gapped = trailing_volatility(times, closes, HOUR)
    kept = [r for i, r in enumerate(returns, start=1) if i not in (30, 31)][-22:]
    assert gapped[times[-1]] == pytest.approx(math.sqrt(sum(r * r for r in kept) / 22) * 100)
    # The newest candle's alone, as the market page reads it: the same figure.
    for upto in (len(times), 35, 29, 13, 12):
        latest = latest_volatility(times[:upto], closes[:upto], HOUR)
        expected = trailing_volatility(times[:upto], closes[:upto], HOUR).get(times[upto - 1])
        assert latest == pytest.approx(expected) if expected is not None else latest is None


def test_hourly_correlations_match_scipy_per_hour_on_the_pairs_with_every_figure():
    rng = np.random.default_rng(1)
    hours, expected = [], {}
    for hour in range(5):
        sizes, naive, realised = rng.random(6), rng.random(6), rng.random(6)
        for pair in range(6):
            hours.append(PairHour(pair, hour * HOUR, float(sizes[pair]),
                                  None if pair == 5 else float(naive[pair]),
                                  float(realised[pair])))
        expected[hour * HOUR] = (spearmanr(sizes[:5], realised[:5]).statistic,
                                 spearmanr(naive[:5], realised[:5]).statistic)
    # An hour with two complete pairs says nothing and is left out.
    hours += [PairHour(0, 9 * HOUR, 1.0, 1.0, 1.0), PairHour(1, 9 * HOUR, 2.0, 2.0, 0.5)]
    found = hourly_correlations(hours)
    assert [c.open_time for c in found] == sorted(expected)
    for correlation in found:
        assert correlation.pairs == 5
        assert (correlation.spearman, correlation.naive_spearman) == pytest.approx(
            expected[correlation.open_time], abs=1e-12)
    assert hourly_correlations([]) == []


def _hours(differences, base=0.1):
    return [HourCorrelation(index * HOUR, 10, base + d, base) for index, d in
            enumerate(differences)]


def test_window_score_says_no_evidence_with_too_few_hours_and_tests_the_differences():
    few = window_score("24h", _hours([0.3] * (MIN_HOURS_FOR_TEST - 1)))
    assert few.verdict == NO_EVIDENCE and few.p_value is None
    assert few.hours == MIN_HOURS_FOR_TEST - 1 and few.difference == pytest.approx(0.3)
    rng = np.random.default_rng(2)
    better = window_score("7d", _hours(0.2 + 0.1 * rng.normal(size=100)))
    assert better.verdict == BEATS_NAIVE and better.p_value < 0.05
    worse = window_score("7d", _hours(-0.2 + 0.1 * rng.normal(size=100)))
    assert worse.verdict == NAIVE_BETTER and worse.p_value > 0.95
    noise = window_score("7d", _hours(0.1 * rng.normal(size=100) - 0.005))
    assert noise.verdict == NO_EVIDENCE
    empty = window_score("30d", [])
    assert (empty.hours, empty.spearman, empty.verdict) == (0, None, NO_EVIDENCE)


def test_windows_end_at_the_newest_scored_hour():
    hours = _hours([0.1] * 200)
    as_of, scores = movers_score(hours)
    assert as_of == 199 * HOUR
    assert [(s.window, s.hours) for s in scores] == [("24h", 24), ("7d", 168), ("30d", 200)]
    assert movers_score([])[0] is None


def test_normal_tail_is_scipys_survival_function():
    from scipy.stats import norm

    from predict.track_record import normal_tail

    for statistic in (-6.0, -1.645, 0.0, 0.3, 1.645, 4.0):
        assert normal_tail(statistic) == pytest.approx(norm.sf(statistic), rel=1e-12)
