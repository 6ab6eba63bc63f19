"""Read-only queries of the dashboard (coinlstm serve): a market's pairs with their newest
candles and forecasts and their stored track records in three statements whatever the number
of pairs (each an index seek per pair, never a read of every forecast), a pair's history,
the job runs. Nothing here writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import STORED_LEVELS, band_columns
from coinlstm.core.klines import DEFAULT_INTERVAL
from coinlstm.db.schema import (
    SERIES_COLUMNS,
    SOURCE_LIVE,
    candles_table,
    coin_info,
    forecast_scores,
    historical_price_predictions,
    historical_train,
    job_runs,
    track_records,
)
from coinlstm.db.scores import interval_filter


def markets(conn: Connection, exchange: str | None = None) -> list[str]:
    """The quote assets that have pairs (on ``exchange`` when one is named), alphabetically."""
    query = sa.select(coin_info.c.quoteAsset).distinct().order_by(coin_info.c.quoteAsset)
    if exchange is not None:
        query = query.where(coin_info.c.exchange == exchange)
    return [v for (v,) in conn.execute(query)]


def _band_bounds(table: sa.Table) -> list[sa.Column]:
    """The stored levels' bounds of a forecast: lower_80, upper_80, lower_95, upper_95."""
    return [table.c[name] for level in STORED_LEVELS for name in band_columns(level)]


#: What the dashboard reads of a pair (every value costs decoding time on MySQL).
PAIR_COLUMNS: tuple[str, ...] = ("id", "symbol", "quoteAsset", "status", "exchange")


class NewestCandle(NamedTuple):
    """A pair's newest candle, as the dashboard shows it."""

    openTime: int  # noqa: N815 (the column's name)
    close: float


@dataclass(frozen=True)
class PairNewest:
    """A pair (its :data:`PAIR_COLUMNS` of coin_info) with its newest candle of an interval
    and its newest forecast of that interval; None where it has none."""

    coin: sa.Row
    candle: sa.Row | None
    forecast: sa.Row | None


def _newest(column: sa.ColumnElement, coin_column: sa.Column, order: Sequence,
            *conditions) -> sa.ScalarSelect:
    """The pair's ``column`` in its newest row (``order``, newest first) matching
    ``conditions``: a scalar subquery correlated to coin_info.

    ``ORDER BY ... DESC LIMIT 1`` on an index that starts with the coin is one seek at the
    index's end per pair (the candle table's primary key; the forecasts' (id_coin,
    interval, openTime_next), whose entries end with the row id on both databases, so
    ``openTime_next DESC, id DESC`` is read off the index too). Both databases do that
    seek for this form; they scan for a correlated MAX or a GROUP BY.
    """
    return (sa.select(column).where(coin_column == coin_info.c.id, *conditions)
            .order_by(*order).limit(1).scalar_subquery())


def _forecast_conditions(interval: str) -> list[sa.ColumnElement[bool]]:
    """Which forecast rows are of ``interval``, one condition per index seek: for 1h, rows
    without an interval (from before intervals) too, in a seek of their own, as an OR would
    stop the seek at the coin."""
    p = historical_price_predictions
    conditions = [p.c.interval == interval]
    if interval == DEFAULT_INTERVAL:
        conditions.append(p.c.interval.is_(None))
    return conditions


def newest_of_pairs(conn: Connection, interval: str, *, market: str | None = None,
                    exchange: str | None = None, coin_ids: Sequence[int] | None = None
                    ) -> list[PairNewest]:
    """Each pair (of ``market`` on ``exchange``, or of ``coin_ids``) with its newest candle
    and newest forecast of ``interval`` (of several for one candle, a live one over a
    backfilled one, then a rerun's or another model's, the last stored), in coin id order:
    two statements whatever the number of pairs.

    The first reads the pairs and, per pair, its newest candle's time and close and its
    newest forecasts' ids (index seeks, above); the second reads those forecasts by primary
    key. Why not by (coin, openTime_next): MariaDB chose between that index and the
    forecasts' older one on id_coin alone by statistics, which tie for an IN list of more
    than eq_range_index_dive_limit (200) coins, and on a tie it read every forecast of
    every pair (seconds for a 400-pair market: docs/performance.md). A primary key leaves
    it no choice.
    """
    candles = candles_table(interval)
    p = historical_price_predictions
    newest_candle = [candles.c.openTime.desc()]
    newest_forecast = [p.c.openTime_next.desc(), p.c.id.desc()]
    # Each interval condition twice: any source, and live only (the seek passes over a
    # backfilled forecast stored after the live one of the same candle).
    conditions = [extra for condition in _forecast_conditions(interval)
                  for extra in ([condition], [condition, p.c.source == SOURCE_LIVE])]
    query = sa.select(
        *(coin_info.c[name] for name in PAIR_COLUMNS),
        _newest(candles.c.openTime, candles.c.idCoin, newest_candle).label("candle_open"),
        _newest(sa.cast(candles.c.close, sa.Double), candles.c.idCoin,
                newest_candle).label("candle_close"),
        *(_newest(p.c.id, p.c.id_coin, newest_forecast, *condition).label(f"forecast_{index}")
          for index, condition in enumerate(conditions)),
    ).order_by(coin_info.c.id)
    if market is not None:
        query = query.where(coin_info.c.quoteAsset == market)
    if exchange is not None:
        query = query.where(coin_info.c.exchange == exchange)
    if coin_ids is not None:
        query = query.where(coin_info.c.id.in_(list(coin_ids)))
    rows = list(conn.execute(query))
    names = [f"forecast_{index}" for index in range(len(conditions))]
    forecasts = forecasts_by_id(conn, [row._mapping[name] for row in rows for name in names
                                       if row._mapping[name] is not None])
    found = []
    for row in rows:
        mapping = row._mapping
        candle = None if mapping["candle_open"] is None else NewestCandle(
            int(mapping["candle_open"]), float(mapping["candle_close"]))
        # Of the pair's newest 1h and newest interval-less forecast, the newer one (a live
        # one over a backfilled one of the same candle).
        mine = [forecasts[mapping[name]] for name in names if mapping[name] in forecasts]
        forecast = max(mine, key=lambda f: (f.openTime_next, f.source == SOURCE_LIVE, f.id)
                       ) if mine else None
        found.append(PairNewest(row, candle, forecast))
    return found


