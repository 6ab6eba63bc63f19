"""Benchmark: prediction intervals with no model at all, on the 12 shared pairs.

For every pair of ../shared/data/binance-1h and each of its last ``--hours`` hours (one step
ahead, the forecast being the last close), a band is built from earlier candles only, by
three methods of train/prediction_bands.py:

- ``static``: empirical quantiles of the last ``--window`` hourly log returns;
- ``ewma``: the same returns over a RiskMetrics volatility (lambda 0.94), times today's
  (filtered historical simulation);
- ``conformal``: the tool's method (:func:`train.prediction_bands.calibrate` on the last
  ``--window`` hours' residuals of the naive forecast, scaled by
  :func:`train.prediction_bands.volatility_scales`), recalibrated every ``--refit`` hours (1: every
  hour; 168: once a week, as a model's band is between two trainings in ``evaluate``).

Printed per method and level: mean coverage over pairs (and the lowest and highest pair's),
mean width and Winkler score (% of the last close), the share of pairs whose Winkler score
beats ``static`` (and ``ewma``), and the median interval skill (1 - Winkler / static's).
A second table scores the 9 ETH pairs' (pair, week) cases as ``coinlstm evaluate`` does (168
hours each): median coverage, the pair whose median coverage is furthest from nominal, and
the share of cases whose Winkler score beats ``static``.

``--back N`` ends the measured block N hours before the data's end (to check a choice on
other weeks than the ones it was chosen on).

    .venv/bin/python bench/intervals.py
    .venv/bin/python bench/intervals.py --back 5000 --pairs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH", "TRXETH",
         "XRPETH", "ETHBTC", "BTCUSDT", "ETHUSDT")
METHODS = ("static", "ewma", "conformal")

from train.prediction_bands import (  # noqa: E402  (after the sys.path line above)
    DEFAULT_LEVELS,
    STATIC_WINDOW,
    Band,
    calibrate,
    interval_skill,
    naive_bands,
    riskmetrics_scales,
    score_band,
    volatility_scales,
)


def load_closes(symbol: str) -> np.ndarray:
    """The close column (index 4) of a shared Binance kline CSV."""
    return np.loadtxt(SHARED / f"{symbol}.csv", delimiter=",", usecols=(4,))


def conformal_bands(closes: np.ndarray, base_rows: np.ndarray, levels: tuple[float, ...],
                    window: int, refit: int = 1) -> list[Band]:
    """The tool's bands around the naive forecast, calibrated every ``refit`` hours on the
    ``window`` hours before (their one-step residuals are the returns themselves)."""
    scales = volatility_scales(closes)
    lower = np.empty((len(levels), len(base_rows)))
    upper = np.empty_like(lower)
    for sample, row in enumerate(base_rows):
        fitted_at = base_rows[sample - sample % refit]
        bases = np.arange(fitted_at - window, fitted_at)
        calibration = calibrate(closes[bases + 1], closes[bases], closes[bases],
                                scales[bases], levels)
        for index, band in enumerate(calibration.bands(closes[row:row + 1],
                                                       closes[row:row + 1],
                                                       scales[row:row + 1])):
            lower[index, sample], upper[index, sample] = band.lower[0], band.upper[0]
    return [Band(level, lower[i], upper[i]) for i, level in enumerate(levels)]


#: The pairs the bands' targets were set on (the ETH market) and the length of one evaluate case.
ETH_PAIRS = PAIRS[:9]
WEEK = 168


def measure(symbol: str, hours: int, back: int, window: int, levels: tuple[float, ...],
            refit: int = 1) -> tuple[dict[str, dict[float, tuple[float, float, float]]],
                                     dict[str, dict[float, list[tuple[float, float]]]]]:
    """{method: {level: (coverage, width %, Winkler %)}} of one pair over all hours, and
    {method: {level: [(coverage, Winkler %) of each whole week]}}."""
    closes = load_closes(symbol)
    closes = closes[:len(closes) - back]
    base_rows = np.arange(len(closes) - 1 - hours, len(closes) - 1)
    actual = closes[base_rows + 1]
    bands = {"static": naive_bands(closes, base_rows, levels, window=window),
             "ewma": naive_bands(closes, base_rows, levels, riskmetrics_scales(closes),
                                 window=window),
             "conformal": conformal_bands(closes, base_rows, levels, window, refit)}
    out: dict[str, dict[float, tuple[float, float, float]]] = {}
    weeks: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for method, method_bands in bands.items():
        out[method], weeks[method] = {}, {}
        for band in method_bands:
            score = score_band(actual, band, closes[base_rows])
            out[method][band.level] = (score.coverage, score.width, score.winkler)
            weeks[method][band.level] = []
            for start in range(0, hours - WEEK + 1, WEEK):
                week = slice(start, start + WEEK)
                score = score_band(actual[week], Band(band.level, band.lower[week],
                                                      band.upper[week]), closes[base_rows[week]])
                weeks[method][band.level].append((score.coverage, score.winkler))
    return out, weeks


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True)))


def print_cases(weeks: dict[str, dict], levels: tuple[float, ...]) -> None:
    """The evaluate-like summary of the ETH pairs' (pair, week) cases."""
    rows = [("method", "level", "cases", "median coverage", "worst pair (median)",
             "beats static", "median skill")]
    for method in METHODS:
        for level in levels:
            cases = np.array([weeks[s][method][level] for s in ETH_PAIRS])  # pairs, weeks, 2
            static = np.array([weeks[s]["static"][level] for s in ETH_PAIRS])[:, :, 1]
            pair_medians = np.median(cases[:, :, 0], axis=1)
            worst = int(np.argmax(np.abs(pair_medians - level)))
            rows.append((method, f"{level:g}", str(cases[:, :, 0].size),
                         f"{np.median(cases[:, :, 0]):.3f}",
                         f"{ETH_PAIRS[worst]} {pair_medians[worst]:.3f}",
                         f"{np.mean(cases[:, :, 1] < static):.2f}",
                         f"{np.median(1 - cases[:, :, 1] / static):+.3f}"))
    print_table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=840, help="hours measured per pair")
    parser.add_argument("--back", type=int, default=0,
                        help="end the measured block this many hours before the data's end")
    parser.add_argument("--window", type=int, default=STATIC_WINDOW,
                        help="hours each band is built from")
    parser.add_argument("--refit", type=int, default=1,
                        help="recalibrate the conformal band every this many hours")
    parser.add_argument("--pairs", action="store_true", help="also print every pair's figures")
    args = parser.parse_args(argv)
    levels = DEFAULT_LEVELS
    started = time.perf_counter()
    measured = {symbol: measure(symbol, args.hours, args.back, args.window, levels, args.refit)
                for symbol in PAIRS}
    results = {symbol: whole for symbol, (whole, _) in measured.items()}
    print(f"{len(PAIRS)} pairs, last {args.hours} hours (ending {args.back} h before the data's "
          f"end), one step ahead, bands from the {args.window} hours before each hour "
          f"(conformal: recalibrated every {args.refit} h); "
          "forecast = last close; width and Winkler in % of the last close")
    header = ("method", "level", "coverage", "pair min", "pair max", "width %", "Winkler %",
              "beats static", "beats ewma", "median skill")
    rows = [header]
    for method in METHODS:
        for level in levels:
            per_pair = np.array([results[s][method][level] for s in PAIRS])
            static = np.array([results[s]["static"][level][2] for s in PAIRS])
            ewma = np.array([results[s]["ewma"][level][2] for s in PAIRS])
            skills = [interval_skill(w, s) for w, s in zip(per_pair[:, 2], static, strict=True)]
            rows.append((method, f"{level:g}", f"{per_pair[:, 0].mean():.3f}",
                         f"{per_pair[:, 0].min():.3f}", f"{per_pair[:, 0].max():.3f}",
                         f"{per_pair[:, 1].mean():.3f}", f"{per_pair[:, 2].mean():.3f}",
                         f"{np.mean(per_pair[:, 2] < static):.2f}",
                         f"{np.mean(per_pair[:, 2] < ewma):.2f}",
                         f"{np.median([s for s in skills if s is not None]):+.3f}"))
    print_table(rows)
    print(f"\nthe {len(ETH_PAIRS)} ETH pairs, one case per pair and week ({WEEK} h):")
    print_cases({symbol: weeks for symbol, (_, weeks) in measured.items()}, levels)
    if args.pairs:
        print()
        for symbol in PAIRS:
            cells = [f"{method} {level:g}: cov {results[symbol][method][level][0]:.3f} "
                     f"W {results[symbol][method][level][2]:.3f}"
                     for method in METHODS for level in levels]
            print(f"{symbol:8s} " + " | ".join(cells))
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
