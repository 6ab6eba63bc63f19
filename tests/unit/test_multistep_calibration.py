"""The shrinkage's edge test on K-step forecasts: its false-edge rate stays nominal at any
horizon, and it still finds a real edge.

The K cumulative returns of a calibration sample overlap each other and the next K - 1
samples' (train/shrinkage.py); a test that counts them as independent finds edges in random
walks. Every series here is SYNTHETIC (numpy), and every fit goes through the return
formulation's own ``calibrate``, as a trained model's calibration slice does.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from coinlstm.core.columns import FEATURE_COLUMNS
from train.formulations.base import CLOSE_INDEX
from train.formulations.returns import Returns
from train.prediction_bands import DEFAULT_CALIBRATION_SIZE
from train.shrinkage import MIN_T

#: The nominal false-edge rate the docs promise: about 2 % (P(t > 2) = 2.3 % for a normal t).
NOMINAL = 0.025
#: Candles before the first sample: the trailing mean a forecast reads.
LOOKBACK = 24
SERIES = 300


def calibrate(returns: np.ndarray, predicted: np.ndarray, horizon: int):
    """``Returns.calibrate`` on a calibration slice of len(predicted) samples whose first
    target is candle LOOKBACK + 1 + i, from hourly log ``returns`` (returns[t] is candle
    t + 1's close over candle t's)."""
    closes = np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    features = np.ones((len(closes), len(FEATURE_COLUMNS)))
    features[:, CLOSE_INDEX] = closes
    first = LOOKBACK + 1 + np.arange(len(predicted))
    rows = first[:, None] + np.arange(horizon)[None, :]
    formulation = Returns(mean=np.zeros(8), std=np.ones(8), target_scale=1.0)
    return formulation.calibrate(features, rows, predicted)


def momentum_forecast(returns: np.ndarray, samples: int, horizon: int) -> np.ndarray:
    """Each sample's K cumulative returns forecast as h x the mean of the LOOKBACK returns
    before it: a forecast of the past only, persistent from sample to sample and across its
    steps, as a network's outputs are (the kind that made the pooled test fail most)."""
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    first = LOOKBACK + 1 + np.arange(samples)  # the sample's first target candle
    trailing = (cumulative[first - 1] - cumulative[first - 1 - LOOKBACK]) / LOOKBACK
    return trailing[:, None] * np.arange(1, horizon + 1)[None, :]


def most_false_edges(series: int) -> int:
    """The most false edges of ``series`` random walks a test of size NOMINAL shows with
    probability 99.9 % (one-sided binomial bound): more is evidence of a larger size."""
    return int(binom.ppf(0.999, series, NOMINAL))


@pytest.mark.parametrize("horizon", [1, 4, 16])
def test_random_walks_earn_false_edges_at_no_more_than_the_nominal_rate(horizon):
    """A random walk has nothing to learn; the pooled K x n t test called it an edge in
    about a quarter of slices at K = 4 and 40 % at K = 16 (docs/intervals.md)."""
    rng = np.random.default_rng(1000 + horizon)
    n = DEFAULT_CALIBRATION_SIZE
    fits = []
    for _ in range(SERIES):
        returns = rng.normal(0.0, 0.01, LOOKBACK + n + horizon + 1)
        fits.append(calibrate(returns, momentum_forecast(returns, n, horizon), horizon))
    false_edges = sum(fit.edge for fit in fits)
    assert false_edges <= most_false_edges(SERIES), (horizon, false_edges)
    assert all(fit.samples == n and fit.steps == horizon for fit in fits)


def test_k1_calibration_is_the_plain_t_test_on_every_sample():
    """K = 1 is unchanged: slope and t of all n values, no sample set aside."""
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0, 0.01, LOOKBACK + 960 + 2)
    predicted = momentum_forecast(returns, 960, 1) + rng.normal(0, 0.002, (960, 1))
    fit = calibrate(returns, predicted, 1)
    actual = returns[LOOKBACK:LOOKBACK + 960]
    slope = float(actual @ predicted[:, 0] / (predicted[:, 0] @ predicted[:, 0]))
    residual = actual - slope * predicted[:, 0]
    se = np.sqrt(residual @ residual / 959 / (predicted[:, 0] @ predicted[:, 0]))
    assert fit.slope == pytest.approx(slope) and fit.t_stat == pytest.approx(slope / se)
    assert fit.samples == 960 and fit.steps == 1
    assert "step 1 of" not in fit.describe()


def test_a_real_edge_is_still_found_at_four_steps():
    """AR(1) returns with coefficient 0.1 (the step-1 return explains 1 % of the next one's
    variance) and their optimal 4-step forecasts: the edge is found in most slices, and the
    report says the evidence is step 1's."""
    rng = np.random.default_rng(7)
    phi, n, horizon = 0.1, DEFAULT_CALIBRATION_SIZE, 4
    found = []
    for _ in range(200):
        shocks = rng.normal(0.0, 0.01, LOOKBACK + n + horizon + 1)
        returns = np.empty_like(shocks)
        previous = 0.0
        for t, shock in enumerate(shocks):
            previous = returns[t] = phi * previous + shock
        first = LOOKBACK + 1 + np.arange(n)
        steps = np.cumsum(phi ** np.arange(1, horizon + 1))
        predicted = returns[first - 2][:, None] * steps[None, :]
        found.append(calibrate(returns, predicted, horizon))
    assert np.mean([fit.edge for fit in found]) >= 0.75
    edge = next(fit for fit in found if fit.edge)
    assert edge.t_stat > MIN_T and 0 < edge.factor <= 1
    assert "on 960 calibration samples, step 1 of 4 only" in edge.describe()
