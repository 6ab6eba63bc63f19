"""Benchmark: how fast the dashboard renders a big market (issue 12: market page < 300 ms,
pair page < 150 ms).

Builds a SYNTHETIC database of 400 pairs x 30 days of hourly candles with one forecast per
pair and hour (about 290,000 forecasts, all scored; coinlstm/app/synthetic_history.py),
starts ``coinlstm serve``'s application under uvicorn on 127.0.0.1, and times whole HTTP
requests (server render + transfer over loopback) of the market page, a pair page and their
JSON endpoints: the first (cold) request and the median of the following ones.

    .venv/bin/python bench/serve.py                  # SQLite file in a temp folder
    .venv/bin/python bench/serve.py --mysql          # a fresh MySQL database, dropped after
    .venv/bin/python bench/serve.py --keep data/bench-serve.sqlite   # reuse a built file
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MYSQL_SERVER = os.environ.get("COINLSTM_TEST_MYSQL_URL",
                              "mysql+mysqlconnector://root@127.0.0.1:3306")


def build(url: str, pairs: int, days: int) -> float:
    from coinlstm import db
    from coinlstm.app import synthetic_history

    engine = db.open_database(url)
    started = time.perf_counter()
    synthetic_history.build(engine, pairs, days * 24)
    engine.dispose()
    return time.perf_counter() - started


def serve_in_thread(url: str):
    import uvicorn

    from coinlstm.app.web.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(url), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def timed(url: str, repeats: int) -> tuple[float, float, float, int]:
    """(first request ms, median of the next ``repeats`` ms, their median CPU ms, bytes).

    CPU is this process's (the server thread's render plus the small client), what the
    request costs when the machine's cores are shared with other work."""
    times, cpu, size = [], [], 0
    for _ in range(repeats + 1):
        started, started_cpu = time.perf_counter(), time.process_time()
        with urllib.request.urlopen(url, timeout=60) as reply:
            size = len(reply.read())
            assert reply.status == 200, reply.status
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return times[0], statistics.median(times[1:]), statistics.median(cpu[1:]), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--mysql", action="store_true", help="a fresh MySQL database")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file to build once and reuse")
    args = parser.parse_args()

    import sqlalchemy as sa

    cleanup = None
    if args.mysql:
        name = "coinlstm_bench_" + secrets.token_hex(4)
        server_engine = sa.create_engine(MYSQL_SERVER + "/")
        with server_engine.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
        url = f"{MYSQL_SERVER}/{name}"

        def cleanup():
            with server_engine.begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    else:
        path = args.keep or Path(tempfile.mkdtemp(prefix="bench-serve-")) / "serve.sqlite"
        url = f"sqlite:///{path.resolve()}"
    try:
        if args.keep is None or not args.keep.exists():
            seconds = build(url, args.pairs, args.days)
            print(f"built {args.pairs} pairs x {args.days} days of hourly forecasts "
                  f"({args.pairs * args.days * 24:,} forecasts, scored) in {seconds:.1f} s")
        from coinlstm import db

        engine = db.open_database(url)
        with engine.connect() as conn:
            counts = db.table_fingerprint(conn)
        engine.dispose()
        print(f"database {db.describe_url(url)}: "
              + ", ".join(f"{name} {counts[name]:,}" for name in (
                  "historical_price_predictions", "forecast_scores", "candlestick_data")))
        server, thread, base = serve_in_thread(url)
        try:
            pages = {"market page /market/ETH": "/market/ETH?interval=1h",
                     "pair page /pair/SYN001ETH": "/pair/SYN001ETH?interval=1h",
                     "API ranking": "/api/markets/ETH/ranking?interval=1h",
                     "API track-record": "/api/pairs/SYN001ETH/track-record?interval=1h",
                     "API history (7 days)": "/api/pairs/SYN001ETH/history?interval=1h"}
            print(f"{'request':<28} {'first ms':>9} {'median ms':>10} {'cpu ms':>7} "
                  f"{'bytes':>9}  (median of {args.repeats}, HTTP on 127.0.0.1)")
            for label, path in pages.items():
                first, median, cpu, size = timed(base + path, args.repeats)
                print(f"{label:<28} {first:9.1f} {median:10.1f} {cpu:7.1f} {size:9,}")
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        if cleanup is not None:
            cleanup()
    print("targets (issue 12): market page < 300 ms, pair page < 150 ms; load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
