"""Benchmark: what the hourly scoring pass costs on a big market (predict/forward_scores.py).

Builds (or reuses, ``--keep``) the SYNTHETIC database of bench/serve.py (400 pairs x 30 days
of hourly forecasts with their bands, all scored), copies it, then times on the copy:
a pass with nothing to score (what every run pays), and the pass after one new candle per
pair arrives (each pair's pending forecast scored, its band included, and the pair's track
record recomputed from its month of scores: what the hourly job pays after its crawl).

    .venv/bin/python bench/score.py                        # SQLite file in a temp folder
    .venv/bin/python bench/score.py --keep data/bench-serve.sqlite --repeats 3
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(function) -> tuple[float, float, object]:
    """(wall ms, CPU ms of this process, result)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = function()
    return ((time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000,
            result)


def one_hour_later(url: str) -> int:
    """Store the candle each pair's pending forecast is for; returns the pairs."""
    import sqlalchemy as sa

    from coinlstm import db
    from tests import synthetic_history

    rng = random.Random(1)
    engine = db.open_database(url)
    with db.transaction(engine) as conn:
        ids = [int(v) for (v,) in conn.execute(sa.select(db.coin_info.c.id))]
        newest = synthetic_history.END_OPEN_MS + synthetic_history.HOUR_MS
        db.insert_candles(conn, [synthetic_history.candle(coin, newest, 0.001, 0.001, rng)
                                 for coin in ids])
    engine.dispose()
    return len(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3,
                        help="passes timed, each on a fresh copy")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file to build once and reuse")
    args = parser.parse_args()

    from coinlstm import db
    from predict.forward_scores import score
    from tests import synthetic_history

    folder = Path(tempfile.mkdtemp(prefix="bench-score-"))
    source = args.keep or folder / "built.sqlite"
    try:
        if not source.exists():
            engine = db.open_database(f"sqlite:///{source.resolve()}")
            seconds, _, _ = timed(lambda: synthetic_history.build(engine, args.pairs,
                                                                  args.days * 24))
            engine.dispose()
            print(f"built {args.pairs} pairs x {args.days} days of hourly forecasts "
                  f"(with bands, scored) in {seconds / 1000:.1f} s")
        copy = folder / "copy.sqlite"
        url = f"sqlite:///{copy.resolve()}"
        warm = db.open_database(f"sqlite:///{source.resolve()}")
        score(warm)  # the imports (scipy) and a warm page cache, not timed
        warm.dispose()
        idle, hourly = [], []
        for _ in range(args.repeats):
            shutil.copy(source, copy)
            engine = db.open_database(url)
            idle.append(timed(lambda engine=engine: score(engine)))
            engine.dispose()
            pairs = one_hour_later(url)
            engine = db.open_database(url)
            hourly.append(timed(lambda engine=engine: score(engine)))
            engine.dispose()
        print(f"{'pass':<38} {'wall ms':>9} {'cpu ms':>8}  (median of {args.repeats})")
        for label, runs in ((f"nothing new ({idle[0][2].scored} scored)", idle),
                            (f"one new hour of {pairs} pairs ({hourly[0][2].scored} scored)",
                             hourly)):
            print(f"{label:<38} {statistics.median(r[0] for r in runs):9.0f} "
                  f"{statistics.median(r[1] for r in runs):8.0f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
