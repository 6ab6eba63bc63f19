"""coin_info: the pairs, their ids (never reused), their exchange and its status."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.config import DEFAULT_EXCHANGE
from coinlstm.core.errors import BadInput
from coinlstm.db.schema import coin_info


def coin_by_id(conn: Connection, coin_id: int) -> sa.Row | None:
    return conn.execute(sa.select(coin_info).where(coin_info.c.id == coin_id)).first()


def coin_by_symbol(conn: Connection, symbol: str, exchange: str | None = None
                   ) -> sa.Row | None:
    """The coin of ``symbol``: on ``exchange`` only when one is named (the dashboard's pair
    asked of an exchange), else on whichever exchange (each has its own symbol form,
    coinlstm.core.exchanges, so a symbol names one coin)."""
    query = sa.select(coin_info).where(coin_info.c.symbol == symbol)
    if exchange is not None:
        query = query.where(coin_info.c.exchange == exchange)
    return conn.execute(query).first()


def coins_of_market(conn: Connection, quote_asset: str, status: str | None = None,
                    exchange: str = DEFAULT_EXCHANGE) -> list[sa.Row]:
    query = sa.select(coin_info).where(coin_info.c.quoteAsset == quote_asset,
                                       coin_info.c.exchange == exchange)
    if status is not None:
        query = query.where(coin_info.c.status == status)
    return list(conn.execute(query.order_by(coin_info.c.id)))


def named_coins(coins: list[sa.Row], only: Sequence[str] | None, market: str) -> list[sa.Row]:
    """``coins`` (a market's) narrowed to the symbols of ``only`` (all of them when it is
    empty or None); BadInput naming every symbol of ``only`` that is none of them, so that
    ``--only`` never passes over a stranger in silence."""
    if not only:
        return coins
    known = {coin.symbol for coin in coins}
    strangers = [symbol for symbol in only if symbol not in known]
    if strangers:
        raise BadInput(f"not pairs of market {market} in the database: "
                       f"{', '.join(strangers)}")
    return [coin for coin in coins if coin.symbol in only]


def ensure_coin(conn: Connection, symbol: str, base_asset: str, quote_asset: str,
                status: str | None = None, exchange: str = DEFAULT_EXCHANGE) -> int:
    """The coin's id, registering it first if it is new. Ids are never reused or changed.

    ``status`` None leaves an existing coin's status as it is (an import knows nothing of
    the exchange's status); a value updates it.
    """
    row = coin_by_symbol(conn, symbol)
    now = int(time.time())
    if row is None:
        result = conn.execute(coin_info.insert().values(
            symbol=symbol, baseAsset=base_asset, quoteAsset=quote_asset, status=status,
            time_update=now, exchange=exchange))
        return int(result.inserted_primary_key[0])
    if status is not None and row.status != status:
        conn.execute(coin_info.update().where(coin_info.c.id == row.id)
                     .values(status=status, time_update=now))
    return int(row.id)


def mark_missing_coins(conn: Connection, quote_asset: str, listed_symbols: Iterable[str],
                       status: str = "DELISTED", exchange: str = DEFAULT_EXCHANGE) -> list[str]:
    """Mark the market's coins the exchange no longer lists; their candles stay."""
    listed = set(listed_symbols)
    marked = []
    for row in coins_of_market(conn, quote_asset, exchange=exchange):
        if row.symbol not in listed and row.status not in (None, status):
            conn.execute(coin_info.update().where(coin_info.c.id == row.id)
                         .values(status=status, time_update=int(time.time())))
            marked.append(row.symbol)
    return marked


def forget_new_coins(conn: Connection, coin_ids: Iterable[int]) -> None:
    """Remove coins registered moments ago that nothing refers to yet (a crawl that failed
    before storing a candle of theirs leaves the database as it was)."""
    ids = sorted(set(coin_ids))
    if ids:
        conn.execute(coin_info.delete().where(coin_info.c.id.in_(ids)))