def forecasts_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, sa.Row]:
    """Forecast rows by id (primary key): what the dashboard shows of a forecast, its
    bands included."""
    if not ids:
        return {}
    p = historical_price_predictions
    query = sa.select(p.c.id, p.c.id_coin, p.c.openTime_next, p.c.price_preidct_last,
                      p.c.price_actual_last, p.c.model, p.c.target, p.c.source,
                      *_band_bounds(p)).where(p.c.id.in_(sorted(set(ids))))
    return {int(row.id): row for row in conn.execute(query)}


#: A raw DM p-value is never read without its Benjamini-Hochberg adjusted one (the market's
#: verdicts compare the adjusted one with the FDR level; predict/track_record.py).
ADJUSTED_PVALUES: dict[str, str] = {"dm_pvalue": "dm_pvalue_adjusted",
                                    "dm_pvalue_worse": "dm_pvalue_worse_adjusted"}


def market_track_records(conn: Connection, interval: str, market: str, exchange: str,
                         windows: Sequence[str], columns: Sequence[str]) -> list[sa.Row]:
    """The stored track-record rows of ``windows`` of every pair of ``market`` on
    ``exchange``, with the series' key, the window and ``columns`` (and each raw DM p-value's
    adjusted one, :data:`ADJUSTED_PVALUES`): the market's pairs joined to their rows on the
    table's primary key (id_coin first), one statement.

    Only the columns asked: 800 rows of every column took 32 ms to decode through the
    pure-Python MySQL driver, of 8 columns 11 ms (the server's part: under 1 ms).
    """
    t = track_records
    adjusted = [ADJUSTED_PVALUES[name] for name in columns if name in ADJUSTED_PVALUES]
    return list(conn.execute(
        sa.select(*(t.c[name] for name in dict.fromkeys(
            [*SERIES_COLUMNS, "window", *columns, *adjusted])))
        .join(coin_info, coin_info.c.id == t.c.id_coin)
        .where(coin_info.c.quoteAsset == market, coin_info.c.exchange == exchange,
               t.c.interval == interval, t.c.window.in_(list(windows)))))


def last_run(conn: Connection, jobs: Sequence[str]) -> sa.Row | None:
    """The newest run of any of ``jobs`` (a market's own job and the exchange's job of
    several markets both train its pairs)."""
    return conn.execute(sa.select(job_runs).where(job_runs.c.market.in_(list(jobs)))
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
                  p.c.model, p.c.target, p.c.source, *_band_bounds(p))
        .where(p.c.id_coin == coin_id, interval_filter(p.c.interval, interval),
               p.c.openTime_next >= since)
        .order_by(p.c.openTime_next, p.c.id)))


def scores_since(conn: Connection, coin_id: int, model: str, target: str, interval: str,
                 since: int) -> list[sa.Row]:
    """One series' scores for candles opened at or after ``since``, oldest first."""
    s = forecast_scores
    return list(conn.execute(
        sa.select(s.c.openTime_next, s.c.error, s.c.naive_error, s.c.forecast, s.c.naive,
                  s.c.actual)
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
                  # the newest candle trained on (rows from before revision 0002 hold it in
                  # openTime_last, rewritten there; the original system's have neither)
                  sa.func.coalesce(t.c.openTime_newest, t.c.openTime_last)
                  .label("openTime_last"))
        .where(t.c.id_coin == coin_id, interval_filter(t.c.interval, interval))
        .order_by(t.c.id.desc()).limit(1)).first()


__all__ = ["ADJUSTED_PVALUES", "NewestCandle", "PairNewest", "closes_since",
           "forecasts_by_id", "forecasts_since", "last_run", "latest_training",
           "market_track_records", "markets", "newest_of_pairs", "recent_runs", "scores_since"]
