"""Benchmark: on real hourly candles, does ranking pairs by the model's volatility scale
(what the bands' width is proportional to) pick next hour's movers better than the naive
ranking (realised volatility of the last 24 hours)? And Roll's effective spread per pair.

Reads the shared Binance 1h CSVs of one quote market (default the ETH pairs), takes the
last ``--days`` days they all cover, and per hour ranks the pairs by each forecast size
against the absolute log return that came; prints the mean Spearman correlations, their
mean difference and the one-sided test the dashboard uses (predict/movers.py), then each
pair's Roll spread over its last 30 days and over the whole span.

    .venv/bin/python bench/movers.py                  # ETH pairs, last 90 days
    .venv/bin/python bench/movers.py --days 365 --market USDT

No training: the tool's size here is train.prediction_bands.volatility_scales, the scale the
calibrated band multiplies, so the ranking is the bands' ranking.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
HOUR = 3_600_000
DATA = REPO.parent / "shared" / "data" / "binance-1h"


def read_closes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as handle:
        rows = [(int(row[0]), float(row[4])) for row in csv.reader(handle)]
    return np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows])


def main() -> None:
    from predict.costs import roll_spread
    from predict.movers import PairHour, hourly_correlations, trailing_volatility, window_score
    from train.prediction_bands import volatility_scales

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--market", default="ETH")
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    files = sorted(p for p in args.data.glob(f"*{args.market}.csv")
                   if p.stem != args.market and not p.stem.startswith(args.market))
    series = {path.stem: read_closes(path) for path in files}
    end = min(int(times[-1]) for times, _ in series.values())
    start = end - args.days * 24 * HOUR
    hours, spreads = [], {}
    for pair, (times, closes) in enumerate(series.values()):
        scales = volatility_scales(closes) * 100
        naive = trailing_volatility(times, closes, HOUR)
        for i, t in enumerate(times[:-1]):
            if start <= t < end and times[i + 1] == t + HOUR:
                hours.append(PairHour(pair, int(t), float(scales[i]), naive.get(int(t)),
                                      abs(float(np.log(closes[i + 1] / closes[i]))) * 100))
        recent = times >= end - 30 * 24 * HOUR
        spreads[files[pair].stem] = (roll_spread(times[recent], closes[recent], HOUR),
                                     roll_spread(times, closes, HOUR))
    correlations = hourly_correlations(hours)
    score = window_score(f"{args.days}d", correlations)
    print(f"{len(series)} {args.market} pairs, {score.hours} hours "
          f"(mean {score.mean_pairs or 0:.1f} pairs an hour), last {args.days} days")
    print(f"  mean Spearman, model's volatility scale vs |next return|: {score.spearman:+.4f}")
    print(f"  mean Spearman, naive 24 h realised volatility:            "
          f"{score.naive_spearman:+.4f}")
    print(f"  mean difference {score.difference:+.4f}, t = {score.statistic}, one-sided "
          f"p = {score.p_value}: {score.verdict}")
    print("Roll's effective spread, % of the price (last 30 days | whole file):")
    for name, (recent, whole) in spreads.items():
        def shown(estimate) -> str:
            return "undefined" if estimate.spread is None else f"{estimate.spread * 100:.3f}"
        print(f"  {name:10s} {shown(recent):>10s} | {shown(whole):>10s}")
    defined = [r.spread * 100 for r, _ in spreads.values() if r.spread is not None]
    if defined:
        print(f"  median of the defined last-30-day estimates: {statistics.median(defined):.3f} "
              f"({len(defined)} of {len(spreads)} defined)")


if __name__ == "__main__":
    main()
