"""``coinlstm pairs``: the pairs in coin_info with their ids, which the crawl (or import)
gave them in the order it met them, and the ids ``train -id N`` takes; with each pair's
candles of one interval (count, first and last)."""

from __future__ import annotations

import argparse

from coinlstm import db
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import DEFAULT_INTERVAL, check_interval, check_market, ms_to_utc
from coinlstm.core.tables import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exchange", default=None, choices=tuple(EXCHANGES), type=str.lower,
                        help=f"only this exchange's pairs, of {', '.join(EXCHANGES)} "
                             "(default: every exchange's)")
    parser.add_argument("--market", default=None,
                        help="only this quote market's pairs (default: every market)")
    parser.add_argument("--interval", default=DEFAULT_INTERVAL,
                        help="whose candles are counted (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    market = None if args.market is None else check_market(args.market)
    check_interval(args.interval)
    engine = db.open_database(args.settings.db_url)
    try:
        with engine.connect() as conn:
            rows = db.pairs_with_candle_spans(conn, interval=args.interval, market=market,
                                              exchange=args.exchange)
    finally:
        engine.dispose()
    if not rows:
        print("no pairs in the database (crawl a market or import candle files first)")
        return 0
    header = ("id", "exchange", "symbol", "market", "status", f"{args.interval} candles",
              "first (UTC)", "last (UTC)")
    table = [header, *((str(row.id), row.exchange, row.symbol, row.quoteAsset,
                        row.status or "-", str(row.candles),
                        "-" if row.first_open is None else ms_to_utc(int(row.first_open)),
                        "-" if row.last_open is None else ms_to_utc(int(row.last_open)))
                       for row in rows)]
    print(format_table(table, left=5))
    return 0
