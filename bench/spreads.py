"""Benchmark: which effective-spread estimator do hourly klines support best? Roll (1984),
Corwin-Schultz (2012) and Abdi-Ranaldo (2017) (predict/costs.py) on the shared pairs.

No quotes are stored, so no estimate can be checked against the true spread. What can be
measured, per pair and non-overlapping 30-day window (the window the scorer uses) over the
last ``--months`` windows of ../shared/data/binance-1h:

- ``defined``: share of pair-windows where the estimator gives a spread at all;
- ``median %``: median spread, % of the price, beside the pairs' median hourly |return|;
- ``below tick``: share of pair-windows whose estimate is below the pair's relative tick
  (the smallest step between distinct closes of the window over the median close): a quoted
  spread is at least one tick, so an estimate below it is wrong;
- ``month-to-month``: median over pairs of the median |log(S_m / S_m-1)| between
  consecutive windows (a pair's spread changes slowly: smaller is steadier);
- ``rank kept``: mean Spearman correlation of the pairs' spreads between consecutive
  windows, over the pairs both define (at least 4; the cross-section's order is kept:
  larger is better);
- ``vs Roll``: Spearman correlation with Roll's estimate over the pair-windows both define.

Printed for the tuning pairs and the reported pairs apart (the split: docs/evidence.md).

    .venv/bin/python bench/spreads.py
    .venv/bin/python bench/spreads.py --months 24
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
HOUR = 3_600_000
WINDOW = 30 * 24

from bench.heldout import REPORTED_PAIRS, TUNING_PAIRS  # noqa: E402
from predict.costs import (  # noqa: E402
    abdi_ranaldo_spread,
    corwin_schultz_spread,
    roll_spread,
)

ESTIMATORS = ("roll", "corwin-schultz", "abdi-ranaldo")


def load(symbol: str) -> np.ndarray:
    """open_time, high, low, close columns of a shared kline CSV."""
    return np.loadtxt(SHARED / f"{symbol}.csv", delimiter=",", usecols=(0, 2, 3, 4))


def estimates(rows: np.ndarray) -> dict[str, float | None]:
    times = rows[:, 0].astype(np.int64)
    high, low, close = rows[:, 1], rows[:, 2], rows[:, 3]
    return {"roll": roll_spread(times, close, HOUR).spread,
            "corwin-schultz": corwin_schultz_spread(times, high, low, close, HOUR).spread,
            "abdi-ranaldo": abdi_ranaldo_spread(times, high, low, close, HOUR).spread}


def relative_tick(close: np.ndarray) -> float:
    steps = np.diff(np.unique(close))
    return float(steps[steps > 0].min() / np.median(close))


def measure(pairs: tuple[str, ...], months: int) -> tuple[dict, dict, float, float]:
    """Per estimator the pair x window spreads (NaN: undefined), and the ticks and median
    |return| of the pairs."""
    found = {name: np.full((len(pairs), months), np.nan) for name in ESTIMATORS}
    ticks = np.empty((len(pairs), months))
    moves = []
    for p, symbol in enumerate(pairs):
        rows = load(symbol)
        moves.append(float(np.median(np.abs(np.diff(np.log(rows[-months * WINDOW:, 3]))))))
        for m in range(months):
            window = rows[len(rows) - (months - m) * WINDOW:len(rows) - (months - m - 1)
                          * WINDOW]
            ticks[p, m] = relative_tick(window[:, 3])
            for name, value in estimates(window).items():
                if value is not None:
                    found[name][p, m] = value
    return found, ticks, float(np.median(moves)), months


def report(label: str, pairs: tuple[str, ...], months: int) -> None:
    found, ticks, move, _ = measure(pairs, months)
    print(f"\n{label}: {', '.join(pairs)}; {months} windows of 30 days each; "
          f"median hourly |return| {move * 100:.3f} %, median relative tick "
          f"{np.median(ticks) * 100:.3f} %")
    print(f"{'estimator':<16}{'defined':>9}{'median %':>10}{'below tick':>12}"
          f"{'month-to-month':>16}{'rank kept':>11}{'vs Roll':>9}")
    for name, values in found.items():
        defined = ~np.isnan(values)
        changes = [np.nanmedian(np.abs(np.diff(np.log(row)))) for row in values
                   if np.sum(~np.isnan(np.diff(np.log(row)))) > 0]
        kept = [defined[:, m - 1] & defined[:, m] for m in range(1, months)]
        ranks = [spearmanr(values[k, m], values[k, m + 1]).statistic
                 for m, k in enumerate(kept) if k.sum() >= 4]
        both = defined & ~np.isnan(found["roll"])
        agree = spearmanr(values[both], found["roll"][both]).statistic if both.sum() > 2 else None
        print(f"{name:<16}{defined.mean():>9.2f}{np.nanmedian(values) * 100:>10.3f}"
              f"{np.mean(values[defined] < ticks[defined]):>12.2f}"
              f"{np.median(changes):>16.3f}"
              f"{(np.mean(ranks) if ranks else float('nan')):>11.2f}"
              f"{(agree if agree is not None else float('nan')):>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    report("tuning pairs", TUNING_PAIRS, args.months)
    report("reported pairs", REPORTED_PAIRS, args.months)


if __name__ == "__main__":
    main()
