"""The running sums of each series' scores (``track_record_sums``): recomputed from the
scores in one set-based statement, read, and written back after the scorer added to them.

The statement is what revision 0005 fills an upgraded database with and what the scorer
falls back on for a series whose new scores are not all newer than its old ones (a late
score, a rerun or a live forecast replacing a score): window functions (LAG, ROW_NUMBER)
over each series in candle order, so it reads every score once and no row goes through
Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import STORED_LEVELS, band_columns, inside_column
from coinlstm.db.schema import (
    SERIES_COLUMNS,
    SOURCE_BACKFILL,
    SOURCE_LIVE,
    SUM_LAGS,
    forecast_scores,
    sum_band_columns,
    track_record_sums,
)


def _when(condition: sa.ColumnElement[bool], value) -> sa.ColumnElement:
    return sa.case((condition, value), else_=None)


def _count_true(flag: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((flag == sa.true(), 1), else_=0)), 0)


def _ordered_scores(where: sa.ColumnElement[bool] | None) -> sa.Subquery:
    """Each score with its loss differential ``d``, the SUM_LAGS before it in its series
    (``prev_k``), its position from the oldest (``rank_up``) and the newest
    (``rank_down``), and its band widths (``width_80``: None where the band or the last
    close is missing)."""
    s = forecast_scores
    d = s.c.error * s.c.error - s.c.naive_error * s.c.naive_error
    partition = [s.c[name] for name in SERIES_COLUMNS]
    ordered = {"partition_by": partition, "order_by": s.c.openTime_next}
    widths = []
    for level in STORED_LEVELS:
        lower, upper = (s.c[name] for name in band_columns(level))
        inside = s.c[inside_column(level)]
        widths.append(_when(sa.and_(inside.is_not(None), s.c.naive != 0),
                            (upper - lower) / s.c.naive * 100.0)
                      .label(f"width_{sum_band_columns(level)[0]}"))
    query = sa.select(
        *partition, s.c.openTime_next, s.c.error, s.c.naive_error, s.c.direction_hit,
        s.c.source, *(s.c[inside_column(level)] for level in STORED_LEVELS), *widths,
        d.label("d"),
        *(sa.func.lag(d, k).over(**ordered).label(f"prev_{k}")
          for k in range(1, SUM_LAGS + 1)),
        sa.func.row_number().over(**ordered).label("rank_up"),
        sa.func.row_number().over(partition_by=partition,
                                  order_by=s.c.openTime_next.desc()).label("rank_down"))
    return (query if where is None else query.where(where)).subquery("ordered")


def _aggregates(o: sa.Subquery) -> list[sa.ColumnElement]:
    """The track_record_sums columns of one series, in the table's order, over ``o``."""
    total = sa.func.sum
    columns = [sa.func.max(o.c.openTime_next), sa.func.count(),
               _count_true(o.c.source == SOURCE_LIVE), _count_true(o.c.source == SOURCE_BACKFILL),
               _count_true(o.c.direction_hit), sa.func.count(o.c.direction_hit),
               total(o.c.error * o.c.error), total(o.c.naive_error * o.c.naive_error),
               total(sa.func.abs(o.c.error)), total(sa.func.abs(o.c.naive_error)),
               total(o.c.d), total(o.c.d * o.c.d)]
    for level in STORED_LEVELS:
        inside = o.c[inside_column(level)]
        width = o.c[f"width_{sum_band_columns(level)[0]}"]
        columns += [sa.func.count(inside), _count_true(inside), sa.func.count(width),
                    sa.func.coalesce(total(width), 0.0)]
    columns += [sa.func.coalesce(total(o.c.d * o.c[f"prev_{k}"]), 0.0)
                for k in range(1, SUM_LAGS + 1)]
    columns += [sa.func.max(_when(o.c[rank] == k, o.c.d))
                for rank in ("rank_up", "rank_down") for k in range(1, SUM_LAGS + 1)]
    return columns


def _sum_names() -> list[str]:
    """The non-key columns of track_record_sums in the order _aggregates makes them."""
    return [column.name for column in track_record_sums.c if column.name not in SERIES_COLUMNS]


def _series_filter(table: sa.Table, interval: str | None,
                   coin_ids: Sequence[int] | None) -> list[sa.ColumnElement[bool]]:
    where = []
    if interval is not None:
        where.append(table.c.interval == interval)
    if coin_ids is not None:
        where.append(table.c.id_coin.in_(list(coin_ids)))
    return where


def fill_statements(interval: str | None = None, coin_ids: Sequence[int] | None = None
                    ) -> list[sa.Executable]:
    """The two statements that recompute the running sums of every series (of
    ``interval``'s series of ``coin_ids`` when given) from their scores: delete the stored
    ones, insert the recomputed ones (what revision 0005 prints with ``--sql``)."""
    t = track_record_sums
    where = _series_filter(forecast_scores, interval, coin_ids)
    ordered = _ordered_scores(sa.and_(*where) if where else None)
    key = [ordered.c[name] for name in SERIES_COLUMNS]
    return [t.delete().where(*_series_filter(t, interval, coin_ids)),
            t.insert().from_select([*SERIES_COLUMNS, *_sum_names()],
                                   sa.select(*key, *_aggregates(ordered)).group_by(*key))]


def fill_record_sums(conn: Connection, interval: str | None = None,
                     coin_ids: Sequence[int] | None = None) -> None:
    """Recompute the running sums (:func:`fill_statements`); in the caller's transaction."""
    for statement in fill_statements(interval, coin_ids):
        conn.execute(statement)


def stored_record_sums(conn: Connection, interval: str, coin_ids: Iterable[int]
                       ) -> dict[tuple[int, str, str], dict]:
    """The stored sums of ``interval``'s series of ``coin_ids``: (coin id, model, target) ->
    {column: value}."""
    t = track_record_sums
    return {(int(row.id_coin), row.model, row.target): dict(row._mapping)
            for row in conn.execute(sa.select(t).where(
                *_series_filter(t, interval, sorted(set(coin_ids)))))}


def write_record_sums(conn: Connection, rows: Sequence[dict]) -> None:
    """Store running sums (dicts of every track_record_sums column), replacing the stored
    ones of the same series; in the caller's transaction."""
    if not rows:
        return
    t = track_record_sums
    conn.execute(t.delete().where(*(t.c[name] == sa.bindparam(f"key_{name}")
                                    for name in SERIES_COLUMNS)),
                 [{f"key_{name}": row[name] for name in SERIES_COLUMNS} for row in rows])
    conn.execute(t.insert(), list(rows))


__all__ = ["fill_record_sums", "fill_statements", "stored_record_sums", "write_record_sums"]
