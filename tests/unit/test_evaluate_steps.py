"""Walk-forward folds of K-step samples and the per-step figures of ``evaluate --horizon``.

SYNTHETIC candles (coinlstm.app.demo.synthetic_klines); no database, no training.
"""

from __future__ import annotations

import numpy as np
import pytest

from coinlstm.app.demo import synthetic_klines
from coinlstm.app.jobs.evaluate_steps import add_step_dm_tests, step_lags
from coinlstm.app.jobs.pair_job import TrainOptions
from tests.helpers import kline_features
from train import walkforward
from train.backtest_scores import STEP_ERRORS, summarise_steps
from train.dataset import sample_targets

HOUR_MS = 3_600_000


def test_k_step_folds_end_at_their_last_samples_last_target():
    """A fold of 4-step samples sees the candles up to its block's last sample's 4th target
    and none later; its test slice is the planned block; K = 1 folds are as before."""
    lines = synthetic_klines(700, seed=3, ar=0.0)
    del lines[660]  # a gap inside the folds: the samples spanning it are dropped
    times, values = kline_features([line.split(",") for line in lines])
    options = TrainOptions(horizon=4, val_size=48, calibration_size=96, test_size=24)
    built = walkforward.fold_datasets(times, values, options, 3, 24)
    targets = sample_targets(np.asarray(times), 2, HOUR_MS, 4)
    assert np.array_equal(np.concatenate([fold.test_targets for fold, _ in built]),
                          targets[-72:])
    for fold, dataset in built:
        assert fold.horizon == 4 and dataset.horizon == 4
        assert fold.end_row == int(fold.test_targets[-1]) + 3
        assert len(dataset.open_times) == fold.end_row + 1
        assert np.array_equal(dataset.split.test, fold.test_targets)
    assert built[-1][0].end_row == len(times) - 1
    one_step = walkforward.plan_folds(times, 3, 24, window=1, target="return")
    assert [fold.end_row for fold in one_step] == [int(f.test_targets[-1]) for f in one_step]


def test_step_lags_cover_the_overlap():
    assert step_lags(168, 1) == 4  # the automatic bandwidth, as the one-step test
    assert step_lags(168, 16) == 15 and step_lags(48, 4) == 3


def test_per_step_tests_and_summary():
    """A model that halves naive's error at step 1 and doubles it at step 2: step 1 is
    significantly better, step 2 significantly worse, in every case."""
    rng = np.random.default_rng(2)
    cases = []
    for fold in range(3):
        naive = rng.normal(0.0, 1.0, (2, 96))
        model = [0.5 * naive[0], 2.0 * naive[1]]
        cases.append({"pair": "X", "model": "m", "fold": fold, "repeat": 0,
                      "skill_h1": 0.5, "skill_h2": -1.0,
                      STEP_ERRORS: {"model": [m.tolist() for m in model],
                                    "naive": naive.tolist()}})
    cases.append({"pair": "X", "model": "naive", "fold": 0, "repeat": 0,
                  "skill_h1": 0.0, "skill_h2": 0.0})  # no step errors: no test
    add_step_dm_tests(cases)
    assert all(case["dm_p_better_h1"] < 0.01 and case["dm_p_better_h2"] > 0.99
               for case in cases[:3])
    assert [row["h"] for row in cases[0]["steps"]] == [1, 2]
    assert cases[0]["steps"][0]["rmse"] == pytest.approx(
        0.5 * cases[0]["steps"][0]["naive_rmse"])
    summary = summarise_steps(cases, ["m", "naive"], 2)
    assert [(s["dm_better_cases"], s["dm_worse_cases"], s["dm_tests"])
            for s in summary["m"]] == [(3, 0, 3), (0, 3, 3)]
    assert summary["m"][1]["share_skill_below_-0.02"] == 1.0
    assert summary["naive"][0]["median_skill"] == 0.0 and summary["naive"][0]["dm_tests"] == 0
