"""Benchmark: candles per second into each database, by import and by crawl.

(a) ``crawl.vision.import_paths`` loading the 9 real ETH pairs of ../shared/data/binance-1h
(CSV files, 177,228 candles), and (b) ``crawl.crawler.crawl_market`` fetching the same
candles from an in-process replay server on 127.0.0.1 (real HTTP, real python-binance). Each
run starts from an empty database: a fresh SQLite file, and a fresh MySQL database
``coinlstm_bench_<hex>`` that is dropped afterwards.

Also times the two insert functions of ``coinlstm.db`` alone (already parsed rows, pages of
1000): ``insert_klines`` (one JSON parameter per page on MySQL, what the crawl and the import
use) and ``insert_candles`` (executemany of row dicts), so the driver's share can be seen.

    .venv/bin/python bench/crawl.py            # both databases
    .venv/bin/python bench/crawl.py --only sqlite
"""

from __future__ import annotations

import argparse
import os
import secrets
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


def import_work(paths: list[Path]) -> Callable | None:
    try:
        from crawl.vision import import_paths
    except ImportError:  # the importer is written in parallel; run this part once it exists
        return None
    return lambda engine: import_paths(engine, paths).candles_added


def crawl_work(server_url: str) -> Callable:
    from crawl.crawler import crawl_market

    def work(engine) -> int:
        summary = crawl_market(engine, server_url, "ETH", progress=False)
        return summary.total_added

    return work


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
    print(f"{label:<34} {kind:<6} {added:>8} candles {seconds:>7.1f} s "
          f"{added / seconds:>9,.0f} candles/s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sqlite", "mysql"), default=None)
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "mysql"]
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import logging

    logging.basicConfig(level=logging.WARNING)
    from crawl.replay import ReplayServer

    paths = [SHARED / f"{symbol}.csv" for symbol in PAIRS]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        print(f"real candles missing: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(f"9 real ETH pairs from {SHARED}; {os.cpu_count()} CPUs; one fresh database per run")
    with tempfile.TemporaryDirectory(prefix="coinlstm-bench-") as tmp:
        workdir = Path(tmp)
        loaded = time.perf_counter()
        server = ReplayServer(SHARED)
        print(f"replay server loaded {server.candle_count} candles of {len(server.symbols)} "
              f"symbols in {time.perf_counter() - loaded:.1f} s (it serves all 12; the crawl "
              "asks for the 9 ETH pairs)")
        for kind in kinds:
            work = import_work(paths)
            if work is None:
                print(f"{'(a) import (crawl.vision)':<34} {kind:<6} skipped: crawl.vision."
                      "import_paths not there yet")
            else:
                report("(a) import CSV (crawl.vision)", kind, *timed(kind, workdir, work))
            with server:
                before = len(server.request_log)
                added, seconds = timed(kind, workdir, crawl_work(server.url))
                requests = len(server.request_log) - before
            report(f"(b) crawl replay ({requests} requests)", kind, added, seconds)
            for insert in ("insert_klines", "insert_candles"):
                inserts = insert_only_work(paths, insert)
                added, _ = timed(kind, workdir, inserts)
                report(f"    db.{insert} alone", kind, added, inserts.insert_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
