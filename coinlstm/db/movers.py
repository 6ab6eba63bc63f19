"""The movers and costs evidence: what the scorer reads to compute it (a market's scores and
candles over a span of hours, one statement each) and writes (``movers_hours``,
``pair_costs``), and what the dashboard reads back (a window of a market's hours, its
pairs' costs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import band_columns
from coinlstm.db.bulk import Tuples, fetch_in_chunks
from coinlstm.db.schema import (
    candles_table,
    coin_info,
    forecast_scores,
    movers_hours,
    pair_costs,
)
from coinlstm.db.scores import SeriesKey, delete_series, insert_in_batches, series_rows


def markets_of_coins(conn: Connection, coin_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """coin id -> (exchange, quote market) of the pairs given."""
    ids = sorted(set(coin_ids))
    if not ids:
        return {}
    return {int(row.id): (row.exchange, row.quoteAsset) for row in conn.execute(
        sa.select(coin_info.c.id, coin_info.c.exchange, coin_info.c.quoteAsset)
        .where(coin_info.c.id.in_(ids)))}


def _market(exchange: str, market: str) -> list[sa.ColumnElement[bool]]:
    return [coin_info.c.quoteAsset == market, coin_info.c.exchange == exchange]


def market_pairs(conn: Connection, exchange: str, market: str) -> list[int]:
    """The coin ids of the pairs of ``market`` on ``exchange``. The big tables are then read
    by these ids, each a range of a key that starts with the coin: joined to coin_info
    instead, MySQL walked every candle and every score of the market's pairs, a year of
    them at a year's history."""
    return sorted(int(coin) for (coin,) in conn.execute(
        sa.select(coin_info.c.id).where(*_market(exchange, market))))


def market_scores_between(conn: Connection, keys: Sequence[SeriesKey], since: int,
                          until: int, level: float) -> list[tuple]:
    """The forward scores of the series ``keys`` (a market's: :func:`series_of_pairs` of
    its :func:`market_pairs`) for candles opened from ``since`` to ``until`` (both
    included): series, candle, forecast id, last close (``naive``), actual close and the
    ``level`` band (``lower``, ``upper``), as named tuples."""
    s = forecast_scores
    lower, upper = band_columns(level)
    return series_rows(conn, keys, [s.c.id_coin, s.c.openTime_next, s.c.id_prediction,
                                    s.c.naive, s.c.actual, s.c[lower].label("lower"),
                                    s.c[upper].label("upper")],
                       s.c.openTime_next >= since, s.c.openTime_next <= until).named()


def market_closes_between(conn: Connection, interval: str, coin_ids: Sequence[int],
                          since: int, until: int, rows: int) -> Iterator[Tuples]:
    """(idCoin, openTime, close) of every candle of the pairs ``coin_ids`` (a market's:
    :func:`market_pairs`) opened from ``since`` to ``until``, by pair and time, ``rows`` at
    a time (:func:`fetch_in_chunks`)."""
    table = candles_table(interval)
    if not coin_ids:
        return iter(())
    return fetch_in_chunks(conn, sa.select(table.c.idCoin, table.c.openTime,
                                           sa.cast(table.c.close, sa.Double).label("close"))
                           .where(table.c.idCoin.in_(list(coin_ids)),
                                  table.c.openTime >= since, table.c.openTime <= until)
                           .order_by(table.c.idCoin, table.c.openTime), rows)


def _hours_of(exchange: str, market: str, interval: str) -> sa.ColumnElement[bool]:
    h = movers_hours
    return sa.and_(h.c.exchange == exchange, h.c.market == market, h.c.interval == interval)


def newest_movers_hour(conn: Connection, exchange: str, market: str, interval: str
                       ) -> int | None:
    """The market's newest stored movers hour (None: none stored yet)."""
    h = movers_hours
    return conn.execute(sa.select(h.c.openTime).where(_hours_of(exchange, market, interval))
                        .order_by(h.c.openTime.desc()).limit(1)).scalar()


def replace_movers_hours(conn: Connection, exchange: str, market: str, interval: str,
                         since: int, until: int, rows: Sequence[dict]) -> None:
    """The market's movers hours from ``since`` to ``until`` replaced by ``rows`` (dicts of
    openTime, pairs, spearman, naive_spearman), in the caller's transaction."""
    h = movers_hours
    conn.execute(h.delete().where(_hours_of(exchange, market, interval),
                                  h.c.openTime >= since, h.c.openTime <= until))
    if rows:
        conn.execute(h.insert(), [{"exchange": exchange, "market": market,
                                   "interval": interval, **row} for row in rows])


def stored_movers_hours(conn: Connection, exchange: str, market: str, interval: str,
                        since: int) -> list[sa.Row]:
    """The market's movers hours opened after ``since``, oldest first (a range of the
    table's primary key)."""
    h = movers_hours
    return list(conn.execute(
        sa.select(h.c.openTime, h.c.pairs, h.c.spearman, h.c.naive_spearman)
        .where(_hours_of(exchange, market, interval), h.c.openTime > since)
        .order_by(h.c.openTime)))


def candle_ranges_since(conn: Connection, coin_ids: Sequence[int], interval: str, since: int,
                        rows: int) -> Iterator[Tuples]:
    """(idCoin, openTime, high, low, close) of the candles of the pairs ``coin_ids`` opened
    at or after ``since`` (ms), oldest first within a pair, ``rows`` at a time
    (:func:`fetch_in_chunks`): what the spread estimators read, for many pairs in one
    statement."""
    table = candles_table(interval)
    return fetch_in_chunks(conn, sa.select(table.c.idCoin, table.c.openTime,
                                           *(sa.cast(table.c[name], sa.Double).label(name)
                                             for name in ("high", "low", "close")))
                           .where(table.c.idCoin.in_(sorted(set(coin_ids))),
                                  table.c.openTime >= since)
                           .order_by(table.c.idCoin, table.c.openTime), rows)


def replace_pair_costs(conn: Connection, rows: dict[SeriesKey, dict]) -> None:
    """Each series' costs row (as_of, spread, ...) replacing what was stored of it: one
    delete and one insert for all the series."""
    delete_series(conn, pair_costs, list(rows))
    insert_in_batches(conn, pair_costs, [
        {"id_coin": key.id_coin, "model": key.model, "target": key.target,
         "interval": key.interval, **row} for key, row in rows.items()])


def stored_pair_costs(conn: Connection, interval: str, coin_ids: Sequence[int] | None = None,
                      market: tuple[str, str] | None = None) -> list[sa.Row]:
    """Stored costs rows of ``interval``: of ``coin_ids``, or of the pairs of ``market``
    ((exchange, quote market)), or all."""
    c = pair_costs
    query = sa.select(c).where(c.c.interval == interval)
    if coin_ids is not None:
        query = query.where(c.c.id_coin.in_(list(coin_ids)))
    if market is not None:
        query = query.join(coin_info, coin_info.c.id == c.c.id_coin).where(*_market(*market))
    return list(conn.execute(query))


__all__ = ["candle_ranges_since", "market_closes_between", "market_pairs",
           "market_scores_between",
           "markets_of_coins",
           "newest_movers_hour", "replace_movers_hours", "replace_pair_costs",
           "stored_movers_hours", "stored_pair_costs"]
