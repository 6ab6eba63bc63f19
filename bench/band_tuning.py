"""Benchmark: tune the bands on the tuning pairs, and only then look at the reported ones.

Model-free, so a year of pair-weeks costs seconds: the default's point forecast is the last
close in most hours (its shrinkage is 0 unless the calibration slice shows an edge), so its
band is the tool's conformal band around the last close. Per pair and hour of the last
``--weeks`` weeks: the band is calibrated once a day (as the hourly job's full refit does)
on the ``--window`` hours before (:func:`train.intervals.calibrate` on the naive residuals
scaled by the volatility scale), and the ``static`` baseline is the empirical quantiles of
the last 480 returns (:func:`train.intervals.naive_bands`). Per pair-week (168 hours): does
the band's Winkler score beat static's, and its coverage.

Candidates: the calibration window and the volatility scale's exponent ``gamma`` (the
residuals are divided by scale**gamma and the band multiplies it back: 1 is the tool's
scaling, 0 is a static conformal band, between them a volatility forecast trusted only in
part).

    .venv/bin/python bench/band_tuning.py                     # the tuning pairs: choose
    .venv/bin/python bench/band_tuning.py --pairs reported    # then report, unchanged
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
WEEK = 168
DAY = 24

from bench.heldout import REPORTED_PAIRS, TUNING_PAIRS  # noqa: E402
from train.intervals import (  # noqa: E402
    calibrate,
    naive_bands,
    volatility_scales,
    winkler_scores,
)

LEVELS = (0.8, 0.95)


def band_bounds(closes: np.ndarray, rows: np.ndarray, window: int, gamma: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """(levels, rows) lower and upper bands around the last close at each base row,
    calibrated once a day on the ``window`` hours before that day's first row."""
    scales = volatility_scales(closes) ** gamma
    lower = np.empty((len(LEVELS), len(rows)))
    upper = np.empty_like(lower)
    for start in range(0, len(rows), DAY):
        first = rows[start]
        bases = np.arange(first - window, first)
        fitted = calibrate(closes[bases + 1], closes[bases], closes[bases], scales[bases],
                           LEVELS)
        day = rows[start:start + DAY]
        for index, band in enumerate(fitted.bands(closes[day], closes[day], scales[day])):
            lower[index, start:start + DAY] = band.lower
            upper[index, start:start + DAY] = band.upper
    return lower, upper


def pair_weeks(symbol: str, weeks: int, window: int, gamma: float) -> np.ndarray:
    """(weeks, levels, 3): per week and level the band's Winkler, static's, and coverage."""
    closes = np.loadtxt(SHARED / f"{symbol}.csv", delimiter=",", usecols=(4,))
    rows = np.arange(len(closes) - 1 - weeks * WEEK, len(closes) - 1)
    lower, upper = band_bounds(closes, rows, window, gamma)
    static = naive_bands(closes, rows, LEVELS)
    actual, base = closes[rows + 1], closes[rows]
    out = np.empty((weeks, len(LEVELS), 3))
    for index, level in enumerate(LEVELS):
        mine = winkler_scores(actual, lower[index], upper[index], level) / base
        theirs = winkler_scores(actual, static[index].lower[:, 0], static[index].upper[:, 0],
                                level) / base
        inside = (actual >= lower[index]) & (actual <= upper[index])
        for week in range(weeks):
            chosen = slice(week * WEEK, (week + 1) * WEEK)
            out[week, index] = (mine[chosen].mean(), theirs[chosen].mean(),
                                inside[chosen].mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", choices=("tuning", "reported"), default="tuning")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--windows", default="480,960,1920")
    parser.add_argument("--gammas", default="1,0.75,0.5")
    args = parser.parse_args()
    pairs = TUNING_PAIRS if args.pairs == "tuning" else REPORTED_PAIRS
    print(f"{args.pairs} pairs {', '.join(pairs)}: last {args.weeks} weeks each, "
          f"{len(pairs) * args.weeks} pair-weeks; band calibrated daily around the last close")
    print(f"{'window':>7}{'gamma':>7}{'beats static 80':>17}{'beats static 95':>17}"
          f"{'coverage 80':>13}{'coverage 95':>13}{'Winkler 95 / static':>21}")
    for window in (int(v) for v in args.windows.split(",")):
        for gamma in (float(v) for v in args.gammas.split(",")):
            found = np.concatenate([pair_weeks(s, args.weeks, window, gamma) for s in pairs])
            beats = (found[:, :, 0] < found[:, :, 1]).mean(axis=0)
            coverage = np.median(found[:, :, 2], axis=0)
            ratio = np.median(found[:, 1, 0] / found[:, 1, 1])
            print(f"{window:>7}{gamma:>7.2f}{beats[0] * 100:>16.0f}%{beats[1] * 100:>16.0f}%"
                  f"{coverage[0]:>13.3f}{coverage[1]:>13.3f}{ratio:>21.3f}")


if __name__ == "__main__":
    main()
