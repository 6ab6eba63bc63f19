"""Benchmark: ``coinlstm db adopt`` of the original system's database on MySQL/MariaDB.

Builds a database in the original system's schema (its DDL as in tests/integration/
test_adopt.py) holding ``--pairs`` x ``--candles`` SYNTHETIC hourly candles (made server-side
from a number sequence, not market data; 200 x 10,000 = 2 million by default), ``--dups``
identical duplicate candles among them (a crawler restart's), then times the adoption's
schema part (``migrations.adopt``: duplicates removed, types widened, the unique key,
coinlstm's columns and tables, the revision stamped) and checks the counts after. The repair
from the exchange is not part of this figure (it is bounded by the exchange's rate limits).

    .venv/bin/python bench/adopt.py                          # 2 million candles
    .venv/bin/python bench/adopt.py --pairs 20 --candles 5000  # a quick look

The database (a random name on the server of --server) is dropped afterwards.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coinlstm import db  # noqa: E402
from coinlstm.db import migrations  # noqa: E402
from tests.integration.test_adopt import TUTORIAL_DDL  # noqa: E402

_FILL = """
INSERT INTO candlestick_data (idCoin, openTime, `open`, high, low, `close`, volume, closeTime,
    quoteAssetVolume, numberOfTrader, takerBuyBaseAssetVolume, takerBuyQuoteAssetVolume,
    `ignore`)
SELECT c.id, 1500000000000 + s.seq * 3600000, 0.00061 + (s.seq % 97) / 1e8,
    0.00062 + (s.seq % 89) / 1e8, 0.00060 - (s.seq % 83) / 1e8, 0.00061 + (s.seq % 79) / 1e8,
    1000 + s.seq % 1000 + c.id / 1000, 1500000000000 + s.seq * 3600000 + 3599999,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="mysql+mysqlconnector://root@127.0.0.1:3306")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--candles", type=int, default=10_000)
    parser.add_argument("--dups", type=int, default=1_000)
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
    finally:
        engine.dispose()
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
