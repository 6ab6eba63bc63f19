"""Benchmark: candles into each database by import and by crawl, and the crawl's wall time
with one worker against N (``--crawl-workers``).

(a) ``crawl.vision.import_paths`` loading the 9 real ETH pairs of ../shared/data/binance-1h
(CSV files, 177,228 candles), and the two insert functions of ``coinlstm.db`` alone (already
parsed rows, pages of 1000): ``insert_klines`` (what the crawl and the import use) and
``insert_candles`` (executemany of row dicts), so the driver's share can be seen.

(b) ``crawl.crawler.crawl_market`` fetching those 9 pairs in full from an empty database;
afterwards every stored value is checked against the files.

(c) The hourly crawl of the same 9 real pairs: the database holds them but their newest 6
hours, which the crawl fetches (what cron's job does each hour).

(d) The hourly crawl of a SYNTHETIC 400-pair market (a Binance quote market such as USDT has
about 400 pairs): one year of hourly candles per pair in the database (made by the demo's
generator, labelled SYNnnnETH, not market data), its newest 6 hours missing. The replay
server holds each pair's newest week (all the crawl asks of it; it would otherwise keep 3.5
million candles in memory).

(b)-(d) each run with 1 worker and with N, from the same starting database (what a run
added is deleted before the next), the replay server in its own process (``coinlstm
replay-server``, so it does not share the crawler's interpreter; a new one per crawl, so no
crawl inherits another's weight of the minute), once with loopback replies
as fast as they come and once with every reply delayed by ``--latency-ms`` (default 50: a
round trip to the real exchange, which loopback lacks; labelled as such). Every run's
candles are checked against what was expected to be added.

    .venv/bin/python bench/crawl.py                    # everything, SQLite and MySQL
    .venv/bin/python bench/crawl.py --only sqlite --parts hourly,wide
    .venv/bin/python bench/crawl.py --workers 1,4,8,16 --parts wide --only sqlite
    .venv/bin/python bench/crawl.py --parts wide --only sqlite --keep data/bench-crawl
                                    # (d)'s files and SQLite database kept and reused
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH", "TRXETH",
         "XRPETH")
MYSQL_SERVER = os.environ.get("COINLSTM_TEST_MYSQL_URL",
                              "mysql+mysqlconnector://root@127.0.0.1:3306")
HOUR_MS = 3_600_000
#: The hours an hourly crawl fetches per pair in (c) and (d).
MISSING = 6
#: Candles of each pair the replay server holds in (d): the newest week.
SERVED = 168
PARTS = ("import", "full", "hourly", "wide")


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """A URL of an empty database of ``kind``; MySQL's is dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"bench-{secrets.token_hex(4)}.sqlite"
        yield f"sqlite:///{path}"
        return
    import sqlalchemy as sa

    name = "coinlstm_bench_" + secrets.token_hex(4)
    server = sa.create_engine(MYSQL_SERVER + "/")
    quoted = server.dialect.identifier_preparer.quote_identifier(name)
    with server.begin() as conn:
        conn.execute(sa.text("CREATE DATABASE " + quoted))
    try:
        yield f"{MYSQL_SERVER}/{name}"
    finally:
        with server.begin() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS " + quoted))
        server.dispose()


def timed(kind: str, workdir: Path, work: Callable) -> tuple[int, float]:
    """(candles added, seconds) of ``work(engine)`` on a fresh database."""
    from coinlstm import db

    with fresh_database(kind, workdir) as url:
        engine = db.open_database(url)
        try:
            started = time.perf_counter()
            added = work(engine)
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    return added, seconds


def import_work(paths: list[Path]) -> Callable:
    from crawl.vision import import_paths

    return lambda engine: import_paths(engine, paths).candles_added


