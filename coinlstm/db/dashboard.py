"""Read-only queries of the dashboard (coinlstm serve): a market's newest candles and
forecasts in a few set-based statements (400 pairs in one round trip each, not 400), a
pair's history, the job runs. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import STORED_LEVELS, band_columns
from coinlstm.core.config import DEFAULT_INTERVAL
from coinlstm.db.schema import (
    candles_table,
    coin_info,
    forecast_scores,
    historical_price_predictions,
    historical_train,
    job_runs,
)
from coinlstm.db.scores import interval_filter


def markets(conn: Connection) -> list[str]:
    """The quote assets that have pairs, alphabetically."""
    return [v for (v,) in conn.execute(
        sa.select(coin_info.c.quoteAsset).distinct().order_by(coin_info.c.quoteAsset))]


def _band_bounds(table: sa.Table) -> list[sa.Column]:
    """The stored levels' bounds of a forecast: lower_80, upper_80, lower_95, upper_95."""
    return [table.c[name] for level in STORED_LEVELS for name in band_columns(level)]


def _newest_per_coin(conn: Connection, column: sa.Column, coin_column: sa.Column,
                     coin_ids: Sequence[int], *conditions) -> dict[int, int]:
    """coin id -> the largest ``column`` among its rows matching ``conditions``.

    Per coin, ``ORDER BY column DESC LIMIT 1``: one seek at the end of an index that starts
    with the coin (the candle table's primary key, the forecasts' (id_coin, interval,
    openTime_next)), so 400 pairs cost 400 short index reads, never a read of 290,000 rows.
    Both databases do that seek for this form; not for the others (MariaDB scans for a
    correlated MAX, and for GROUP BY until the table's statistics are fresh; SQLite scans
    for GROUP BY). Its own statement: SQLite would flatten it into the caller's join and
    run it per row.
    """
    newest = (sa.select(column).where(coin_column == coin_info.c.id, *conditions)
              .order_by(column.desc()).limit(1).scalar_subquery())
    query = sa.select(coin_info.c.id, newest).where(coin_info.c.id.in_(list(coin_ids)))
    return {int(coin): int(value) for coin, value in conn.execute(query) if value is not None}


def _rows_at(conn: Connection, query: sa.Select, coin_column: sa.Column, column: sa.Column,
             newest: dict[int, int]) -> list[sa.Row]:
    """The rows of ``query`` at each coin's ``newest`` value: an IN on the coins and on the
    few distinct newest values (a market's pairs mostly share one), exact pairs kept."""
    if not newest:
        return []
    rows = conn.execute(query.where(coin_column.in_(list(newest)),
                                    column.in_(sorted(set(newest.values())))))
    return [row for row in rows if newest.get(int(row[0])) == int(row[1])]


def newest_candles(conn: Connection, interval: str, coin_ids: Sequence[int]
                   ) -> dict[int, sa.Row]:
    """coin id -> its newest candle of ``interval`` (openTime, close)."""
    table = candles_table(interval)
    newest = _newest_per_coin(conn, table.c.openTime, table.c.idCoin, coin_ids)
    query = sa.select(table.c.idCoin, table.c.openTime,
                      sa.cast(table.c.close, sa.Double).label("close"))
    return {int(row.idCoin): row for row in _rows_at(conn, query, table.c.idCoin,
                                                     table.c.openTime, newest)}


