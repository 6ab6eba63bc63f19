"""Costs (predict/costs.py): Roll's, Corwin-Schultz's and Abdi-Ranaldo's spreads against
hand computations and a simulated bid-ask bounce of known spread, the value after costs of
a tiny hand-built record, and the verdict held against the spread
(predict/track_record.py's one rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from predict.costs import (
    MIN_RETURNS_FOR_SPREAD,
    ValueAfterCosts,
    abdi_ranaldo_spread,
    corwin_schultz_spread,
    roll_spread,
    tradability,
    value_after_costs,
)
from predict.track_record import (
    EDGE,
    EDGE_SPREAD_UNKNOWN,
    EDGE_WITHIN_SPREAD,
    MIN_SCORED_FOR_EDGE,
    NO_EVIDENCE,
    VERDICTS,
    WORSE,
    Evidence,
    Tradability,
    market_verdicts,
    verdict,
)

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


def test_an_edge_stays_edge_only_where_its_moves_pay_the_spread():
    pays = ValueAfterCosts(200, 0.001, 0.001, 0.004)
    within = ValueAfterCosts(200, -0.001, 0.9, 0.004)
    no_trade = ValueAfterCosts(0, None, None, 0.004)
    unknown = ValueAfterCosts(0, None, None, None)
    assert tradability(pays) is Tradability.WORTH_TRADING
    assert tradability(within) is Tradability.WITHIN_SPREAD
    assert tradability(no_trade) is Tradability.WITHIN_SPREAD
    assert tradability(unknown) is Tradability.SPREAD_UNKNOWN
    assert tradability(None) is Tradability.SPREAD_UNKNOWN
    strong = (MIN_SCORED_FOR_EDGE, 0.05, 0.0001, 0.9999)
    assert verdict(*strong, tradability(pays)) == EDGE
    assert verdict(*strong, tradability(within)) == EDGE_WITHIN_SPREAD
    assert verdict(*strong, tradability(unknown)) == EDGE_SPREAD_UNKNOWN
    assert verdict(*strong) == EDGE  # not asked: the statistical claim alone
    # Costs never touch a record without an edge.
    assert verdict(500, -0.5, 0.9999, 0.0001, tradability(within)) == WORSE
    assert verdict(500, 0.1, 0.5, 0.5, tradability(within)) == NO_EVIDENCE
    # Across a market: Benjamini-Hochberg first, then each pair's own costs.
    judged = market_verdicts([Evidence(*strong, Tradability.WORTH_TRADING),
                              Evidence(*strong, Tradability.WITHIN_SPREAD),
                              Evidence(100, 0.05, 0.0001, 0.9999, Tradability.WORTH_TRADING)])
    assert [v.verdict for v in judged] == [EDGE, EDGE_WITHIN_SPREAD, NO_EVIDENCE]
    assert max(len(name) for name in VERDICTS) <= 16  # track_records.verdict's width


def _candles(rows):
    times = [HOUR * i for i in range(len(rows))]
    highs, lows, closes = (list(column) for column in zip(*rows, strict=True))
    return times, highs, lows, closes


#: Three candles (high, low, close) for the hand computations below.
TINY = [(102.0, 98.0, 101.5), (103.0, 99.0, 99.5), (102.0, 98.0, 101.5)]


def test_abdi_ranaldo_by_hand_on_three_candles(monkeypatch):
    monkeypatch.setattr("predict.costs.MIN_RETURNS_FOR_SPREAD", 2)
    eta = [(math.log(h) + math.log(low)) / 2 for h, low, _ in TINY]
    c = [math.log(close) for _, _, close in TINY]
    products = [(c[0] - eta[0]) * (c[0] - eta[1]), (c[1] - eta[1]) * (c[1] - eta[2])]
    moment = 4 * sum(products) / 2
    found = abdi_ranaldo_spread(*_candles(TINY), HOUR)
    assert found.pairs == 2 and found.moment == pytest.approx(moment)
    assert moment > 0 and found.spread == pytest.approx(math.sqrt(moment))
    # A gap between the candles leaves one pair.
    times, highs, lows, closes = _candles(TINY)
    gapped = abdi_ranaldo_spread([0, HOUR, 3 * HOUR], highs, lows, closes, HOUR)
    assert gapped.pairs == 1


def _corwin_schultz_pair(first, second, close):
    """One two-candle estimate, the paper's formulas written out (no vectors)."""
    high2, low2 = second
    if low2 > close:  # the second candle opened above the first's close
        high2, low2 = high2 - (low2 - close), close
    elif high2 < close:
        high2, low2 = close, low2 + (close - high2)
    beta = math.log(first[0] / first[1]) ** 2 + math.log(high2 / low2) ** 2
    gamma = math.log(max(first[0], high2) / min(first[1], low2)) ** 2
    k = 3 - 2 * math.sqrt(2)
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
    return max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0)


