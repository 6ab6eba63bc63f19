"""Benchmark: ``coinlstm db adopt`` of the original system's database on MySQL/MariaDB, and
its repair of the stored candles from the exchange.

Builds a database in the original system's schema (its DDL as in tests/integration/
test_adopt.py) holding ``--pairs`` x ``--candles`` SYNTHETIC hourly candles (made server-side
from a number sequence, not market data; 200 x 10,000 = 2 million by default), ``--dups``
identical duplicate candles among them (a crawler restart's), then times the adoption's
schema part (``migrations.adopt``: duplicates removed, types widened, the unique key,
coinlstm's columns and tables, the revision stamped) and checks the counts after.

Then the repair (what ``db adopt`` does last and ``coinlstm crawl --verify`` does later): the
candles' final values are written as kline files for the replay server (crawl/replay.py, on
127.0.0.1, with Binance's weight limit of 6000 a minute), ``--partial`` of the stored candles
(default 0.9: the original crawler stored nearly every candle while it was open) are given
partial values (a quarter of the volumes and trades, the close at the open) before the
adoption, and ``crawl.verify.verify_market`` is timed fetching every stored candle again and
repairing those; the count repaired is checked. ``--no-repair`` skips it.

    .venv/bin/python bench/adopt.py                          # 2 million candles
    .venv/bin/python bench/adopt.py --pairs 20 --candles 5000  # a quick look

The database (a random name on the server of --server) and the kline files (a temporary
folder) are removed afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coinlstm import db  # noqa: E402
from coinlstm.db import migrations  # noqa: E402
from crawl.replay import ReplayServer  # noqa: E402
from crawl.sources import open_source  # noqa: E402
from crawl.verify import verify_market  # noqa: E402
from tests.integration.test_adopt import TUTORIAL_DDL  # noqa: E402

_COLUMNS = ("openTime", "open", "high", "low", "close", "volume", "closeTime",
            "quoteAssetVolume", "numberOfTrader", "takerBuyBaseAssetVolume",
            "takerBuyQuoteAssetVolume", "ignore")
_EIGHT = Decimal("1e-8")
#: A candle stored while open: a quarter of its volumes and trades so far, the close at the
#: open (every value inside the final candle's range). Only the share varies, bound.
_PARTIAL = """
UPDATE candlestick_data SET volume = ROUND(volume / 4, 8), `close` = `open`,
    quoteAssetVolume = ROUND(quoteAssetVolume / 4, 8), numberOfTrader = numberOfTrader DIV 4,
    takerBuyBaseAssetVolume = ROUND(takerBuyBaseAssetVolume / 4, 8),
    takerBuyQuoteAssetVolume = ROUND(takerBuyQuoteAssetVolume / 4, 8)
WHERE MOD(openTime DIV 3600000, 1000) < :per_mille
"""

_FILL = """
INSERT INTO candlestick_data (idCoin, openTime, `open`, high, low, `close`, volume, closeTime,
    quoteAssetVolume, numberOfTrader, takerBuyBaseAssetVolume, takerBuyQuoteAssetVolume,
    `ignore`)
SELECT c.id, 1499997600000 + s.seq * 3600000, 0.00061 + (s.seq % 97) / 1e8,
    0.00062 + (s.seq % 89) / 1e8, 0.00060 - (s.seq % 83) / 1e8, 0.00061 + (s.seq % 79) / 1e8,
    1000 + s.seq % 1000 + c.id / 1000, 1499997600000 + s.seq * 3600000 + 3599999,
    0.61 + (s.seq % 71) / 1e6, 100 + s.seq % 500, 500 + s.seq % 300, 0.3 + (s.seq % 61) / 1e6,
    0
