"""Compare calibration set-ups of the default forecaster from ``coinlstm evaluate`` runs.

Issue 16, item 5: the shrinkage factor ``a`` and the bands must be calibrated on rows no
other fitting step has seen, "without losing the cases where the default does beat the last
close". Each set-up is one evaluate run (same pairs, folds and seed, a different
``--calibration-size`` or ``--val-size``), e.g.

    coinlstm evaluate --market ETH --models static,ewma,default --folds 5 --workers 2 \\
        --calibration-size 0 --out runs/cal0

This script only reads the runs' ``cases.csv`` (and the DM columns evaluate writes from
``hours.csv``) and prints, for MODEL (default ``default``):

1. per run: the share of cases with skill > 0, = 0 and < -0.02, the worst, best, mean and
   median skill, the sign test's p, the cases with ``a > 0``, the cases whose own
   Diebold-Mariano test says better / worse than naive at 5 % (one-sided), and the bands'
   median coverage, the largest distance of a pair's median coverage from nominal and the
   share of cases whose Winkler score beats ``static``, at 80 % and 95 %;
2. the "lost winners": every (pair, week) with skill > 0 in the first run and not in the
   second, with the first run's ``a``, skill and DM statistic and p (is the gain more than
   a week's luck?);
3. every run's winners with their DM p, and its cases whose DM test is significant either
   way.

    .venv/bin/python bench/calibration_setups.py cal0=runs/cal0 cal240=runs/cal240 ...
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LEVELS = ("80", "95")


def load(folder: Path, model: str) -> list[dict]:
    with (folder / "cases.csv").open() as handle:
        rows = [row for row in csv.DictReader(handle) if row["model"] in (model, "static")]
    for row in rows:
        for key, value in row.items():
            if key not in ("pair", "model", "network", "target", "test_start", "test_end"):
                row[key] = float(value) if value not in ("", None) else None
    return rows


def figures(rows: list[dict], model: str) -> dict:
    from scipy.stats import binomtest

    from train.backtest_scores import CLEARLY_WORSE, DM_LEVEL

    cases = [row for row in rows if row["model"] == model]
    skill = np.array([row["skill"] for row in cases])
    nonzero = skill[skill != 0]
    dm = [row["dm_p_better"] for row in cases if row["dm_p_better"] is not None]
    out = {"cases": len(cases), ">0": np.mean(skill > 0), "=0": np.mean(skill == 0),
           "<-0.02": np.mean(skill < CLEARLY_WORSE), "worst": skill.min(),
           "best": skill.max(), "mean": skill.mean(), "median": float(np.median(skill)),
           "sign p": (binomtest(int(np.sum(nonzero > 0)), len(nonzero)).pvalue
                      if len(nonzero) else float("nan")),
           "a>0": sum((row["shrinkage"] or 0) > 0 for row in cases),
           "DM better": sum(p < DM_LEVEL for p in dm),
           "DM worse": sum(p > 1 - DM_LEVEL for p in dm)}
    static = {(row["pair"], row["fold"]): row for row in rows if row["model"] == "static"}
    for level in LEVELS:
        coverage = f"coverage_{level}"
        pairs = {row["pair"] for row in cases}
        pair_median = [np.median([row[coverage] for row in cases if row["pair"] == pair])
                       for pair in pairs]
        nominal = int(level) / 100
        beats = [row[f"winkler_{level}"] < static[(row["pair"], row["fold"])]
                 [f"winkler_{level}"] for row in cases if (row["pair"], row["fold"]) in static]
        out[f"cov {level}"] = float(np.median([row[coverage] for row in cases]))
        out[f"worst pair off {level}"] = max(abs(m - nominal) for m in pair_median)
        out[f"beats static {level}"] = float(np.mean(beats)) if beats else float("nan")
    return out


def main(argv: list[str] | None = None) -> int:
    from coinlstm.core.tables import format_table
    from train.backtest_scores import DM_LEVEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=DIR",
                        help="evaluate output folders; the first two are compared case by case")
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    runs = {}
    for text in args.runs:
        label, _, folder = text.partition("=")
        runs[label] = load(Path(folder), args.model)
    table = {label: figures(rows, args.model) for label, rows in runs.items()}
    keys = list(next(iter(table.values())))
    formats = {"cases": "{:.0f}", "a>0": "{:.0f}", "DM better": "{:.0f}", "DM worse": "{:.0f}",
               "worst": "{:+.4f}", "best": "{:+.4f}", "mean": "{:+.5f}", "median": "{:+.4f}",
               "sign p": "{:.2g}"}
    print(format_table([("set-up", *keys), *[(label, *(formats.get(key, "{:.3f}").format(
        value[key]) for key in keys)) for label, value in table.items()]]))

    labels = list(runs)
    if len(labels) >= 2:
        first, second = ({(row["pair"], row["fold"]): row for row in runs[label]
                          if row["model"] == args.model} for label in labels[:2])
        rows = [(pair, f"{fold:.0f}", first[key]["test_start"], f"{first[key]['shrinkage']:.3f}",
                 f"{first[key]['skill']:+.4f}", f"{second[key]['skill']:+.4f}",
                 f"{second[key]['shrinkage']:.3f}",
                 _dm(first[key]), _dm(second[key]))
                for key in sorted(first) if key in second
                for pair, fold in [key]
                if first[key]["skill"] > 0 and not second[key]["skill"] > 0]
        print(f"\nlost winners: skill > 0 with {labels[0]}, not with {labels[1]}")
        print(format_table([("pair", "fold", "test start", f"a {labels[0]}",
                             f"skill {labels[0]}", f"skill {labels[1]}", f"a {labels[1]}",
                             f"DM stat / p better {labels[0]}",
                             f"DM {labels[1]}"), *rows]))
    for label, cases in runs.items():
        winners = sorted((row for row in cases if row["model"] == args.model
                          and row["skill"] > 0), key=lambda row: -row["skill"])
        print(f"\nwinners of {label}: " + ", ".join(
            f"{row['pair']} {row['fold']:.0f} {row['skill']:+.4f} (p {row['dm_p_better']:.2f})"
            for row in winners))
        significant = [row for row in cases if row["model"] == args.model
                       and row["dm_p_better"] is not None
                       and min(row["dm_p_better"], 1 - row["dm_p_better"]) < DM_LEVEL]
        print(f"DM significant at {DM_LEVEL:g} (one-sided) with {label}: " + ", ".join(
            f"{row['pair']} {row['fold']:.0f} skill {row['skill']:+.4f} a {row['shrinkage']:.3f}"
            f" p better {row['dm_p_better']:.3f}" for row in significant))
    return 0


def _dm(row: dict) -> str:
    if row["dm_statistic"] is None:
        return "-"
    return f"{row['dm_statistic']:+.2f} / {row['dm_p_better']:.2f}"


if __name__ == "__main__":
    sys.exit(main())
