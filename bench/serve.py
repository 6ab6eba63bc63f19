"""Benchmark: how fast the dashboard renders a big market (targets: market page < 300 ms,
pair page < 150 ms), on SQLite and MySQL/MariaDB side by side.

Builds a SYNTHETIC database of 400 pairs x 30 days of hourly candles with one forecast per
pair and hour (about 290,000 forecasts, all scored; tests/synthetic_history.py) on
each database asked for, starts ``coinlstm serve``'s application under uvicorn on 127.0.0.1
over each, and times whole HTTP requests (server render + transfer over loopback) of the
market page, a pair page and their JSON endpoints: the first (cold) request and the median
of the following ones, with the statements each request sent to its database. With both
databases, their requests alternate, so the machine's load weighs on both alike.

    .venv/bin/python bench/serve.py                  # SQLite and MySQL, side by side
    .venv/bin/python bench/serve.py --only sqlite    # SQLite file in a temp folder, removed after
    .venv/bin/python bench/serve.py --only mysql     # a fresh MySQL database, dropped after
    .venv/bin/python bench/serve.py --keep data/bench-serve.sqlite --mysql-database bench_serve
                                                     # build each once, reuse it after

MySQL is COINLSTM_TEST_MYSQL_URL's server (default root@127.0.0.1:3306).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MYSQL_SERVER = os.environ.get("COINLSTM_TEST_MYSQL_URL",
                              "mysql+mysqlconnector://root@127.0.0.1:3306")
PAGES = {"market page /market/ETH": "/market/ETH?interval=1h",
         "pair page /pair/SYN001ETH": "/pair/SYN001ETH?interval=1h",
         "API ranking": "/api/markets/ETH/ranking?interval=1h",
         "API track-record": "/api/pairs/SYN001ETH/track-record?interval=1h",
         "API history (7 days)": "/api/pairs/SYN001ETH/history?interval=1h",
         "API movers": "/api/movers?market=ETH&interval=1h",
         "API costs": "/api/pairs/SYN001ETH/costs?interval=1h"}


def build(url: str, pairs: int, days: int) -> float:
    from coinlstm import db
    from tests import synthetic_history

    engine = db.open_database(url)
    started = time.perf_counter()
    synthetic_history.build(engine, pairs, days * 24)
    engine.dispose()
    return time.perf_counter() - started


@dataclass
class Served:
    """One database under its own server thread; ``statements`` counts what it sent."""

    name: str
    url: str
    server: object = None
    thread: threading.Thread | None = None
    base: str = ""
    statements: list[int] = field(default_factory=lambda: [0])

    def start(self) -> None:
        import sqlalchemy as sa
        import uvicorn

        from coinlstm.app.web.server import create_app

        app = create_app(self.url)
        counter = self.statements

        def count(*_args) -> None:
            counter[0] += 1

        sa.event.listen(app.state.engine, "before_cursor_execute", count)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)

    def request(self, path: str) -> tuple[float, float, int, int]:
        """(ms, CPU ms of this process, bytes, statements) of one GET."""
        before = self.statements[0]
        started, started_cpu = time.perf_counter(), time.process_time()
        with urllib.request.urlopen(self.base + path, timeout=60) as reply:
            size = len(reply.read())
            assert reply.status == 200, reply.status
        return ((time.perf_counter() - started) * 1000,
                (time.process_time() - started_cpu) * 1000, size,
                self.statements[0] - before)


def measure(served: list[Served], path: str, repeats: int) -> dict[str, tuple]:
    """Per database: (first ms, median ms, median CPU ms, bytes, statements), the databases'
    requests alternating. CPU is this process's (the server thread's render plus the small
    client): what a request costs when the machine's cores are shared with other work."""
    runs: dict[str, list[tuple[float, float, int, int]]] = {s.name: [] for s in served}
    for _ in range(repeats + 1):
        for one in served:
            runs[one.name].append(one.request(path))
    return {name: (times[0][0], statistics.median(t[0] for t in times[1:]),
                   statistics.median(t[1] for t in times[1:]), times[-1][2], times[-1][3])
            for name, times in runs.items()}


def mysql_database(name: str | None):
    """(url, cleanup): the named database (created when missing, kept), or a fresh one that
    the cleanup drops."""
    import sqlalchemy as sa

    server_engine = sa.create_engine(MYSQL_SERVER + "/")
    fresh = name is None
    name = name or "coinlstm_bench_" + secrets.token_hex(4)
    quoted = server_engine.dialect.identifier_preparer.quote_identifier(name)
    with server_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS {quoted}"))

    def cleanup() -> None:
        if fresh:
            with server_engine.begin() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))
        server_engine.dispose()

    return f"{MYSQL_SERVER}/{name}", cleanup


def is_built(url: str) -> bool:
    import sqlalchemy as sa

    from coinlstm import db

    engine = db.create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.select(db.coin_info.c.id).limit(1)).first())
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", choices=("sqlite", "mysql"), default=None,
                        help="one database (default: both, side by side)")
    parser.add_argument("--mysql", action="store_true", help="the same as --only mysql")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file to build once and reuse")
    parser.add_argument("--mysql-database", default=None, metavar="NAME",
                        help="MySQL database to build once and reuse (default: a fresh one, "
                             "dropped after)")
    args = parser.parse_args()
    kinds = ["mysql"] if args.mysql else [args.only] if args.only else ["sqlite", "mysql"]

    from coinlstm import db

    cleanups, served = [], []
    try:
        for kind in kinds:
            if kind == "mysql":
                url, cleanup = mysql_database(args.mysql_database)
                cleanups.append(cleanup)
            elif args.keep is not None:
                url = f"sqlite:///{args.keep.resolve()}"
            else:  # a temp folder of its own, removed after
                folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
                cleanups.append(lambda folder=folder: shutil.rmtree(folder, ignore_errors=True))
                url = f"sqlite:///{folder / 's.sqlite'}"
            if not is_built(url):
                seconds = build(url, args.pairs, args.days)
                print(f"{kind}: built {args.pairs} pairs x {args.days} days of hourly "
                      f"forecasts ({args.pairs * args.days * 24:,} forecasts, scored) in "
                      f"{seconds:.1f} s")
            engine = db.open_database(url)
            with engine.connect() as conn:
                counts = db.table_fingerprint(conn)
            engine.dispose()
            print(f"{kind}: database {db.describe_url(url)}: " + ", ".join(
                f"{name} {counts[name]:,}" for name in (
                    "historical_price_predictions", "forecast_scores", "candlestick_data")))
            served.append(Served(kind, url))
        for one in served:
            one.start()
        header = f"{'request':<27}" + "".join(
            f" | {s.name + ' first':>12} {'median':>7} {'cpu':>6} {'stmts':>5}" for s in served)
        print(f"milliseconds; median of {args.repeats} after the first; HTTP on 127.0.0.1; "
              "cpu: this process; stmts: statements sent to the database per request")
        print(header)
        for label, path in PAGES.items():
            figures = measure(served, path, args.repeats)
            print(f"{label:<27}" + "".join(
                f" | {first:12.1f} {median:7.1f} {cpu:6.1f} {statements:5d}"
                for first, median, cpu, _, statements in (figures[s.name] for s in served)))
    finally:
        for one in served:
            one.stop()
        for cleanup in cleanups:
            cleanup()
    print("targets: market page < 300 ms, pair page < 150 ms; load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
