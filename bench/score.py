"""Benchmark: what the hourly scoring pass costs on a big market (predict/forward_scores.py).

Builds (or reuses, ``--keep`` / ``--mysql-database``) the SYNTHETIC database of
bench/serve.py (400 pairs x 30 days of hourly forecasts with their bands, all scored), then
times on it: the first pass (the warm-up: imports, page cache; on a database fresh from an
upgrade it reads every forecast), a pass with nothing to score (what every run pays), and
the pass after one new candle per pair arrives (each pair's pending forecast scored, its
band included, and the pair's track record brought up to date: what the hourly job pays
after its crawl). After each hourly pass the database is put back as it was (the new
candles and scores deleted, the tables the pass rewrites restored), so every repeat, and
the next run, starts from the same state.

    .venv/bin/python bench/score.py                        # SQLite file in a temp folder
    .venv/bin/python bench/score.py --keep data/bench-serve.sqlite --repeats 3
    .venv/bin/python bench/score.py --mysql-database bench_serve --days 365
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
MYSQL_SERVER = os.environ.get("COINLSTM_TEST_MYSQL_URL",
                              "mysql+mysqlconnector://root@127.0.0.1:3306")
#: The small tables a scoring pass rewrites (those the database has): kept before an hourly
#: pass and put back after it.
REWRITTEN = ("track_records", "pair_costs", "movers_hours", "track_record_sums",
             "scoring_marks", "scoring_pending")


def timed(function) -> tuple[float, float, object]:
    """(wall ms, CPU ms of this process, result)."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = function()
    return ((time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000,
            result)


def one_hour_later(engine) -> int:
    """Store the candle each pair's pending forecast is for; returns the pairs."""
    import sqlalchemy as sa

    from coinlstm import db
    from tests import synthetic_history

    rng = random.Random(1)
    with db.transaction(engine) as conn:
        ids = [int(v) for (v,) in conn.execute(sa.select(db.coin_info.c.id))]
        db.insert_candles(conn, [synthetic_history.candle(coin, new_hour(), 0.001, 0.001, rng)
                                 for coin in ids])
    return len(ids)


def new_hour() -> int:
    from tests import synthetic_history

    return synthetic_history.END_OPEN_MS + synthetic_history.HOUR_MS


def snapshot(engine) -> dict[str, list[dict]]:
    """The rows of the REWRITTEN tables the database has."""
    import sqlalchemy as sa

    present = set(sa.inspect(engine).get_table_names())
    metadata = sa.MetaData()
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(sa.select(
            sa.Table(name, metadata, autoload_with=conn)))]
            for name in REWRITTEN if name in present}


def undo_hour(engine, kept: dict[str, list[dict]]) -> None:
    """Delete the new hour's candles and scores and put the rewritten tables back."""
    import sqlalchemy as sa

    from coinlstm import db

    metadata = sa.MetaData()
    candles, scores = db.candles_table("1h"), db.forecast_scores
    with db.transaction(engine) as conn:
        # By key (each pair's candle, each series' score): deleting by the hour alone scans
        # both tables, which on MySQL evicts the buffer pool the next pass would find warm.
        coins = [int(v) for (v,) in conn.execute(sa.select(db.coin_info.c.id))]
        conn.execute(candles.delete().where(candles.c.idCoin.in_(coins),
                                            candles.c.openTime == new_hour()))
        series = conn.execute(sa.select(scores.c.id_coin, scores.c.model, scores.c.target,
                                        scores.c.interval)
                              .where(scores.c.id_coin.in_(coins))
                              .group_by(scores.c.id_coin, scores.c.model, scores.c.target,
                                        scores.c.interval)).all()
        conn.execute(scores.delete().where(
            sa.tuple_(scores.c.id_coin, scores.c.model, scores.c.target,
                      scores.c.interval).in_([tuple(row) for row in series]),
            scores.c.openTime_next == new_hour()))
        for name, rows in kept.items():
            table = sa.Table(name, metadata, autoload_with=conn)
            conn.execute(table.delete())
            for start in range(0, len(rows), 1000):
                conn.execute(table.insert(), rows[start:start + 1000])


def traced_hour(engine) -> float:
    """One more hourly pass (then undone) under tracemalloc: the peak of its Python
    allocations above those it started with, in MB (numpy's arrays included)."""
    import tracemalloc

    from predict.forward_scores import score

    kept = snapshot(engine)
    one_hour_later(engine)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        score(engine)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    undo_hour(engine, kept)
    return peak / 1e6


def database(args, folder: Path) -> str:
    """The URL of the database to time on, built first when missing."""
    from coinlstm import db
    from tests import synthetic_history

    if args.mysql_database:
        import sqlalchemy as sa

        server = sa.create_engine(MYSQL_SERVER + "/")
        with server.begin() as conn:
            names = {name for (name,) in conn.execute(sa.text("SHOW DATABASES"))}
        server.dispose()
        if args.mysql_database not in names:
            raise SystemExit(f"no MySQL database {args.mysql_database!r}: build it with "
                             "bench/serve.py --only mysql --mysql-database NAME")
        return f"{MYSQL_SERVER}/{args.mysql_database}"
    source = args.keep or folder / "built.sqlite"
    url = f"sqlite:///{source.resolve()}"
    if not source.exists():
        engine = db.open_database(url)
        seconds, _, _ = timed(lambda: synthetic_history.build(engine, args.pairs,
                                                              args.days * 24))
        engine.dispose()
        print(f"built {args.pairs} pairs x {args.days} days of hourly forecasts "
              f"(with bands, scored) in {seconds / 1000:.1f} s")
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3, help="hourly passes timed")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file to build once and reuse")
    parser.add_argument("--mysql-database", default=None, metavar="NAME",
                        help="a MySQL database built before (bench/serve.py)")
    parser.add_argument("--memory", action="store_true",
                        help="then one more hourly pass under tracemalloc: its peak of Python "
                             "allocations above what it started with (not timed)")
    args = parser.parse_args()

    from coinlstm import db
    from predict.forward_scores import score

    folder = Path(tempfile.mkdtemp(prefix="bench-score-"))
    try:
        engine = db.open_database(database(args, folder))
        first = timed(lambda: score(engine))
        idle, hourly = [], []
        for _ in range(args.repeats):
            idle.append(timed(lambda: score(engine)))
            kept = snapshot(engine)
            pairs = one_hour_later(engine)
            hourly.append(timed(lambda: score(engine)))
            undo_hour(engine, kept)
        peak = traced_hour(engine) if args.memory else None
        engine.dispose()
        print(f"{'pass':<42} {'wall ms':>9} {'cpu ms':>8}  (median of {args.repeats})")
        for label, runs in ((f"first ({first[2].scored} scored, the warm-up)", [first]),
                            (f"nothing new ({idle[0][2].scored} scored)", idle),
                            (f"one new hour of {pairs} pairs ({hourly[0][2].scored} scored)",
                             hourly)):
            print(f"{label:<42} {statistics.median(r[0] for r in runs):9.0f} "
                  f"{statistics.median(r[1] for r in runs):8.0f}")
        if peak is not None:
            print(f"the hourly pass's peak of Python allocations (tracemalloc): {peak:.1f} MB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
