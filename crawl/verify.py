"""Stored candles checked against the exchange's final values, and repaired where they differ
(``coinlstm crawl --verify``, and the last step of ``coinlstm db adopt``).

The original system stored the newest kline the exchange returned even while its candle was
still open, and never fetched it again: nearly every candle it stored holds only the first
minutes of its hour. Here every stored candle is fetched again, page by page, and each one
that differs from the exchange's closed candle is updated, one transaction per page (a stop
leaves whole pages repaired; running again goes on, as equal candles are skipped). Candles
the exchange still has open are left for a later run.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.klines import DEFAULT_INTERVAL, check_interval
from crawl.sources import open_source


def verify_pair(engine, client, symbol: str, coin_id: int, *, interval: str = DEFAULT_INTERVAL,
                since_ms: int | None = None, server_ms: int | None = None) -> int:
    """Repair one pair's stored candles of ``interval`` opened at or after ``since_ms``
    (None: all) from ``client`` (a candle source); how many changed."""
    interval_ms = check_interval(interval)
    with engine.connect() as conn:
        span = db.stored_time_range(conn, coin_id, since_ms, interval=interval)
    if span is None:
        return 0
    server_ms = client.server_time() if server_ms is None else server_ms
    start_ms, last_ms = span
    changed = 0
    while start_ms <= last_ms:
        page = client.klines(symbol, interval, start_ms, client.page_limit)
        closed = [kline for kline in page if kline[6] < server_ms and kline[0] <= last_ms]
        if closed:
            with db.transaction(engine) as conn:
                changed += db.repair_candles(conn, coin_id, closed, interval=interval)
        if not page or len(closed) < len(page) or len(page) < client.page_limit:
            break
        start_ms = page[-1][0] + interval_ms
    return changed


def verify_market(engine, client, *, interval: str = DEFAULT_INTERVAL,
                  since_ms: int | None = None, market: str | None = None) -> dict[str, int]:
    """Repair the stored candles of every pair of ``client``'s exchange (of ``market``'s
    quote asset when given) that has any; candles changed per symbol."""
    table = db.coin_info
    query = sa.select(table.c.id, table.c.symbol).where(
        sa.func.coalesce(table.c.exchange, "binance") == client.name).order_by(table.c.id)
    if market is not None:
        query = query.where(table.c.quoteAsset == market)
    with engine.connect() as conn:
        pairs = [(row.symbol, int(row.id)) for row in conn.execute(query)]
    server_ms = client.server_time()
    return {symbol: verify_pair(engine, client, symbol, coin_id, interval=interval,
                                since_ms=since_ms, server_ms=server_ms)
            for symbol, coin_id in pairs}


def repair_stored_candles(engine, settings, since_ms: int | None = None,
                          market: str | None = None, interval: str = DEFAULT_INTERVAL) -> int:
    """What the commands run: every pair's repair, one line per pair that has candles, the
    exit code (0)."""
    client = open_source(settings.exchange, settings.exchange_url)
    return report_repairs(verify_market(engine, client, interval=interval, since_ms=since_ms,
                                        market=market))


def report_repairs(changed: dict[str, int]) -> int:
    """One line per pair, one in all; the exit code (0)."""
    for symbol, count in changed.items():
        print(f"{symbol}: {count} candles repaired from the exchange")
    print(f"verified {len(changed)} pairs against the exchange: "
          f"{sum(changed.values())} candles repaired")
    return 0
