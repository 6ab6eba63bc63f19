"""``coinlstm score``: score stored forecasts against the closes that came, for a database
filled otherwise than by the hourly job (which scores right after its crawl)."""

from __future__ import annotations

import argparse

from coinlstm import db
from coinlstm.app.jobs.pair_selection import job_markets
from coinlstm.core.klines import DEFAULT_INTERVAL, check_interval
from predict.forward_scores import score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", default=None,
                        help="score only this quote market's pairs, or these (ETH,BTC); "
                             "ALL or no flag: every pair")
    parser.add_argument("--interval", default=DEFAULT_INTERVAL,
                        help="candle interval of the forecasts (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    markets = None if args.market is None else job_markets(args.market)
    check_interval(args.interval)
    # Each market is scored (and its pairs judged together) on its own; ALL: every pair.
    names = [None] if markets is None or markets.every else list(markets.names)
    engine = db.open_database(args.settings.db_url)
    try:
        for name in names:
            summary = score(engine, args.interval, name)
            print((f"{name}: " if len(names) > 1 else "") + summary.line(args.interval))
    finally:
        engine.dispose()
    return 0
