"""``coinlstm resample --to 4h``: a coarser interval's candle table built from a finer one
already in the database (``--interval``, default 1h), as the exchange builds its own
(coinlstm/core/resample.py: complete periods only), so daily or 4-hour series need no
exchange.

Everything the user typed (the intervals, the exchange's rules, the market and --only) is
checked before anything is written; each pair's new candles go in one transaction, and a
candle already stored is kept, so a rerun adds nothing.
"""

from __future__ import annotations

import argparse
import time

from coinlstm import db
from coinlstm.core.config import DEFAULT_MARKET
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import EXCHANGES, exchange
from coinlstm.core.klines import DEFAULT_INTERVAL, check_market
from coinlstm.core.resample import aggregate, check_coarser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="INTERVAL",
                        help="the coarser interval to build, e.g. 4h or 1d (a whole multiple "
                             "of --interval, a day or less)")
    parser.add_argument("--interval", default=DEFAULT_INTERVAL,
                        help="the stored interval it is built from (default %(default)s)")
    parser.add_argument("--market", default=DEFAULT_MARKET,
                        help="quote asset whose pairs are resampled (default %(default)s)")
    parser.add_argument("--only", default=None, metavar="SYM,SYM",
                        help="resample only these pairs of the market")
    parser.add_argument("--exchange", default=None, choices=tuple(EXCHANGES), type=str.lower,
                        help="whose pairs: binance (default), poloniex, bithumb, coingecko; "
                             "the coarser interval must be one that exchange has")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    fine_ms, coarse_ms = check_coarser(args.interval, args.to)
    facts = exchange(args.settings.exchange)
    facts.check_interval(args.to)  # the rule and words of crawl, run, train, evaluate
    market = check_market(args.market)
    only = facts.parse_symbols(args.only)
    engine = db.open_database(args.settings.db_url)
    try:
        coins = _chosen_pairs(engine, market, only, facts.name, args.interval)
        added = {}
        for coin in coins:
            added[coin.symbol] = _resample_pair(engine, int(coin.id), args.interval, args.to,
                                                fine_ms, coarse_ms)
    finally:
        engine.dispose()
    each = ", ".join(f"{symbol} +{count}" for symbol, count in added.items())
    print(f"resampled {args.interval} -> {args.to} ({facts.name} {market}): {len(added)} pairs, "
          f"{sum(added.values())} new {args.to} candles ({each}) in "
          f"{time.perf_counter() - started:.1f} s")
    return 0


def _chosen_pairs(engine, market: str, only: list[str] | None, exchange_name: str,
                  interval: str) -> list:
    """The market's pairs holding ``interval`` candles (narrowed by ``only``); BadInput for
    a stranger in ``only`` or a market with no such pair."""
    with engine.connect() as conn:
        coins = db.coins_of_market(conn, market, exchange=exchange_name)
        counts = db.candle_counts_by_coin(conn, interval=interval)
    coins = db.named_coins(coins, only, market)
    chosen = [coin for coin in coins if counts.get(coin.id)]
    if not chosen:
        raise BadInput(f"no {exchange_name} pair of market {market} has {interval} candles "
                       "in the database; crawl or import them first")
    return chosen


def _resample_pair(engine, coin_id: int, fine: str, coarse: str, fine_ms: int,
                   coarse_ms: int) -> int:
    """One pair's coarse candles added (one transaction); the number added."""
    with db.transaction(engine) as conn:
        rows = db.candle_text_rows(conn, coin_id, interval=fine)
        return db.insert_klines(conn, coin_id, aggregate(rows, fine_ms, coarse_ms),
                                interval=coarse)
