"""Which pairs of a market a command works on: one rule for ``run`` and ``evaluate``.

Pairs named with ``--only`` must be pairs of the market in coin_info (else one BadInput line
naming the strangers); without it, every pair of the market, or only those of some exchange
statuses for the hourly job (a delisted pair gets no new forecast, but its history can still
be evaluated).
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import DEFAULT_MARKET
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, add_exchange_argument, exchange
from coinlstm.core.klines import EVERY_MARKET, Markets, parse_markets


def market_coins(engine: sa.Engine, market: str | list[str], only: list[str] | None,
                 interval: str, statuses: tuple[str | None, ...] | None = None,
                 retry_seconds: float = 0.0, exchange_name: str = DEFAULT_EXCHANGE
                 ) -> tuple[list[sa.Row], dict[int, int], list[str]]:
    """The chosen coin_info rows of the market (or markets), oldest id first per market; the
    candles of ``interval`` each coin holds (coins without any are absent); and every status
    the markets' coins have (for a message that says why nothing was chosen).

    Without ``only``, ``statuses`` (None: any) keeps the coins whose exchange status is one of
    them. The read waits out a database restart for up to ``retry_seconds``.
    """
    names = [market] if isinstance(market, str) else list(market)
    market = ", ".join(names)

    def read(conn):
        return ([coin for name in names
                 for coin in db.coins_of_market(conn, name, exchange=exchange_name)],
                db.candle_counts_by_coin(conn, interval=interval))

    coins, counts = db.retry_read(engine, read, retry_seconds, "selecting pairs")
    seen = sorted({str(coin.status) for coin in coins})
    if only:
        coins = db.named_coins(coins, only, market)
    elif statuses is not None:
        coins = [coin for coin in coins if coin.status in statuses]
    return coins, counts, seen


def add_pair_arguments(group, verb: str, participle: str) -> None:
    """--market, --only and --exchange, for a command that ``verb``s the pairs of a market."""
    add_exchange_argument(group)
    group.add_argument("--market", default=DEFAULT_MARKET,
                       help=f"quote asset whose pairs are {participle}: one, a list "
                            f"(ETH,BTC,USDT) or {EVERY_MARKET} (every market of the exchange; "
                            "default %(default)s)")
    group.add_argument("--only", default=None, metavar="SYM,SYM",
                       help=f"{verb} only these pairs of the market")


def pair_symbols(settings, text: str | None) -> list[str] | None:
    """``--only`` in the form of the exchange the command reads (another exchange's symbol
    is BadInput)."""
    return exchange(settings.exchange).parse_symbols(text)


def job_markets(text: str) -> Markets:
    """``--market`` of a command, checked before anything starts (no database, no exchange,
    no fork server): one market, a list, or ALL; BadInput (one line, exit 2) for a malformed
    market, one named twice, or ALL beside another (coinlstm.core.klines.parse_markets).
    Whether the exchange lists them is the crawl's check (crawl.crawler.market_pairs), and
    the database's with --skip-crawl (:func:`stored_markets`)."""
    return parse_markets(text)


def stored_markets(engine: sa.Engine, markets: Markets, exchange_name: str,
                   retry_seconds: float = 0.0) -> list[str]:
    """The markets asked that the database holds pairs of on ``exchange_name`` (ALL: every
    one, alphabetically); BadInput naming one it holds no pair of."""
    held = db.retry_read(engine, lambda conn: db.markets(conn, exchange_name), retry_seconds,
                         "reading the markets")
    if markets.every:
        return held
    unknown = [name for name in markets.names if name not in held]
    if unknown and len(markets.names) > 1:
        raise BadInput(f"unknown market {unknown[0]!r}: the database has no pair of it on "
                       f"{exchange_name}")
    return list(markets.names)
