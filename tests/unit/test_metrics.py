"""Forecast error figures, computed by hand on a tiny example, and skill beside naive."""

from __future__ import annotations

import math

import numpy as np
import pytest

from train.metrics import forecast_errors, skill


def test_errors_by_hand():
    actual, predicted, last = [1.0, 2.0, 3.0], [1.5, 2.0, 2.0], [1.0, 1.0, 3.0]
    errors = forecast_errors(np.array(actual), np.array(predicted), np.array(last))
    assert errors.rmse == pytest.approx(math.sqrt((0.25 + 0 + 1) / 3))
    assert (errors.max_error, errors.mae) == (pytest.approx(1.0), pytest.approx(0.5))
    assert errors.mape == pytest.approx((0.5 / 1 + 0 + 1 / 3) / 3 * 100)
    # Directions: forecast up, up, down; actual unchanged, up, unchanged: one of three right.
    assert errors.direction_accuracy == pytest.approx(1 / 3)


def test_naive_scores_the_share_of_unchanged_hours_and_skill_zero():
    last = np.array([1.0, 1.0, 2.0, 2.0])
    actual = np.array([1.0, 1.1, 2.0, 1.9])
    naive = forecast_errors(actual, last, last)
    assert naive.direction_accuracy == 0.5  # the two unchanged hours only
    assert skill(naive.rmse, naive.rmse) == 0.0
    assert skill(0.5, 1.0) == 0.5 and skill(2.0, 1.0) == -1.0
    assert skill(0.1, 0.0) is None  # nothing moved: no naive error to beat


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="equal, non-empty shapes"):
        forecast_errors(np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="equal, non-empty shapes"):
        forecast_errors(np.ones(0), np.ones(0), np.ones(0))