def insert_only_work(paths: list[Path], insert: str) -> Callable:
    """``db.insert_candles`` (row dicts) or ``db.insert_klines`` (kline lists, what the crawl
    and the import call) alone, in pages of 1000: rows are parsed before the clock starts."""
    from decimal import Decimal

    from coinlstm import db
    from coinlstm.core.klines import parse_kline

    texts = {path.stem: [line.split(",") for line in path.read_text().splitlines() if line]
             for path in paths}

    def work(engine) -> int:
        with db.transaction(engine) as conn:
            ids = {symbol: db.ensure_coin(conn, symbol, symbol[:-3], "ETH") for symbol in texts}
        pages = []
        for symbol, lines in texts.items():
            rows = [parse_kline(ids[symbol], fields) for fields in lines]
            if insert == "insert_klines":
                rows = [[format(v, "f") if isinstance(v, Decimal) else v
                         for v in (row[name] for name in db.CANDLE_COLUMNS[1:])] for row in rows]
            pages += [(ids[symbol], rows[i:i + 1000]) for i in range(0, len(rows), 1000)]
        started = time.perf_counter()
        added = 0
        for coin_id, page in pages:
            with db.transaction(engine) as conn:
                if insert == "insert_klines":
                    added += db.insert_klines(conn, coin_id, page)
                else:
                    added += db.insert_candles(conn, page)
        work.insert_seconds = time.perf_counter() - started
        return added

    return work


def report(label: str, kind: str, added: int, seconds: float) -> None:
    print(f"{label:<44} {kind:<6} {added:>8} candles {seconds:>7.1f} s "
          f"{added / seconds:>9,.0f} candles/s", flush=True)


# --------------------------------------------------------------------------- the server


