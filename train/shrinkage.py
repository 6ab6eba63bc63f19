"""How far the forecast may move away from the last close: a factor fitted on held-out rows.

The forecast is ``last close * exp(a * predicted return)`` with ``a`` in [0, 1]. The
evidence is the least-squares slope of the actual calibration returns on the predicted ones
(no intercept) and its t statistic. ``a`` is the slope's lower confidence bound, ``slope -``
:data:`MIN_T` ``x standard error`` (= ``slope (1 - MIN_T / t)``), clipped to [0, 1]: 0 unless
the calibration slice shows the edge with ``t > MIN_T``, and then only as much of the slope as
the evidence backs. ``a = 0``: the forecast is the last close and the tool says "no edge"
instead of presenting noise as a model's insight.

Why the lower bound and not the slope itself: a slope that just passes the test may be an
accident of the slice (2 % of random walks pass it), and at full weight such an accident can
cost a week's skill dearly (the backtests: docs/intervals.md). The test
error is convex in ``a`` and equals the naive one at ``a = 0``, so a smaller ``a`` keeps
every week that the full slope won a win (smaller) and shrinks every loss.

Why this anchors the default on the naive forecast: with ``a = 0`` the forecast *is* the naive
one, so the typical pair (no learnable signal in hourly returns) loses nothing to it; a model
earns a non-zero ``a`` only with evidence on data it was not fitted on: the calibration slice
(train/dataset.py, "Split"), which early stopping never watched: fitted on the validation
slice that early stopping picked the best epoch on, ``a`` comes out optimistic (measured in
docs/intervals.md). The slice is long (train/prediction_bands.DEFAULT_CALIBRATION_SIZE) so that
the test has the power to see a weak edge. A series too short for a calibration slice of its
own falls back to the validation slice. The t threshold of 2 allows about 2 % false edges on
a random walk, and those get a small ``a``. The test slice is never read here.

Multi-step forecasts (``--horizon K``): the test reads step 1 of every calibration sample
only, and ``a`` (one factor for all K steps) is that step's lower bound. Why: the K
cumulative returns of a sample share their first returns, and sample i's step h shares
returns with the next K - 1 samples' steps, so the K x n values are far from n x K
independent observations, and pooled into the ordinary t test they pass random walks as
edges many times more often than the nominal rate. Step 1's n values share no return: its
test is exactly the K = 1 test, with its size. A pooled slope with a Newey-West (HAC)
standard error was the alternative; it weighs the long, noisy steps most and so loses most
of its power on an edge of short memory (the measurements: docs/intervals.md,
bench/false_edge.py). At K = 1 nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Least t statistic of the validation slope that counts as an edge.
MIN_T = 2.0


@dataclass(frozen=True)
class Shrinkage:
    """The fitted factor and the evidence behind it."""

    factor: float
    slope: float
    t_stat: float
    samples: int
    #: Forecast steps per sample (``--horizon``); the evidence is step 1's.
    steps: int = 1

    @property
    def edge(self) -> bool:
        return self.factor > 0

    def describe(self) -> str:
        evidence = f"slope {self.slope:+.3f}, t {self.t_stat:+.2f} on {self.samples} " \
                   "calibration samples"
        if self.steps > 1:  # the overlapping later steps are not more evidence
            evidence += f", step 1 of {self.steps} only"
        if self.edge:
            return f"shrinkage a = {self.factor:.3f} ({evidence}): edge on the calibration slice"
        return (f"shrinkage a = 0 ({evidence}, needs t >= {MIN_T:g}): no edge, the forecast "
                "is the last close")

    def to_dict(self) -> dict:
        return {**asdict(self), "edge": self.edge}


def fit_shrinkage(actual: np.ndarray, predicted: np.ndarray, min_t: float = MIN_T) -> Shrinkage:
    """The factor for forecasts ``predicted`` of returns ``actual`` (calibration slice only):
    one value per sample, or (samples, K) cumulative returns of K-step forecasts, of which
    the fit reads step 1 only (module doc: the steps overlap)."""
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    steps = 1
    if actual.ndim == 2:
        steps = actual.shape[1]
        actual, predicted = actual[:, 0], predicted[:, 0]
    n = len(actual)
    energy = float(np.dot(predicted, predicted))
    if n < 3 or energy == 0.0:
        return Shrinkage(factor=0.0, slope=0.0, t_stat=0.0, samples=n, steps=steps)
    slope = float(np.dot(actual, predicted)) / energy
    residual = actual - slope * predicted
    variance = float(np.dot(residual, residual)) / (n - 1)
    t_stat = slope / math.sqrt(variance / energy) if variance > 0 else math.inf
    # The lower confidence bound slope - min_t x standard error, i.e. slope (1 - min_t / t).
    bound = slope * (1.0 - min_t / t_stat) if math.isfinite(t_stat) else slope
    factor = min(max(bound, 0.0), 1.0) if t_stat >= min_t else 0.0
    return Shrinkage(factor=factor, slope=slope, t_stat=t_stat, samples=n, steps=steps)
