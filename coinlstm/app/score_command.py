"""``coinlstm score``: score stored forecasts against the closes that came, for a database
filled otherwise than by the hourly job (which scores right after its crawl)."""

from __future__ import annotations

import argparse

from coinlstm import db
from coinlstm.core.config import DEFAULT_INTERVAL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", default=None,
                        help="score only this quote market's pairs (default: every pair)")
    parser.add_argument("--interval", default=DEFAULT_INTERVAL,
                        help="candle interval of the forecasts (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from coinlstm.core.klines import check_interval, check_market
    from predict.scoring import score

    market = None if args.market is None else check_market(args.market)
    check_interval(args.interval)
    engine = db.open_database(args.settings.db_url)
    try:
        summary = score(engine, args.interval, market)
    finally:
        engine.dispose()
    print(summary.line(args.interval))
    return 0