def process_cpu(pid: int) -> float:
    """User+sys CPU seconds the process ``pid`` has used so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """User+sys CPU seconds of this process, every thread of it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def replay_process(folder: Path, now_ms: int, latency_ms: int) -> Iterator[tuple[str, int]]:
    """``coinlstm replay-server`` over ``folder`` in its own process; its URL and pid."""
    from coinlstm.core.klines import ms_to_utc

    command = [sys.executable, "-m", "coinlstm", "replay-server", str(folder), "--now",
               ms_to_utc(now_ms).replace(" ", "T"), "--delay-ms", str(latency_ms),
               "--weight-limit", "6000"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        if not found:
            raise RuntimeError(f"the replay server did not start: {line!r}")
        yield found.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


# --------------------------------------------------------------------------- the crawls


def crawl_once(url: str, server: tuple[str, int], workers: int, expected: int
               ) -> tuple[float, int, float, float]:
    """(wall seconds, requests, the crawl's CPU seconds, the server's CPU seconds) of one
    crawl of market ETH with ``workers``; every candle it was to add must be added. The
    two CPU figures are user+sys of this process (the crawl, all its threads) and of the
    replay server's process over the same span: on a loaded machine they are what the
    wall time would be on idle cores, and they tell the client's share from the server's."""
    from coinlstm import db
    from crawl.crawler import crawl_market

    server_url, server_pid = server
    engine = db.open_database(url)
    try:
        server_cpu, cpu = process_cpu(server_pid), own_cpu()
        started = time.perf_counter()
        summary = crawl_market(engine, server_url, "ETH", progress=False, workers=workers)
        seconds = time.perf_counter() - started
        cpu, server_cpu = own_cpu() - cpu, process_cpu(server_pid) - server_cpu
    finally:
        engine.dispose()
    if summary.total_added != expected or summary.failed:
        raise RuntimeError(f"the crawl added {summary.total_added} candles, not {expected}: "
                           f"{summary.line()}")
    return seconds, summary.requests, cpu, server_cpu


def check_every_value(url: str, lines_by_symbol: dict[str, list[str]]) -> int:
    """Every candle the database holds of each symbol, its 12 fields as text, equals the
    file's line, and no candle is missing or extra (RuntimeError otherwise); candles checked.
    The tier's crawl test checks the same of each pair's newest candles only."""
    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            for symbol, lines in lines_by_symbol.items():
                stored = [",".join(row) for row in
                          db.candle_text_rows(conn, db.coin_by_symbol(conn, symbol).id)]
                if stored != lines:
                    raise RuntimeError(f"{symbol}: the stored candles differ from the file")
    finally:
        engine.dispose()
    return sum(map(len, lines_by_symbol.values()))


def forget_newer(url: str, cut_ms: int) -> None:
    """Delete every hourly candle opening after ``cut_ms``: the database as before a crawl."""
    import sqlalchemy as sa

    from coinlstm import db

    engine = db.open_database(url)
    try:
        with db.transaction(engine) as conn:
            table = db.candles_table("1h")
            conn.execute(sa.delete(table).where(table.c.openTime > cut_ms))
    finally:
        engine.dispose()


def compare(label: str, kind: str, url: str, folder: Path, now_ms: int, expected: int,
            workers: list[int], latencies: list[int], reset: Callable[[], None]) -> None:
    """One line per latency: the crawl's wall time for each worker count, side by side, with
    the CPU seconds of the crawl and of the server (``cpu a+b``).
    Each crawl has a replay server of its own: one server's per-minute weight would carry the
    previous crawls' requests (six 400-pair crawls in a minute pass Binance's 6000)."""
    for latency in latencies:
        times, cpus, requests = [], [], 0
        for count in workers:
            reset()
            with replay_process(folder, now_ms, latency) as server:
                seconds, requests, cpu, server_cpu = crawl_once(url, server, count, expected)
            times.append(seconds)
            cpus.append((cpu, server_cpu))
        cells = "  ".join(f"{count:>2} workers {seconds:>6.2f} s (cpu {cpu:.1f}+{srv:.1f})"
                          for count, seconds, (cpu, srv) in zip(workers, times, cpus,
                                                                strict=True))
        print(f"{label:<44} {kind:<6} {latency:>3} ms  {requests:>4} requests  {cells}  "
              f"({times[0] / min(times):.1f}x)", flush=True)


def wide_folder(workdir: Path, pairs: int, days: int) -> Path:
    return workdir / f"wide-{pairs}x{days}d"


def write_wide_market(folder: Path, pairs: int, days: int) -> dict[str, list[str]]:
    """Write the SYNTHETIC wide market's served files into ``folder``; symbol -> the lines
    the database is to hold (each pair's newest MISSING candles are served, not held)."""
    from coinlstm.app.demo import synthetic_klines

    folder.mkdir(parents=True, exist_ok=True)
    stored = {}
    for number in range(1, pairs + 1):
        symbol = f"SYN{number:03d}ETH"
        lines = synthetic_klines(days * 24, seed=3000 + number, start_price=0.00001 * number)
        (folder / f"{symbol}.csv").write_text("\n".join(lines[-SERVED:]) + "\n")
        stored[symbol] = lines[:-MISSING]
    (folder / "complete").write_text("")
    return stored


@contextmanager
def kept_database(path: Path) -> Iterator[str]:
    """The URL of a SQLite file kept between runs (``--keep``)."""
    yield f"sqlite:///{path}"


def has_candles(url: str) -> bool:
    """Whether the database already holds hourly candles (a kept one, loaded before)."""
    import sqlalchemy as sa

    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            table = db.candles_table("1h")
            return conn.execute(sa.select(table.c.idCoin).limit(1)).first() is not None
    finally:
        engine.dispose()


def load_lines(url: str, lines_by_symbol: dict[str, list[str]]) -> int:
    """Store the kline lines of every symbol (market ETH, status TRADING), one transaction
    per pair; candles stored."""
    from coinlstm import db
    from coinlstm.core.klines import klines_from_page

    engine = db.open_database(url)
    added = 0
    try:
        for symbol, lines in lines_by_symbol.items():
            klines = klines_from_page([line.split(",") for line in lines],
                                      int(lines[0].split(",")[0]), HOUR_MS)
            with db.transaction(engine) as conn:
                coin_id = db.ensure_coin(conn, symbol, symbol[:-3], "ETH", status="TRADING")
                for start in range(0, len(klines), 5000):
                    added += db.insert_klines(conn, coin_id, klines[start:start + 5000])
    finally:
        engine.dispose()
    return added


def main() -> int:
    from coinlstm.core.config import DEFAULT_CRAWL_WORKERS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sqlite", "mysql"), default=None)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"which parts to run (default all: {','.join(PARTS)})")
    parser.add_argument("--workers", default=f"1,{DEFAULT_CRAWL_WORKERS}",
                        help="crawl worker counts compared (default 1,%(default)s)")
    parser.add_argument("--latency-ms", default="0,50",
                        help="reply delays of the replay server, ms (default 0,50)")
    parser.add_argument("--pairs", type=int, default=400, help="pairs of the wide market")
    parser.add_argument("--days", type=int, default=365, help="days of candles per wide pair")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep (d)'s served files and SQLite database in DIR and reuse "
                             "them when there (its MySQL database is always made anew)")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "mysql"]
    parts = args.parts.split(",")
    workers = [int(count) for count in args.workers.split(",")]
    latencies = [int(ms) for ms in args.latency_ms.split(",")]
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import logging

    logging.basicConfig(level=logging.WARNING)
    # What a crawl imports once per process (python-binance takes a second or two): not
    # charged to whichever worker count happens to run first.
    import binance.client  # noqa: F401

    import crawl.crawler  # noqa: F401
    import crawl.sources.binance_source  # noqa: F401
    paths = [SHARED / f"{symbol}.csv" for symbol in PAIRS]
    real = all(path.is_file() for path in paths)
    if not real:
        print(f"real candles missing in {SHARED}: parts import, full and hourly skipped",
              file=sys.stderr)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; one fresh database "
          f"per database kind and part; cpu a+b: user+sys seconds of the crawl and of the "
          f"replay server")
    with tempfile.TemporaryDirectory(prefix="coinlstm-bench-") as tmp:
        workdir = Path(tmp)
        if real and "import" in parts:
            for kind in kinds:
                report("(a) import CSV (crawl.vision)", kind,
                       *timed(kind, workdir, import_work(paths)))
                for insert in ("insert_klines", "insert_candles"):
                    inserts = insert_only_work(paths, insert)
                    added, _ = timed(kind, workdir, inserts)
                    report(f"    db.{insert} alone", kind, added, inserts.insert_seconds)
        if real and ("full" in parts or "hourly" in parts):
            served = workdir / "real"
            served.mkdir()
            for path in paths:
                (served / path.name).symlink_to(path)
            lines = {path.stem: path.read_text().splitlines() for path in paths}
            last = max(int(symbol_lines[-1].split(",")[0]) for symbol_lines in lines.values())
            now = last + HOUR_MS + 60_000
            total = sum(map(len, lines.values()))
            for kind in kinds:
                with fresh_database(kind, workdir) as url:
                    if "full" in parts:
                        compare(f"(b) full crawl, 9 real pairs ({total} candles)", kind, url,
                                served, now, total, workers, latencies[:1],
                                lambda url=url: forget_newer(url, 0))
                        checked = check_every_value(url, lines)
                        print(f"(b) every stored value equals the files' ({checked} candles, "
                              f"{kind})", flush=True)
                    if "hourly" in parts:
                        forget_newer(url, 0)
                        load_lines(url, {s: ls[:-MISSING] for s, ls in lines.items()})
                        cut = last - MISSING * HOUR_MS
                        compare(f"(c) hourly crawl, 9 real pairs ({9 * MISSING} candles)",
                                kind, url, served, now, 9 * MISSING, workers, latencies,
                                lambda url=url, cut=cut: forget_newer(url, cut))
        if "wide" in parts:
            from coinlstm.app.demo import END_OPEN_MS

            keep = args.keep or workdir
            folder = wide_folder(keep, args.pairs, args.days)
            now = END_OPEN_MS + HOUR_MS + 60_000
            cut = END_OPEN_MS - MISSING * HOUR_MS
            stored = None
            for kind in kinds:
                kept = keep / f"{folder.name}.sqlite"
                with (kept_database(kept) if kind == "sqlite" and args.keep
                      else fresh_database(kind, workdir)) as url:
                    if stored is None and not ((folder / "complete").exists()
                                               and has_candles(url)):
                        started = time.perf_counter()
                        stored = write_wide_market(folder, args.pairs, args.days)
                        print(f"(d) wrote {args.pairs} SYNTHETIC pairs x {args.days * 24} "
                              f"hourly candles in {time.perf_counter() - started:.1f} s",
                              flush=True)
                    if not has_candles(url):
                        started = time.perf_counter()
                        loaded = load_lines(url, stored)
                        print(f"(d) stored {loaded} candles into {kind} in "
                              f"{time.perf_counter() - started:.1f} s", flush=True)
                    compare(f"(d) hourly crawl, {args.pairs} SYNTHETIC pairs "
                            f"({args.pairs * MISSING} candles)", kind, url, folder, now,
                            args.pairs * MISSING, workers, latencies,
                            lambda url=url: forget_newer(url, cut))
    return 0


if __name__ == "__main__":
    sys.exit(main())