def test_corwin_schultz_by_hand_on_three_candles(monkeypatch):
    monkeypatch.setattr("predict.costs.MIN_RETURNS_FOR_SPREAD", 2)
    found = corwin_schultz_spread(*_candles(TINY), HOUR)
    by_hand = [_corwin_schultz_pair(TINY[0][:2], TINY[1][:2], TINY[0][2]),
               _corwin_schultz_pair(TINY[1][:2], TINY[2][:2], TINY[1][2])]
    assert found.pairs == 2 and found.spread == pytest.approx(sum(by_hand) / 2)
    # The first pair, by hand to the digit: beta = ln(102/98)^2 + ln(103/99)^2,
    # gamma = ln(103/98)^2, S = 2 (e^alpha - 1) / (1 + e^alpha).
    beta = math.log(102 / 98) ** 2 + math.log(103 / 99) ** 2
    gamma = math.log(103 / 98) ** 2
    alpha = ((math.sqrt(2 * beta) - math.sqrt(beta)) / (3 - 2 * math.sqrt(2))
             - math.sqrt(gamma / (3 - 2 * math.sqrt(2))))
    assert by_hand[0] == pytest.approx(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)))
    assert by_hand[0] > 0
    # A gap up: the second candle's range is moved down by the gap before the estimate.
    gap = [(101.0, 99.0, 100.0), (106.0, 104.0, 105.0), (106.0, 104.0, 105.0)]
    shifted = corwin_schultz_spread(*_candles(gap), HOUR)
    assert shifted.moment == pytest.approx(
        (_corwin_schultz_pair(gap[0][:2], gap[1][:2], 100.0)
         + _corwin_schultz_pair(gap[1][:2], gap[2][:2], 105.0)) / 2)


def _bounce_candles(spread: float, hours: int, seed: int):
    """Hourly candles of a random-walk mid (60 steps an hour) traded at the bid or the
    ask: high = highest ask, low = lowest bid, close = the last trade's side."""
    rng = np.random.default_rng(seed)
    mid = np.exp(np.cumsum(rng.normal(0, 0.0005, hours * 60))).reshape(hours, 60)
    half = spread / 2
    side = rng.choice([-1.0, 1.0], size=hours)
    return ([HOUR * i for i in range(hours)], list(mid.max(axis=1) * math.exp(half)),
            list(mid.min(axis=1) * math.exp(-half)), list(mid[:, -1] * np.exp(side * half)))


def test_high_low_estimators_recover_a_simulated_spread():
    candles = _bounce_candles(0.004, 5000, 8)
    assert corwin_schultz_spread(*candles, HOUR).spread == pytest.approx(0.004, rel=0.35)
    assert abdi_ranaldo_spread(*candles, HOUR).spread == pytest.approx(0.004, rel=0.2)
    flat = [HOUR * i for i in range(50)], [1.0] * 50, [1.0] * 50, [1.0] * 50
    assert corwin_schultz_spread(*flat, HOUR).spread is None  # no range: undefined
    assert abdi_ranaldo_spread(*flat, HOUR).spread is None
    short = corwin_schultz_spread(*(column[:MIN_RETURNS_FOR_SPREAD] for column in candles),
                                  HOUR)
    assert short.spread is None and short.pairs == MIN_RETURNS_FOR_SPREAD - 1
