"""Benchmark: held-out honesty. On pairs nobody tuned on (bench/heldout.py's REPORTED_PAIRS),
replay the hourly job's schedule over 60 days and ask whether what the tool says on day 30
holds over days 31-60, and how its bands and point forecasts fare per pair-week.

The replay is ``coinlstm evaluate --schedule warm --folds 60 --fold-size 24``: each fold is
one day; its first hour is forecast by a full fit on the candles before it, every later
hour by a warm fine-tune of the hour before's model on the candles up to that hour (the
live job: a full refit every 24 hours, warm runs in between; its calibration slice,
shrinkage and bands). The models: ``naive``, ``static`` (the band baseline) and the default.

From its hours.csv and cases.csv, printed:

1. **Verdicts at day 30 against days 31-60.** Per pair, days 1-30's forward record judged
   as the scorer judges it (predict/track_record.py: Diebold-Mariano against naive,
   Benjamini-Hochberg across the reported pairs, held against the pair's spread of those
   30 days: predict/costs.py), beside its statistical claim alone, then the skill and DM
   p-value of days 31-60. The same for a model-free forecaster that leans against the last
   move (:func:`bounce_hours`): the shape of the bid-ask bounce, which the verdict must
   tell from an edge a trader can use.
2. **The 95 % (and 80 %) band against the static band** per pair-week (7 daily folds:
   Winkler = the mean of the days' Winkler scores): the share of pair-weeks whose Winkler
   score beats static's (target >= 60 % at 95 %), and the median coverage.
3. **The point forecast per pair-week**: the share with skill below -0.02 (target <= 2 %).

    .venv/bin/python bench/verdicts.py                       # run evaluate, then report
    .venv/bin/python bench/verdicts.py --pairs tuning        # the same on the tuning pairs
    .venv/bin/python bench/verdicts.py --from DIR            # report an earlier run's files
    .venv/bin/python bench/verdicts.py -- --warm-epochs 3    # extra training flags

Sizes (the machine is shared): ``--epochs 10 --history 4000`` by default (docs/evidence.md
gives the figures and the time they took).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
HOUR = 3_600_000
DAYS = 60
VERDICT_DAY = 30
MODEL = "default@warm"

from bench.heldout import REPORTED_PAIRS, TUNING_PAIRS  # noqa: E402
from predict.costs import effective_spread, tradability, value_after_costs  # noqa: E402
from predict.track_record import (  # noqa: E402
    Evidence,
    diebold_mariano,
    market_verdicts,
)
from train.scoring import CLEARLY_WORSE  # noqa: E402

QUOTES = ("USDT", "ETH", "BTC")


def build_database(path: Path, pairs: tuple[str, ...]) -> str:
    """A SQLite database holding the pairs' shared candles, registered as a crawl would."""
    from coinlstm import db
    from crawl.vision import import_paths

    url = f"sqlite:///{path}"
    engine = db.open_database(url)
    import_paths(engine, [SHARED / f"{pair}.csv" for pair in pairs])
    with db.transaction(engine) as conn:
        for pair in pairs:
            quote = next(q for q in QUOTES if pair.endswith(q))
            db.ensure_coin(conn, pair, pair[:-len(quote)], quote, status="TRADING")
    engine.dispose()
    return url


def run_evaluate(pairs: tuple[str, ...], out: Path, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as work:
        url = build_database(Path(work) / "shared.sqlite", pairs)
        command = [str(REPO / ".venv" / "bin" / "coinlstm"), "evaluate", "--db", url,
                   "--market", "ALL", "--only", ",".join(pairs),
                   "--models", "naive,static,default", "--schedule", "warm",
                   "--folds", str(DAYS), "--fold-size", "24", "--epochs", str(args.epochs),
                   "--history", str(args.history), "--workers", str(args.workers),
                   "--out", str(out), "--artifacts", str(Path(work) / "artifacts"),
                   *args.train_flags]
        print(" ".join(command), flush=True)
        subprocess.run(command, check=False,
                       env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})


