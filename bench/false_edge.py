"""False edges and power of the shrinkage's edge test on K-step forecasts (docs/intervals.md).

A calibration sample of a ``--horizon K`` model has K cumulative returns that overlap each
other and the next K - 1 samples'. This script measures, on SYNTHETIC series (numpy only),
how often each way of testing the slope calls an edge (t > MIN_T):

- ``pooled t``: the former test, the ordinary t test on all n x K values as if independent
  (``fit_shrinkage`` on the flattened values);
- ``step 1``: the test now (``Returns.calibrate``): the ordinary t test on each sample's
  first step, whose n values do not overlap;
- ``HAC bK-1``, ``HAC b2(K-1)``, ``HAC u K-1``: the pooled slope with a Newey-West standard
  error over the per-sample scores, Bartlett kernel with K - 1 and 2 (K - 1) lags, uniform
  kernel with K - 1 lags (exact for scores that are (K-1)-dependent, not always positive).

Null (the rate should be at most the nominal 2.5 %): random walks with three kinds of
forecast of the past only: ``momentum`` (h x the trailing 24-hour mean return), ``iid`` (h x
noise per sample), ``persistent`` (h x an AR(1) noise with coefficient 0.98). Power: AR(1)
returns with coefficient 0.1 and their optimal K-step forecast (a short-memory edge), and
returns with a slowly drifting mean (AR(1) 0.99, step-1 correlation 0.1) forecast from it.

Second table: the per-step Diebold-Mariano test of ``evaluate --horizon`` (coinlstm/app/
evaluate_steps.py). Two equally good forecasts of a random walk's h-step close, on a block of
168 hours (a momentum one, as above at half weight, and a persistent noise of the same
spread), are told apart at 5 % (one-sided) in this share of blocks, with the Newey-West
variance on the automatic bandwidth alone and on ``step_lags`` (at least h - 1 lags).

    .venv/bin/python bench/false_edge.py [--series 400] [--blocks 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from coinlstm.app.jobs.evaluate_steps import step_lags  # noqa: E402
from coinlstm.core.columns import FEATURE_COLUMNS  # noqa: E402
from predict.track_record import diebold_mariano, newey_west_lags  # noqa: E402
from train.formulations.base import CLOSE_INDEX  # noqa: E402
from train.formulations.returns import Returns  # noqa: E402
from train.prediction_bands import DEFAULT_CALIBRATION_SIZE  # noqa: E402
from train.shrinkage import MIN_T, fit_shrinkage  # noqa: E402

LOOKBACK = 24
HORIZONS = (1, 4, 16)
METHODS = ("pooled t", "step 1", "HAC bK-1", "HAC b2(K-1)", "HAC u K-1")


def ar1(rng: np.random.Generator, n: int, phi: float, scale: float) -> np.ndarray:
    out, previous = np.empty(n), 0.0
    for t, shock in enumerate(rng.normal(0.0, scale, n)):
        previous = out[t] = phi * previous + shock
    return out


def hac_t(actual: np.ndarray, predicted: np.ndarray, lags: int, uniform: bool) -> float:
    """t of the pooled slope with a HAC variance of the per-sample scores."""
    energy = float((predicted * predicted).sum())
    slope = float((actual * predicted).sum()) / energy
    scores = ((actual - slope * predicted) * predicted).sum(axis=1)
    long_run = float(scores @ scores)
    for lag in range(1, lags + 1):
        weight = 1.0 if uniform else 1.0 - lag / (lags + 1.0)
        long_run += 2.0 * weight * float(scores[lag:] @ scores[:-lag])
    return slope * energy / math.sqrt(long_run) if long_run > 0 else math.inf


def edges(returns: np.ndarray, predicted: np.ndarray) -> dict[str, bool]:
    """Each method's verdict on one calibration slice (sample i's first target: candle
    LOOKBACK + 1 + i)."""
    samples, horizon = predicted.shape
    closes = np.exp(np.concatenate([[0.0], np.cumsum(returns)]))
    features = np.ones((len(closes), len(FEATURE_COLUMNS)))
    features[:, CLOSE_INDEX] = closes
    rows = (LOOKBACK + 1 + np.arange(samples))[:, None] + np.arange(horizon)[None, :]
    actual = np.log(closes[rows] / closes[rows[:, :1] - 1])
    now = Returns(mean=np.zeros(8), std=np.ones(8), target_scale=1.0).calibrate(
        features, rows, predicted)
    lags = max(horizon - 1, 0)
    return {"pooled t": fit_shrinkage(actual.reshape(-1), predicted.reshape(-1)).edge,
            "step 1": now.edge,
            "HAC bK-1": hac_t(actual, predicted, lags, False) > MIN_T,
            "HAC b2(K-1)": hac_t(actual, predicted, 2 * lags, False) > MIN_T,
            "HAC u K-1": hac_t(actual, predicted, lags, True) > MIN_T}


def null_case(rng, kind: str, n: int, horizon: int):
    returns = rng.normal(0.0, 0.01, LOOKBACK + n + horizon + 1)
    first = LOOKBACK + 1 + np.arange(n)
    if kind == "momentum":
        cumulative = np.concatenate([[0.0], np.cumsum(returns)])
        base = (cumulative[first - 1] - cumulative[first - 1 - LOOKBACK]) / LOOKBACK
    elif kind == "iid":
        base = rng.normal(0.0, 1.0, n)
    else:
        base = ar1(rng, n, 0.98, 1.0)
    return returns, base[:, None] * np.arange(1, horizon + 1)[None, :]


def signal_case(rng, kind: str, n: int, horizon: int):
    first = LOOKBACK + 1 + np.arange(n)
    size = LOOKBACK + n + horizon + 1
    steps = np.arange(1, horizon + 1)
    if kind == "AR(1) 0.1":
        returns = ar1(rng, size, 0.1, 0.01)
        return returns, returns[first - 2][:, None] * np.cumsum(0.1 ** steps)[None, :]
    mean = ar1(rng, size, 0.99, 0.01 * 0.1 * math.sqrt(1 - 0.99 ** 2))
    returns = mean + rng.normal(0.0, 0.01, size)
    return returns, mean[first - 2][:, None] * np.cumsum(0.99 ** steps)[None, :]


def rates(make, kind: str, series: int, horizon: int, rng) -> dict[str, float]:
    verdicts = [edges(*make(rng, kind, DEFAULT_CALIBRATION_SIZE, horizon))
                for _ in range(series)]
    return {method: float(np.mean([v[method] for v in verdicts])) for method in METHODS}


def dm_sizes(rng, blocks: int, horizon: int, size: int = 168) -> dict[str, float]:
    """Share of blocks whose DM test calls the first of two equally good h-step forecasts
    better at 5 %, per choice of lags."""
    choices = {"automatic lags": newey_west_lags(size), "step_lags": step_lags(size, horizon)}
    rejected = dict.fromkeys(choices, 0)
    for _ in range(blocks):
        cumulative = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.01,
                                                                 size + 100 + horizon))])
        base = np.arange(60, 60 + size)
        actual = cumulative[base + horizon] - cumulative[base]
        first = (cumulative[base] - cumulative[base - LOOKBACK]) / LOOKBACK * horizon * 0.5
        noise = ar1(rng, size, 0.9, 1.0)
        second = noise * first.std() / noise.std()
        for name, lags in choices.items():
            test = diebold_mariano(first - actual, second - actual, lags=lags)
            rejected[name] += test is not None and test.p_better < 0.05
    return {name: count / blocks for name, count in rejected.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400, help="series per cell")
    parser.add_argument("--blocks", type=int, default=1000, help="DM blocks per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.series} series per row, {DEFAULT_CALIBRATION_SIZE} calibration samples, "
          f"edge: t > {MIN_T:g}; share of series called an edge")
    print(f"{'case':<28}{'K':>3}" + "".join(f"{m:>13}" for m in METHODS))
    for title, make, kinds in (("random walk", null_case, ("momentum", "iid", "persistent")),
                               ("edge", signal_case, ("AR(1) 0.1", "drift 0.1"))):
        for kind in kinds:
            for horizon in HORIZONS:
                shares = rates(make, kind, args.series, horizon, rng)
                print(f"{title + ', ' + kind:<28}{horizon:>3}"
                      + "".join(f"{shares[m]:>13.3f}" for m in METHODS), flush=True)
    print(f"\nper-step DM test, {args.blocks} blocks of 168 hours per row, nominal 0.05: "
          "share of blocks that called one of two equally good forecasts better")
    print(f"{'h':>3}{'automatic lags':>16}{'step_lags':>12}")
    for horizon in HORIZONS:
        sizes = dm_sizes(rng, args.blocks, horizon)
        print(f"{horizon:>3}{sizes['automatic lags']:>16.3f}{sizes['step_lags']:>12.3f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
