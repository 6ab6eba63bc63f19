"""Verdicts honest at market scale (predict/track_record.py): Benjamini-Hochberg against an
independent computation, and the false-edge rate of whole synthetic markets judged by the
real verdict code (window_record -> market_verdicts) on simulated forecasts and closes."""

from __future__ import annotations

import numpy as np
import pytest

from predict.track_record import (
    EDGE,
    FDR,
    MIN_SCORED_FOR_EDGE,
    NO_EVIDENCE,
    WORSE,
    Evidence,
    benjamini_hochberg,
    market_verdicts,
    window_record,
)

HOURS = 30 * 24  # a month of hourly forecasts: the verdict's window


def _bh_rejections_by_definition(pvalues: list[float], q: float) -> set[int]:
    """The step-up procedure as Benjamini and Hochberg (1995) state it: with the m p-values
    sorted, find the largest k with p_(k) <= k q / m and reject the k smallest."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    largest = 0
    for k in range(1, m + 1):
        if pvalues[order[k - 1]] <= k * q / m:
            largest = k
    return set(order[:largest])


def _bh_adjusted_by_definition(pvalues: list[float]) -> list[float]:
    """Adjusted p_i = min over all p_j >= p_i of min(1, p_j m / rank_j) (ranks of ties:
    the highest), written as the O(m^2) double loop."""
    m = len(pvalues)
    rank = {i: sum(1 for p in pvalues if p <= pvalues[i]) for i in range(m)}
    return [min(min(1.0, pvalues[j] * m / rank[j]) for j in range(m)
                if pvalues[j] >= pvalues[i]) for i in range(m)]


def test_benjamini_hochberg_by_hand():
    # Sorted 0.005, 0.01, 0.03, 0.04 times 4/rank: 0.02, 0.02, 0.04, 0.04 (then the running
    # minimum from the largest down changes nothing here).
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx(
        [0.02, 0.04, 0.04, 0.02])
    # The running minimum matters: 0.04 * 3 / 2 = 0.06 > 0.045 * 3 / 3.
    assert benjamini_hochberg([0.001, 0.04, 0.045]) == pytest.approx([0.003, 0.045, 0.045])
    assert benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])  # capped below 1
    assert benjamini_hochberg([None, 0.02, None]) == [None, 0.02, None]  # m counts tests
    assert benjamini_hochberg([]) == []


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_against_the_definition(seed):
    rng = np.random.default_rng(seed)
    pvalues = np.concatenate([rng.uniform(size=150), rng.beta(0.1, 8, size=50)])
    pvalues[:10] = pvalues[10]  # ties
    pvalues = [float(p) for p in rng.permutation(pvalues)]
    adjusted = benjamini_hochberg(pvalues)
    assert adjusted == pytest.approx(_bh_adjusted_by_definition(pvalues), rel=1e-12)
    for q in (0.01, 0.05, FDR, 0.2):
        assert {i for i, p in enumerate(adjusted) if p <= q} == \
            _bh_rejections_by_definition(pvalues, q)


def _market(rng: np.random.Generator, pairs: int, with_signal: int) -> list:
    """One month of hourly closes and forecasts of ``pairs`` pairs judged as one market.

    Every close moves by r ~ N(0, sigma_pair). A forecaster without skill sees half of the
    move and adds noise of sd sqrt(3/4) sigma: its expected squared error is exactly the
    naive one's (0.25 + 0.75 = 1 sigma^2), so "better than naive" is false for it, as it
    is for the whole market the tests are about. The first ``with_signal`` pairs' noise is
    sqrt(0.55) sigma: 20 % below naive's squared error, a real edge.
    """
    records = []
    for pair in range(pairs):
        sigma = rng.uniform(0.002, 0.02)
        moves = rng.normal(0.0, sigma, HOURS)
        noise = np.sqrt(0.55 if pair < with_signal else 0.75) * sigma
        forecast_moves = 0.5 * moves + rng.normal(0.0, noise, HOURS)
        errors = forecast_moves - moves  # f - y with f = n + forecast move, y = n + move
        naive_errors = -moves  # n - y
        hits = list(np.sign(forecast_moves) == np.sign(moves))
        records.append(window_record("30d", errors, naive_errors, hits))
    return records


def _judged(records: list) -> list[str]:
    return [judged.verdict for judged in market_verdicts([r.evidence() for r in records])]


def test_a_market_without_skill_shows_almost_no_edge():
    """200 pairs none better than the last close, 20 seeds: Benjamini-Hochberg at 10 %
    calls at most one pair ``edge`` in most seeds (under the full null, any edge at all in
    about 10 % of markets), where the per-pair test at p < 0.05 called several in each."""
    false_edges, per_pair_edges, false_worse = [], [], []
    for seed in range(20):
        records = _market(np.random.default_rng(seed), pairs=200, with_signal=0)
        assert all(r.scored == HOURS >= MIN_SCORED_FOR_EDGE for r in records)
        verdicts = _judged(records)
        false_edges.append(verdicts.count(EDGE))
        false_worse.append(verdicts.count(WORSE))
        per_pair_edges.append(sum(1 for r in records if r.skill > 0 and r.dm_pvalue < 0.05))
    assert sum(1 for count in false_edges if count <= 1) >= 18, false_edges
    assert sum(1 for count in false_worse if count <= 1) >= 18, false_worse
    assert sum(false_edges) <= 6, false_edges
    # What the market-wide rule fixes: the old per-pair rule's chance edges (about 5 %).
    assert np.mean(per_pair_edges) > 5, per_pair_edges


def test_a_market_with_twenty_real_edges_finds_most_of_them():
    found, false = [], []
    for seed in range(20):
        records = _market(np.random.default_rng(100 + seed), pairs=200, with_signal=20)
        verdicts = _judged(records)
        found.append(verdicts[:20].count(EDGE))
        false.append(verdicts[20:].count(EDGE))
    assert min(found) >= 15 and np.mean(found) >= 17, found
    # Of everything called edge, at most about FDR is chance (averaged over the markets).
    assert np.mean([f / (f + t) for f, t in zip(false, found, strict=True)]) <= FDR, false


def test_pairs_without_a_test_are_no_hypothesis_and_short_pairs_no_edge():
    strong = Evidence(scored=500, skill=0.2, p_better=0.001, p_worse=0.999)
    short = Evidence(scored=MIN_SCORED_FOR_EDGE - 1, skill=0.2, p_better=0.001,
                     p_worse=0.999)
    untested = Evidence(scored=5, skill=None, p_better=None, p_worse=None)
    judged = market_verdicts([strong, short, untested, untested])
    assert [j.verdict for j in judged] == [EDGE, NO_EVIDENCE, NO_EVIDENCE, NO_EVIDENCE]
    assert judged[0].p_better_adjusted == pytest.approx(0.001)  # m = 2 tested, both 0.001
    assert judged[2].p_better_adjusted is None