def read_csv(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def pair_hours(hours: list[dict], pair: str) -> np.ndarray:
    """(open_time, actual, forecast, naive) of the model's hours of one pair, oldest first."""
    rows = sorted((int(h["open_time_ms"]), float(h["actual"]), float(h["forecast"]),
                   float(h["naive"])) for h in hours if h["pair"] == pair and h["model"] == MODEL)
    return np.array(rows)


def candles_before(pair: str, end_ms: int, hours: int) -> np.ndarray:
    """open_time, high, low, close of the pair's ``hours`` candles opened before end_ms."""
    rows = np.loadtxt(SHARED / f"{pair}.csv", delimiter=",", usecols=(0, 2, 3, 4))
    return rows[rows[:, 0] < end_ms][-hours:]


def skill_and_test(block: np.ndarray) -> tuple[float, float | None]:
    errors, naive = block[:, 2] - block[:, 1], block[:, 3] - block[:, 1]
    skill = 1.0 - float(np.sqrt(np.mean(errors**2)) / np.sqrt(np.mean(naive**2)))
    test = diebold_mariano(errors, naive)
    return skill, None if test is None else test.p_better


def bounce_hours(pair: str, open_times: np.ndarray, fit_hours: int = 960) -> np.ndarray:
    """A model-free forecaster that leans against the last move, on the same hours as the
    model: forecast = last close x exp(rho x last return), rho the lag-1 autocorrelation of
    the ``fit_hours`` hourly log returns before the first hour (no later candle). It has the
    shape of the bid-ask bounce, so its edge over the last close is expected to be real and
    within the spread: what the verdict must tell apart."""
    rows = np.loadtxt(SHARED / f"{pair}.csv", delimiter=",", usecols=(0, 4))
    index = {int(t): i for i, t in enumerate(rows[:, 0])}
    closes = rows[:, 1]
    first = index[int(open_times[0])]
    fit = np.diff(np.log(closes[first - fit_hours - 1:first]))
    rho = float(np.corrcoef(fit[1:], fit[:-1])[0, 1])
    out = []
    for open_time in open_times:
        i = index[int(open_time)]
        last, move = closes[i - 1], np.log(closes[i - 1] / closes[i - 2])
        out.append((open_time, closes[i], last * np.exp(rho * move), last))
    return np.array(out)


def verdicts_table(rows_of: dict[str, np.ndarray]) -> list[str]:
    """The day-30 verdicts of the pairs (judged together) against days 31-60, from each
    pair's (open_time, actual, forecast, naive) hours."""
    split = VERDICT_DAY * 24
    pairs = sorted(rows_of)
    evidence, later, costs = [], [], []
    for pair in pairs:
        first, second = rows_of[pair][:split], rows_of[pair][split:]
        errors, naive = first[:, 2] - first[:, 1], first[:, 3] - first[:, 1]
        test = diebold_mariano(errors, naive)
        candles = candles_before(pair, int(first[-1, 0]) + HOUR, split)
        spread = effective_spread(candles[:, 0].astype(np.int64), candles[:, 1], candles[:, 2],
                                  candles[:, 3], HOUR).spread
        value = value_after_costs(first[:, 2], first[:, 3], first[:, 1], spread)
        skill = skill_and_test(first)[0]
        evidence.append(Evidence(len(first), skill, None if test is None else test.p_better,
                                 None if test is None else test.p_worse, tradability(value)))
        costs.append((spread, value))
        later.append(skill_and_test(second))
    judged = market_verdicts(evidence)
    alone = market_verdicts([Evidence(e.scored, e.skill, e.p_better, e.p_worse)
                             for e in evidence])
    lines = [f"{'pair':<9}{'verdict day 30':>16}{'before costs':>14}{'skill 1-30':>12}"
             f"{'p adj':>8}{'spread %':>10}{'value %/trade':>15}{'trades':>8}"
             f"{'skill 31-60':>13}{'p 31-60':>9}"]
    for pair, e, v, a, (spread, value), (skill2, p2) in zip(
            pairs, evidence, judged, alone, costs, later, strict=True):
        lines.append(
            f"{pair:<9}{v.verdict:>16}{a.verdict:>14}{e.skill:>+12.4f}"
            f"{_num(v.p_better_adjusted, '.3f'):>8}{_num(spread and spread * 100, '.3f'):>10}"
            f"{_num(value.mean and value.mean * 100, '+.4f'):>15}{value.trades:>8}"
            f"{skill2:>+13.4f}{_num(p2, '.3f'):>9}")
    claimed = [later[i][0] for i, a in enumerate(alone) if a.verdict == "edge"]
    lines.append(f"pairs whose days 1-30 beat naive at FDR 10 % (before costs): {len(claimed)}"
                 f" of {len(pairs)}; their days 31-60 skill > 0 in "
                 f"{sum(s > 0 for s in claimed)}; after the spread: "
                 f"{sum(v.verdict == 'edge' for v in judged)} edge")
    return lines


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95 % interval of a share: how far a share of a few dozen pair-weeks is from
    a target."""
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _num(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def weekly(cases: list[dict], model: str) -> dict[tuple[str, int], dict[str, float]]:
    """Per (pair, week): the mean over its 7 daily folds of each day's figures (MSEs, and
    each level's Winkler score and coverage); weeks of fewer than 7 days are left out."""
    days: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for case in cases:
        if case["model"] == model:
            days[(case["pair"], int(case["fold"]) // 7)].append(case)
    weeks = {}
    for key, chosen in days.items():
        if len(chosen) == 7:
            weeks[key] = {name: float(np.mean([float(c[column]) ** power for c in chosen]))
                          for name, column, power in (
                              ("mse", "rmse", 2), ("naive_mse", "naive_rmse", 2),
                              ("winkler_95", "winkler_95", 1), ("winkler_80", "winkler_80", 1),
                              ("coverage_95", "coverage_95", 1),
                              ("coverage_80", "coverage_80", 1))}
    return weeks


def weeks_table(cases: list[dict]) -> list[str]:
    model, static = weekly(cases, MODEL), weekly(cases, "static")
    keys = sorted(set(model) & set(static))
    skills = np.array([1 - np.sqrt(model[k]["mse"] / model[k]["naive_mse"]) for k in keys])
    lines = [f"{len(keys)} pair-weeks ({len({k[0] for k in keys})} pairs x "
             f"{len({k[1] for k in keys})} weeks)"]
    for level in ("80", "95"):
        wins = int(sum(model[k][f"winkler_{level}"] < static[k][f"winkler_{level}"]
                       for k in keys))
        beats, (low, high) = wins / len(keys), wilson(wins, len(keys))
        coverage = np.median([model[k][f"coverage_{level}"] for k in keys])
        static_coverage = np.median([static[k][f"coverage_{level}"] for k in keys])
        target = "  (target >= 60 %)" if level == "95" else ""
        lines.append(f"{level} % band: beats static's Winkler in {beats * 100:.0f} % of "
                     f"pair-weeks ({wins}; Wilson 95 % {low * 100:.0f}-{high * 100:.0f} %)"
                     f"{target}; median coverage {coverage:.3f} (static {static_coverage:.3f})")
    worse = int(np.sum(skills < CLEARLY_WORSE))
    return [*lines, f"point forecast: median weekly skill {np.median(skills):+.4f}; below "
            f"{CLEARLY_WORSE:g} in {worse / len(keys) * 100:.1f} % of pair-weeks ({worse}; "
            f"target <= 2 %); above 0 in {np.mean(skills > 0) * 100:.0f} %"]


def report(out: Path) -> None:
    hours, cases = read_csv(out / "hours.csv"), read_csv(out / "cases.csv")
    pairs = sorted({h["pair"] for h in hours if h["model"] == MODEL})
    model = {pair: pair_hours(hours, pair) for pair in pairs}
    first = min(int(rows[0, 0]) for rows in model.values())
    last = max(int(rows[-1, 0]) for rows in model.values())
    print(f"\nfrom {out}: {', '.join(pairs)}; hours {_iso(first)} .. {_iso(last)} UTC")
    print(f"\n{MODEL}, the live schedule:")
    print("\n".join(verdicts_table(model)))
    print("\nthe bounce forecaster (model-free, leans against the last move), same hours:")
    print("\n".join(verdicts_table({pair: bounce_hours(pair, rows[:, 0])
                                    for pair, rows in model.items()})))
    print()
    print("\n".join(weeks_table(cases)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", choices=("reported", "tuning"), default="reported")
    parser.add_argument("--from", dest="source", type=Path,
                        help="an earlier run's evaluate folder: report it, run nothing")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench-verdicts")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--history", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("train_flags", nargs="*", help="extra training flags, after --")
    args = parser.parse_args()
    if args.source is None:
        pairs = REPORTED_PAIRS if args.pairs == "reported" else TUNING_PAIRS
        run_evaluate(pairs, args.out, args)
        args.source = args.out
    report(args.source)


if __name__ == "__main__":
    main()
