"""Benchmark of ``coinlstm backfill``: N days of the hourly job replayed for P pairs.

Set-up: a SQLite database holding the real ETH pairs of ../shared/data/binance-1h (where
present) and SYNTHETIC pairs (the demo's generator, ``SYNnnnETH``) up to ``--pairs``, every
synthetic pair long enough that each backfilled hour has a full history. Then, timed:

1. ``coinlstm backfill --days D --market ETH --workers W`` (the defaults' training options):
   wall time, per pair the median seconds of a replayed full fit and of a replayed warm
   hour, the driver's and the largest child's peak RSS;
2. one live hour after it (``coinlstm run --skip-crawl``): every pair warm-starts from the
   backfill's last model (handed over: the pairs had none), so its per-pair seconds are a
   live warm hour's cost, whole process included, beside the backfilled hour's.

    .venv/bin/python bench/backfill.py                     # 30 pairs x 30 days, 2 workers
    .venv/bin/python bench/backfill.py --pairs 4 --days 2  # a reduced size on a busy machine
    .venv/bin/python bench/backfill.py --pairs 4 --days 2 \
        --flags="--refit-every 168 --history 2400"             # another schedule, both runs

Prints what it measured; the figures of a run belong in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
sys.path.insert(0, str(REPO))
#: Candles of a synthetic pair before its backfilled days (more than a warm run reads).
SYNTHETIC_HISTORY = 2400


def prepare(workdir: Path, pairs: int, days: int) -> tuple[str, list[str]]:
    """The database (URL) and the pairs in it: real ETH pairs first, then synthetic ones."""
    from coinlstm import db
    from coinlstm.app.demo import synthetic_klines
    from crawl.vision import import_paths

    folder = workdir / "candles"
    folder.mkdir(parents=True)
    real = sorted(path.stem for path in SHARED.glob("*ETH.csv"))[:pairs] if SHARED.is_dir() \
        else []
    for symbol in real:
        (folder / f"{symbol}.csv").write_text((SHARED / f"{symbol}.csv").read_text())
    synthetic = [f"SYN{number:03d}ETH" for number in range(1, pairs - len(real) + 1)]
    for number, symbol in enumerate(synthetic, start=1):
        lines = synthetic_klines(SYNTHETIC_HISTORY + days * 24, seed=5000 + number, ar=0.1,
                                 start_price=0.0004 + 0.00001 * number)
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    url = f"sqlite:///{workdir / 'bench.sqlite'}"
    engine = db.open_database(url)
    import_paths(engine, sorted(folder.glob("*.csv")))
    with db.transaction(engine) as conn:
        for symbol in [*real, *synthetic]:
            db.ensure_coin(conn, symbol, symbol[:-3], "ETH", status="TRADING")
    engine.dispose()
    return url, [*real, *synthetic]


def timed(argv: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the command and every process it reaped, its result).
    The CPU seconds say what the wall time would be on idle cores, whatever else the shared
    machine runs meanwhile."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "coinlstm", *argv], capture_output=True,
                          text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", default="subprocess")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--flags", default="",
                        help="training flags of the backfill and the live hour after it "
                             "(default: none, the live job's defaults)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    url, symbols = prepare(workdir, args.pairs, args.days)
    real = sum(1 for symbol in symbols if not symbol.startswith("SYN"))
    print(f"{len(symbols)} pairs ({real} real, {len(symbols) - real} SYNTHETIC), "
          f"{args.days} days, {args.workers} workers, {args.executor}, training flags "
          f"{args.flags or '(defaults)'}; {workdir}; load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    env = {**os.environ, "COINLSTM_HOME": str(workdir), "COINLSTM_ARTIFACTS": str(workdir)}
    common = ["--market", "ETH", "--db", url, "--workers", str(args.workers),
              "--executor", args.executor, "--no-progress", *shlex.split(args.flags)]
    report = workdir / "backfill.json"
    wall, cpu, done = timed(["backfill", "--days", str(args.days), *common, "--report",
                             str(report)], env)
    if done.returncode not in (0, 3):
        print(done.stdout[-3000:], done.stderr[-3000:])
        return 1
    data = json.loads(report.read_text())
    results = [pair["result"] for pair in data["pairs"] if pair["status"] == "ok"]
    hours = sum(result["replayed"] for result in results)
    live_report = workdir / "live.json"
    live_wall, live_cpu, _ = timed(["run", "--skip-crawl", *common, "--report",
                                    str(live_report)], env)
    live_pairs = json.loads(live_report.read_text())["pairs"] if live_report.exists() else []
    warm_live = [pair["seconds"] for pair in live_pairs
                 if (pair.get("result") or {}).get("fit") == "warm"]
    rows = [
        ("backfill wall time", f"{wall:.1f} s ({hours} pair-hours replayed, "
                               f"{len(results)} of {len(data['pairs'])} pairs ok)"),
        ("backfill CPU time, every process", f"{cpu:.1f} s: {cpu / args.workers:.1f} s of "
                                             f"wall on {args.workers} idle cores"),
        ("CPU per pair-hour", f"{cpu / max(hours, 1):.3f} s"),
        ("replayed full fit, median of the pairs' medians",
         f"{median([r['full_seconds'] for r in results]) or 0:.2f} s"),
        ("replayed warm hour, median of the pairs' medians",
         f"{median([r['warm_seconds'] for r in results]) or 0:.3f} s"),
        ("live warm hour per pair (whole process, run --skip-crawl)",
         f"{median(warm_live) or 0:.2f} s median of {len(warm_live)} pairs "
         f"(job wall {live_wall:.1f} s, CPU {live_cpu / max(len(live_pairs), 1):.2f} s a "
         "pair)"),
        ("driver peak RSS", f"{data['driver_peak_rss_mb']:.0f} MB"),
        ("largest child peak RSS",
         f"{max((p['peak_rss_mb'] or 0) for p in data['pairs']):.0f} MB"),
        ("30 pairs x 30 days at this rate",
         f"{wall * 30 * 30 * 24 / max(hours, 1) / 60:.1f} min of wall as measured, "
         f"{cpu / args.workers * 30 * 30 * 24 / max(hours, 1) / 60:.1f} min on "
         f"{args.workers} idle cores (target 10 min)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
