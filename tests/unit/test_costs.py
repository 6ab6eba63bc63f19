"""Costs (predict/costs.py): Roll's spread against a hand computation and a simulated
bid-ask bounce of known spread, the value after costs of a tiny hand-built record, and the
verdict after the spread."""

from __future__ import annotations

import math

import numpy as np
import pytest

from predict.costs import (
    EDGE_SPREAD_UNKNOWN,
    EDGE_WITHIN_SPREAD,
    MIN_RETURNS_FOR_SPREAD,
    ValueAfterCosts,
    after_costs,
    roll_spread,
    value_after_costs,
)
from predict.track_record import EDGE, NO_EVIDENCE, WORSE

HOUR = 3_600_000


def test_roll_spread_is_twice_the_root_of_minus_the_lag1_autocovariance():
    rng = np.random.default_rng(5)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    closes[::2] *= 1.003  # a bounce: every other close at the ask
    times = [HOUR * i for i in range(len(closes))]
    returns = [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    current, previous = returns[1:], returns[:-1]
    mean_c, mean_p = sum(current) / len(current), sum(previous) / len(previous)
    covariance = sum((c - mean_c) * (p - mean_p) for c, p in zip(current, previous,
                                                                strict=True)) / len(current)
    assert covariance < 0
    found = roll_spread(times, list(closes), HOUR)
    assert found.autocovariance == pytest.approx(covariance)
    assert found.spread == pytest.approx(2 * math.sqrt(-covariance))
    assert found.pairs == len(current)


def test_roll_recovers_the_spread_of_a_simulated_bid_ask_bounce():
    rng = np.random.default_rng(11)
    spread = 0.005  # 0.5 % of the price
    mid = np.exp(np.cumsum(rng.normal(0, 0.003, 20_000)))
    side = rng.choice([-1.0, 1.0], size=mid.size)  # a trade at the bid or at the ask
    closes = mid * np.exp(side * spread / 2)
    found = roll_spread([HOUR * i for i in range(mid.size)], list(closes), HOUR)
    assert found.spread == pytest.approx(spread, rel=0.1)


def test_roll_is_undefined_without_a_bounce_and_with_too_few_returns():
    rng = np.random.default_rng(3)
    trending = 100 * np.exp(np.cumsum(np.convolve(rng.normal(0, 0.01, 400), [1, 1],
                                                  "same")))  # positively autocorrelated
    found = roll_spread([HOUR * i for i in range(400)], list(trending), HOUR)
    assert found.autocovariance > 0 and found.spread is None
    short = roll_spread([HOUR * i for i in range(MIN_RETURNS_FOR_SPREAD)],
                        list(trending[:MIN_RETURNS_FOR_SPREAD]), HOUR)
    assert short.spread is None and short.autocovariance is None
    # A gap: the returns across it are not consecutive and drop out.
    times = [HOUR * i for i in range(400)]
    gapped = roll_spread(times[:200] + [t + HOUR for t in times[200:]], list(trending), HOUR)
    assert gapped.pairs == found.pairs - 2  # the return across it is in two pairs


def test_value_after_costs_of_a_tiny_record_by_hand():
    lasts = [100.0, 100.0, 100.0, 100.0]
    forecasts = [101.0, 99.0, 100.1, 102.0]  # predicted moves 1 %, -1 %, 0.1 %, 2 %
    actuals = [100.8, 100.5, 90.0, 99.0]  # +0.8 %, +0.5 %, (not traded), -1 %
    found = value_after_costs(forecasts, lasts, actuals, 0.002)
    by_hand = [0.008 - 0.002, -0.005 - 0.002, -0.01 - 0.002]
    assert found.trades == 3 and found.mean == pytest.approx(sum(by_hand) / 3)
    assert found.p_value is None and not found.worth_trading  # too few trades to test
    nothing = value_after_costs(forecasts, lasts, actuals, 0.05)
    assert (nothing.trades, nothing.mean) == (0, None)
    assert value_after_costs(forecasts, lasts, actuals, None).spread is None


def test_value_after_costs_is_worth_trading_only_positive_with_evidence():
    rng = np.random.default_rng(4)
    actual_moves = rng.normal(0, 0.01, 300)
    lasts = np.full(300, 100.0)
    good = value_after_costs(list(100 * (1 + actual_moves)), list(lasts),
                             list(100 * (1 + actual_moves)), 0.001)
    assert good.worth_trading and good.p_value < 0.05
    random_sign = value_after_costs(list(100 * (1 + rng.normal(0, 0.01, 300))), list(lasts),
                                    list(100 * (1 + actual_moves)), 0.001)
    assert not random_sign.worth_trading and random_sign.mean < 0.002


def test_after_costs_keeps_edge_only_where_it_pays_the_spread():
    pays = ValueAfterCosts(200, 0.001, 0.001, 0.004)
    within = ValueAfterCosts(200, -0.001, 0.9, 0.004)
    no_trade = ValueAfterCosts(0, None, None, 0.004)
    unknown = ValueAfterCosts(0, None, None, None)
    assert after_costs(EDGE, pays) == EDGE
    assert after_costs(EDGE, within) == EDGE_WITHIN_SPREAD
    assert after_costs(EDGE, no_trade) == EDGE_WITHIN_SPREAD
    assert after_costs(EDGE, unknown) == EDGE_SPREAD_UNKNOWN
    assert after_costs(EDGE, None) == EDGE_SPREAD_UNKNOWN
    for verdict in (NO_EVIDENCE, WORSE):
        assert after_costs(verdict, within) == verdict
