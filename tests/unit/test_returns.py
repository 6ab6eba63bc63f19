"""The default formulation's maths: scale-free return inputs, shrinkage anchored on naive.

The candles are SYNTHETIC (``coinlstm.app.demo.synthetic_klines``); no database, no training.
"""

from __future__ import annotations

import numpy as np
import pytest

from coinlstm.app.demo import synthetic_klines
from tests.helpers import kline_features
from train.formulations.returns import close_log_returns, return_features
from train.shrinkage import MIN_T, fit_shrinkage


def test_return_features_are_scale_free():
    """Multiplying every price by 1000 changes no input: new highs are just returns."""
    _, values = kline_features(
        [line.split(",") for line in synthetic_klines(300, seed=1, ar=0.0, start_price=0.002)])
    scaled = values.copy()
    scaled[:, :4] *= 1000.0
    np.testing.assert_allclose(return_features(values)[1:], return_features(scaled)[1:],
                               rtol=1e-9, atol=1e-12)
    rows = np.arange(1, 300)
    np.testing.assert_allclose(close_log_returns(values, rows),
                               np.log(values[1:, 3] / values[:-1, 3]))


def test_shrinkage_finds_a_real_slope_and_refuses_noise():
    rng = np.random.default_rng(3)
    predicted = rng.normal(0, 1, 480)
    signal = fit_shrinkage(0.5 * predicted + rng.normal(0, 1, 480), predicted)
    assert signal.edge and 0.35 < signal.factor < 0.65 and signal.t_stat > MIN_T
    noise = fit_shrinkage(rng.normal(0, 1, 480), predicted)
    assert not noise.edge and noise.factor == 0.0
    inverted = fit_shrinkage(-0.5 * predicted + rng.normal(0, 1, 480), predicted)
    assert inverted.factor == 0.0  # a model that is reliably wrong earns no weight either
    too_big = fit_shrinkage(3.0 * predicted, predicted)
    assert too_big.factor == 1.0  # never more than the model's own forecast


def test_the_factor_is_the_slopes_lower_confidence_bound():
    """a = slope - MIN_T standard errors (clipped to [0, 1]): an edge just past the
    threshold earns a small weight, not the full slope, so a spurious one costs little."""
    rng = np.random.default_rng(14)
    predicted = rng.normal(0, 1, 960)
    actual = 0.07 * predicted + rng.normal(0, 1, 960)
    fitted = fit_shrinkage(actual, predicted)
    slope = float(actual @ predicted / (predicted @ predicted))
    residual = actual - slope * predicted
    se = np.sqrt(residual @ residual / (len(actual) - 1) / (predicted @ predicted))
    assert fitted.slope == pytest.approx(slope) and fitted.t_stat == pytest.approx(slope / se)
    assert MIN_T < fitted.t_stat < 3  # a marginal edge ...
    assert fitted.factor == pytest.approx(slope - MIN_T * se)  # ... gets its lower bound
    assert 0 < fitted.factor < slope / 3


def test_shrinking_toward_the_last_close_never_turns_a_winner_into_a_loser():
    """The test error is convex in a and equals naive's at a = 0: any a between 0 and a
    factor that beat the last close beats it too. So the lower bound keeps every week the
    full slope won and shrinks every loss."""
    rng = np.random.default_rng(11)
    kept = shrunk = 0
    for _ in range(300):
        predicted = rng.normal(0, 1, 960 + 168)
        actual = rng.uniform(0.0, 0.15) * predicted + rng.normal(0, 1, len(predicted))
        fitted = fit_shrinkage(actual[:960], predicted[:960])
        if not fitted.edge:
            continue
        full = min(fitted.slope, 1.0)
        week, moves = actual[960:], predicted[960:]
        at_full, at_bound = (1 - np.sqrt(np.mean((week - a * moves) ** 2) / np.mean(week ** 2))
                             for a in (full, fitted.factor))
        if at_full > 0:
            kept += 1
            assert at_bound > 0
        else:
            shrunk += 1
            assert at_bound >= at_full
    assert kept > 50 and shrunk > 10  # both kinds of week were tried


def test_the_default_calibration_slice_has_the_power_to_see_a_weak_edge():
    """On DEFAULT_CALIBRATION_SIZE clean rows an edge of correlation 0.1 (returns explain 1 %
    of the next return's variance) is found in most draws, while noise earns a false edge
    rarely and then a small weight. On 240 rows (the old default) the same edge was found in
    about a third of draws, on 480 in about 60 %."""
    from train.prediction_bands import DEFAULT_CALIBRATION_SIZE

    rng = np.random.default_rng(16)

    def fits(correlation: float) -> list:
        out = []
        for _ in range(500):
            predicted = rng.normal(0, 1, DEFAULT_CALIBRATION_SIZE)
            out.append(fit_shrinkage(correlation * predicted
                                     + rng.normal(0, 1, DEFAULT_CALIBRATION_SIZE), predicted))
        return out

    assert np.mean([fit.edge for fit in fits(0.1)]) >= 0.8
    false_edges = [fit for fit in fits(0.0) if fit.edge]
    assert len(false_edges) <= 0.03 * 500
    assert all(fit.factor < 0.4 * fit.slope for fit in false_edges)