def newest_forecasts(conn: Connection, interval: str, coin_ids: Sequence[int]
                     ) -> dict[int, sa.Row]:
    """coin id -> its newest forecast of ``interval``: the one for its latest candle (of
    several for that candle, a rerun's or another model's, the last stored).

    For 1h, rows without an interval (from before intervals) count too; they are read by a
    second pair of statements, as an OR would stop the index seek at the coin.
    """
    p = historical_price_predictions
    conditions = [p.c.interval == interval]
    if interval == DEFAULT_INTERVAL:
        conditions.append(p.c.interval.is_(None))
    query = sa.select(p.c.id_coin, p.c.openTime_next, p.c.id, p.c.time_create,
                      p.c.price_preidct_last, p.c.price_actual_last, p.c.model, p.c.target,
                      p.c.run_id, *_band_bounds(p))
    newest: dict[int, sa.Row] = {}
    for condition in conditions:
        at = _newest_per_coin(conn, p.c.openTime_next, p.c.id_coin, coin_ids, condition)
        for row in _rows_at(conn, query.where(condition), p.c.id_coin, p.c.openTime_next, at):
            kept = newest.get(int(row.id_coin))
            if kept is None or (row.openTime_next, row.id) > (kept.openTime_next, kept.id):
                newest[int(row.id_coin)] = row
    return newest


def last_run(conn: Connection, market: str) -> sa.Row | None:
    return conn.execute(sa.select(job_runs).where(job_runs.c.market == market)
                        .order_by(job_runs.c.time_start.desc()).limit(1)).first()


def recent_runs(conn: Connection, limit: int, market: str | None = None) -> list[sa.Row]:
    query = sa.select(job_runs).order_by(job_runs.c.time_start.desc()).limit(limit)
    if market is not None:
        query = query.where(job_runs.c.market == market)
    return list(conn.execute(query))


def closes_since(conn: Connection, coin_id: int, interval: str, since: int) -> list[sa.Row]:
    """(openTime, close) of the pair's candles opened at or after ``since`` (ms)."""
    table = candles_table(interval)
    return list(conn.execute(
        sa.select(table.c.openTime, sa.cast(table.c.close, sa.Double).label("close"))
        .where(table.c.idCoin == coin_id, table.c.openTime >= since)
        .order_by(table.c.openTime)))


def forecasts_since(conn: Connection, coin_id: int, interval: str, since: int
                    ) -> list[sa.Row]:
    """The pair's forecasts (and their bands) for candles opened at or after ``since``,
    oldest first."""
    p = historical_price_predictions
    return list(conn.execute(
        sa.select(p.c.id, p.c.openTime_next, p.c.price_preidct_last, p.c.price_actual_last,
                  p.c.model, p.c.target, *_band_bounds(p))
        .where(p.c.id_coin == coin_id, interval_filter(p.c.interval, interval),
               p.c.openTime_next >= since)
        .order_by(p.c.openTime_next, p.c.id)))


def scores_since(conn: Connection, coin_id: int, model: str, target: str, interval: str,
                 since: int) -> list[sa.Row]:
    """One series' scores for candles opened at or after ``since``, oldest first."""
    s = forecast_scores
    return list(conn.execute(
        sa.select(s.c.openTime_next, s.c.error, s.c.naive_error)
        .where(s.c.id_coin == coin_id, s.c.model == model, s.c.target == target,
               s.c.interval == interval, s.c.openTime_next >= since)
        .order_by(s.c.openTime_next)))


def latest_training(conn: Connection, coin_id: int, interval: str) -> sa.Row | None:
    """The pair's newest historical_train row of ``interval`` (its settings and metrics)."""
    t = historical_train
    return conn.execute(
        sa.select(t.c.time_create, t.c.run_id, t.c.model, t.c.target, t.c.backend,
                  t.c.settings, t.c.RMSE, t.c.naive_RMSE, t.c.MAE, t.c.naive_MAE, t.c.skill,
                  t.c.direction_accuracy, t.c.shrinkage, t.c.shrinkage_t, t.c.n_train,
                  t.c.n_val, t.c.n_test, t.c.epochs_run, t.c.train_seconds,
                  t.c.openTime_last)
        .where(t.c.id_coin == coin_id, interval_filter(t.c.interval, interval))
        .order_by(t.c.id.desc()).limit(1)).first()


__all__ = ["closes_since", "forecasts_since", "last_run", "latest_training", "markets",
           "newest_candles", "newest_forecasts", "recent_runs", "scores_since"]
