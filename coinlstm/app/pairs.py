"""Which pairs of a market a command works on: one rule for ``run`` and ``evaluate``.

Pairs named with ``--only`` must be pairs of the market in coin_info (else one BadInput line
naming the strangers); without it, every pair of the market, or only those of some exchange
statuses for the hourly job (a delisted pair gets no new forecast, but its history can still
be evaluated).
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import DEFAULT_EXCHANGE, DEFAULT_MARKET
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import add_exchange_argument, exchange


def market_coins(engine: sa.Engine, market: str, only: list[str] | None, interval: str,
                 statuses: tuple[str | None, ...] | None = None, retry_seconds: float = 0.0,
                 exchange_name: str = DEFAULT_EXCHANGE
                 ) -> tuple[list[sa.Row], dict[int, int], list[str]]:
    """The chosen coin_info rows, oldest id first; the candles of ``interval`` each coin holds
    (coins without any are absent); and every status the market's coins have (for a message
    that says why nothing was chosen).

    Without ``only``, ``statuses`` (None: any) keeps the coins whose exchange status is one of
    them. The read waits out a database restart for up to ``retry_seconds``.
    """
    def read(conn):
        return (db.coins_of_market(conn, market, exchange=exchange_name),
                db.candle_counts_by_coin(conn, interval=interval))

    coins, counts = db.retry_read(engine, read, retry_seconds, "selecting pairs")
    seen = sorted({str(coin.status) for coin in coins})
    if only:
        known = {coin.symbol for coin in coins}
        missing = [symbol for symbol in only if symbol not in known]
        if missing:
            raise BadInput(f"not pairs of market {market} in the database: "
                           f"{', '.join(missing)}")
        coins = [coin for coin in coins if coin.symbol in only]
    elif statuses is not None:
        coins = [coin for coin in coins if coin.status in statuses]
    return coins, counts, seen


def add_pair_arguments(group, verb: str, participle: str) -> None:
    """--market, --only and --exchange, for a command that ``verb``s the pairs of a market."""
    add_exchange_argument(group)
    group.add_argument("--market", default=DEFAULT_MARKET,
                       help=f"quote asset whose pairs are {participle} (default %(default)s)")
    group.add_argument("--only", default=None, metavar="SYM,SYM",
                       help=f"{verb} only these pairs of the market")


def pair_symbols(settings, text: str | None) -> list[str] | None:
    """``--only`` in the form of the exchange the command reads (another exchange's symbol
    is BadInput)."""
    return exchange(settings.exchange).parse_symbols(text)