FROM coin_info AS c JOIN seq_0_to_{last} AS s
"""


def build(engine: sa.Engine, pairs: int, candles: int, dups: int) -> None:
    with engine.begin() as conn:
        for statement in TUTORIAL_DDL:
            conn.execute(sa.text(statement))
        conn.execute(sa.text("INSERT INTO coin_info (symbol, status, baseAsset, quoteAsset) "
                             "VALUES (:s, 'TRADING', :b, 'ETH')"),
                     [{"s": f"SYN{n:03d}ETH", "b": f"SYN{n:03d}"} for n in range(pairs)])
        # Only the sequence engine's table name varies, and only with an int of ours.
        conn.execute(sa.text(_FILL.format(last=int(candles) - 1)))
        conn.execute(sa.text(
            "INSERT INTO candlestick_data (idCoin, openTime, `open`, high, low, `close`, "
            "volume, closeTime, quoteAssetVolume, numberOfTrader, takerBuyBaseAssetVolume, "
            "takerBuyQuoteAssetVolume, `ignore`) SELECT idCoin, openTime, `open`, high, low, "
            "`close`, volume, closeTime, quoteAssetVolume, numberOfTrader, "
            "takerBuyBaseAssetVolume, takerBuyQuoteAssetVolume, `ignore` FROM candlestick_data "
            "ORDER BY id DESC LIMIT :n"), {"n": dups})


def write_final_klines(engine: sa.Engine, folder: Path) -> int:
    """Every stored candle's (final) values as a ``SYMBOL.csv`` kline file per pair, for the
    replay server (one query a pair, on its idCoin key: one sorted join of all the candles
    took over 9 minutes); the close time of the newest candle."""
    query = sa.text("SELECT DISTINCT openTime, `open`, high, low, `close`, volume, closeTime, "
                    "quoteAssetVolume, numberOfTrader, takerBuyBaseAssetVolume, "
                    "takerBuyQuoteAssetVolume, `ignore` FROM candlestick_data "
                    "WHERE idCoin = :coin ORDER BY openTime")
    newest = 0
    with engine.connect() as conn:
        coins = conn.execute(sa.text("SELECT id, symbol FROM coin_info")).all()
        for coin, symbol in coins:
            rows = conn.execute(query, {"coin": coin}).all()
            with open(folder / f"{symbol}.csv", "w") as handle:
                handle.writelines(",".join(_text(name, value) for name, value
                                           in zip(_COLUMNS, row, strict=True)) + "\n"
                                  for row in rows)
            newest = max([newest, *(int(row[6]) for row in rows)])
    return newest


def _text(name: str, value) -> str:
    if isinstance(value, Decimal) and name != "ignore":
        return format(value.quantize(_EIGHT), "f")
    return str(int(value)) if isinstance(value, Decimal) else str(value)


def repair(engine: sa.Engine, folder: Path, newest_close_ms: int, partial: int) -> None:
    """Time the repair of every stored candle from the replay server; check the count."""
    started = time.monotonic()
    server = ReplayServer(folder, now=newest_close_ms + 60_000).start()
    print(f"replay server loaded {server.candle_count:,} candles in "
          f"{time.monotonic() - started:.1f} s")
    try:
        started = time.monotonic()
        changed = verify_market(engine, open_source("binance", server.url))
        seconds = time.monotonic() - started
        requests = sum(1 for entry in server.request_log if "klines" in entry.path)
    finally:
        server.stop()
    repaired = sum(changed.values())
    assert repaired == partial, (repaired, partial)
    print(f"repaired {repaired:,} partial candles of {len(changed)} pairs from the exchange "
          f"in {seconds:.1f} s ({requests:,} kline requests of 1000)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="mysql+mysqlconnector://root@127.0.0.1:3306")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--candles", type=int, default=10_000)
    parser.add_argument("--dups", type=int, default=1_000)
    parser.add_argument("--partial", type=float, default=0.9,
                        help="share of the stored candles stored while open (default 0.9)")
    parser.add_argument("--no-repair", action="store_true",
                        help="time the adoption's schema part only")
    args = parser.parse_args(argv)
    name = "coinlstm_bench_adopt_" + secrets.token_hex(4)
    server = sa.create_engine(args.server + "/")
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    engine = db.create_engine(f"{args.server}/{name}")
    try:
        started = time.monotonic()
        build(engine, args.pairs, args.candles, args.dups)
        total = args.pairs * args.candles + args.dups
        print(f"built {total:,} candles ({args.dups:,} identical duplicates) in "
              f"{time.monotonic() - started:.1f} s")
        folder = Path(tempfile.mkdtemp(prefix="coinlstm_bench_adopt_"))
        if not args.no_repair:
            started = time.monotonic()
            newest = write_final_klines(engine, folder)
            with engine.begin() as conn:
                conn.execute(sa.text(_PARTIAL), {"per_mille": round(args.partial * 1000)})
            with engine.connect() as conn:
                partial = conn.execute(sa.text(
                    "SELECT COUNT(DISTINCT idCoin, openTime) FROM candlestick_data "
                    "WHERE MOD(openTime DIV 3600000, 1000) < :per_mille"),
                    {"per_mille": round(args.partial * 1000)}).scalar_one()
            print(f"wrote the final values as kline files and made {partial:,} stored "
                  f"candles partial in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        done = migrations.adopt(engine)
        seconds = time.monotonic() - started
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT COUNT(*) FROM candlestick_data")).scalar_one()
            revision = migrations.current_revision(conn)
        assert kept == args.pairs * args.candles and done.identical_removed == args.dups
        assert revision == migrations.head_revision()
        print(f"adopted {total:,} candles in {seconds:.1f} s on "
              f"{engine.dialect.server_version_info}: {done.identical_removed:,} duplicates "
              f"removed, {kept:,} kept, revision {revision}")
        print("  parts: " + ", ".join(f"{part} {seconds:.1f} s"
                                      for part, seconds in done.seconds.items()))
        for step in done.steps:
            print(f"  {step}")
        if not args.no_repair:
            repair(engine, folder, newest, partial)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        engine.dispose()
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
