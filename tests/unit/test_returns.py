"""The default formulation's maths: scale-free return inputs, shrinkage anchored on naive.

The candles are SYNTHETIC (``coinlstm.app.demo.synthetic_klines``); no database, no training.
"""

from __future__ import annotations

import numpy as np

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
