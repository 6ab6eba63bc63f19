"""Forward scores (each stored forecast against the close that came) and the track records
computed from them: the queries the scorer (predict/forward_scores.py) and the dashboard use."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.columns import STORED_LEVELS, band_columns, inside_column
from coinlstm.core.exchanges import DEFAULT_EXCHANGE
from coinlstm.core.klines import DEFAULT_INTERVAL
from coinlstm.db.bulk import Tuples, fetch_in_chunks, fetch_tuples
from coinlstm.db.schema import (
    SOURCE_BACKFILL,
    SOURCE_LIVE,
    candles_table,
    coin_info,
    forecast_scores,
    historical_price_predictions,
    scoring_marks,
    scoring_pending,
    track_records,
)

#: Rows per statement when scores are written or deleted in bulk.
BATCH_ROWS = 1000
#: MySQL: read the series named in a statement by ranges of the scores' unique key. With
#: more series than its index-dive limit (200 by default) the optimizer estimates each
#: range from the key's statistics (a year of scores per series) and scans the table
#: instead, a year of every pair to return one hour of each.
SERIES_KEY_HINT = "FORCE INDEX (uq_forecast_scores_series_next)"


@dataclass(frozen=True)
class SeriesKey:
    """One forecaster's series: a pair's forecasts of one model, target and interval."""

    id_coin: int
    model: str
    target: str
    interval: str

    def where(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return sa.and_(table.c.id_coin == self.id_coin, table.c.model == self.model,
                       table.c.target == self.target, table.c.interval == self.interval)


def interval_filter(column: sa.ColumnElement, interval: str) -> sa.ColumnElement[bool]:
    """Rows of ``interval``; a forecast stored without one predates intervals: 1h."""
    if interval == DEFAULT_INTERVAL:
        return sa.or_(column == interval, column.is_(None))
    return column == interval


def _band_columns(table: sa.Table) -> list[sa.Column]:
    """lower_80, upper_80, lower_95, ... of ``table``: the stored levels' bounds."""
    return [table.c[name] for level in STORED_LEVELS for name in band_columns(level)]


def _score_lacks_band(prediction: sa.Table, score: sa.Table) -> sa.ColumnElement[bool]:
    """The forecast has a band of some stored level that its score has no verdict on: a
    score written before bands were scored (an upgraded database)."""
    lacking = []
    for level in STORED_LEVELS:
        lower, upper = band_columns(level)
        lacking.append(sa.and_(prediction.c[lower].is_not(None),
                               prediction.c[upper].is_not(None),
                               score.c[inside_column(level)].is_(None)))
    return sa.or_(*lacking)


@dataclass(frozen=True)
class ScoringMark:
    """Where a scope's (interval, market) reading of the forecasts stands: every forecast
    of its pairs up to ``forecast_id`` is settled but the ``pending`` ones (their candle was
    not in)."""

    forecast_id: int
    pending: tuple[int, ...] = ()

    def unsettled(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        """The forecasts a pass from this mark reads, in parts each read by a query of its
        own (an OR of the two is a scan of the whole table to SQLite's planner): those
        after the mark, and the pending ones."""
        return [table.c.id > self.forecast_id,
                *([table.c.id.in_(self.pending)] if self.pending else [])]


def _read_in_parts(conn: Connection, query: sa.Select, mark: ScoringMark | None
                   ) -> list[sa.Row]:
    """``query``'s rows (every forecast without a mark; else the mark's unsettled ones,
    with locking reads on MySQL), part by part."""
    if mark is None:
        return list(conn.execute(query))
    rows: list[sa.Row] = []
    for part in mark.unsettled(historical_price_predictions):
        rows.extend(conn.execute(query.where(part).with_for_update(read=True)))
    return rows


def _scope(interval: str, coin_ids: Sequence[int] | None) -> list[sa.ColumnElement[bool]]:
    p = historical_price_predictions
    where = [interval_filter(p.c.interval, interval)]
    if coin_ids is not None:
        where.append(p.c.id_coin.in_(list(coin_ids)))
    return where


def scoring_mark(conn: Connection, interval: str, market: str | None) -> ScoringMark | None:
    """The scope's stored mark (None: no pass has stored one; read every forecast)."""
    found = conn.execute(sa.select(scoring_marks.c.forecast_id).where(
        scoring_marks.c.interval == interval, scoring_marks.c.market == (market or ""))
                         ).scalar_one_or_none()
    if found is None:
        return None
    q = scoring_pending
    return ScoringMark(int(found), tuple(int(v) for (v,) in conn.execute(
        sa.select(q.c.id_prediction).where(q.c.interval == interval,
                                           q.c.market == (market or ""))
        .order_by(q.c.id_prediction))))


def next_scoring_mark(conn: Connection, interval: str, coin_ids: Sequence[int] | None,
                      mark: ScoringMark | None) -> ScoringMark:
    """The mark a pass from ``mark`` leaves: the newest forecast it reads, and those it
    reads whose candle is not in. Read before the pass's forecasts, with locking reads
    (MySQL): they wait for a transaction still writing forecasts in the range and keep
    others from writing there until the pass commits, so no forecast can appear below the
    mark after it (SQLite's one writer at a time does the same)."""
    p = historical_price_predictions
    candles = candles_table(interval)
    where = _scope(interval, coin_ids)
    newest = [row[0] for row in _read_in_parts(
        conn, sa.select(sa.func.max(p.c.id)).where(*where), mark) if row[0] is not None]
    waiting = _read_in_parts(conn, sa.select(p.c.id).outerjoin(
        candles, sa.and_(candles.c.idCoin == p.c.id_coin,
                         candles.c.openTime == p.c.openTime_next))
        .where(*where, p.c.openTime_next.is_not(None), candles.c.idCoin.is_(None)), mark)
    return ScoringMark(max([0 if mark is None else mark.forecast_id, *newest]),
                       tuple(sorted(int(row.id) for row in waiting)))


def set_scoring_mark(conn: Connection, interval: str, market: str | None,
                     mark: ScoringMark) -> None:
    """Store the scope's mark, replacing the stored one; in the caller's transaction."""
    key = {"interval": interval, "market": market or ""}
    for table in (scoring_marks, scoring_pending):
        conn.execute(table.delete().where(table.c.interval == interval,
                                          table.c.market == key["market"]))
    conn.execute(scoring_marks.insert().values(**key, forecast_id=mark.forecast_id))
    if mark.pending:
        conn.execute(scoring_pending.insert(),
                     [{**key, "id_prediction": forecast} for forecast in mark.pending])


def scorable_forecasts(conn: Connection, interval: str,
                       coin_ids: Sequence[int] | None = None,
                       mark: ScoringMark | None = None) -> list[sa.Row]:
    """Forecasts of ``interval`` whose candle is in and that no score covers yet.

    A forecast is scorable once the candle at its ``openTime_next`` is stored: the data
    decides, never the clock. It is left out when its series already has a score for that
    candle from the same or a newer forecast, so re-scoring reads nothing; a rerun's newer
    forecast for a scored candle comes back, with the id of the score it replaces
    (``replaces``; None for a candle not scored yet), and so does a live forecast for a
    candle whose score is a backfilled forecast's; a backfilled forecast never replaces a
    live one's score. So does a scored forecast with a band
    its score has no inside flag for (scored before bands were, on an older database):
    scored again once, with the band. From a ``mark`` (:func:`next_scoring_mark`), only
    the forecasts after it and its pending ones are read (a locking read on MySQL).
    """
    p, s = historical_price_predictions, forecast_scores
    candles = candles_table(interval)
    model = sa.func.coalesce(p.c.model, "")
    target = sa.func.coalesce(p.c.target, "")
    query = (
        sa.select(p.c.id, p.c.id_coin, model.label("model"), target.label("target"),
                  p.c.openTime_next, p.c.price_preidct_last, p.c.price_actual_last, p.c.source,
                  *_band_columns(p), sa.cast(candles.c.close, sa.Double).label("actual"),
                  s.c.id.label("replaces"))
        .join(candles, sa.and_(candles.c.idCoin == p.c.id_coin,
                               candles.c.openTime == p.c.openTime_next))
        .outerjoin(s, sa.and_(s.c.id_coin == p.c.id_coin, s.c.model == model,
                              s.c.target == target, s.c.interval == interval,
                              s.c.openTime_next == p.c.openTime_next))
        .where(*_scope(interval, coin_ids), p.c.openTime_next.is_not(None),
               sa.or_(s.c.id.is_(None),
                      sa.and_(s.c.id_prediction < p.c.id,
                              sa.or_(p.c.source == s.c.source, p.c.source == SOURCE_LIVE)),
                      sa.and_(p.c.source == SOURCE_LIVE, s.c.source == SOURCE_BACKFILL),
                      sa.and_(s.c.id_prediction == p.c.id, _score_lacks_band(p, s))))
        .order_by(p.c.id))
    return sorted(_read_in_parts(conn, query, mark), key=lambda row: row.id)


def unsettled_counts(conn: Connection, interval: str, coin_ids: Sequence[int] | None,
                     mark: ScoringMark | None) -> dict[int, int]:
    """Per pair (coin id), how many of its forecasts a pass from ``mark`` reads: an upper
    bound of what it scores, by which a pass cuts its pairs into parts. Locking reads on
    MySQL, as :func:`scorable_forecasts`' own, so both see the same forecasts."""
    p = historical_price_predictions
    counts: dict[int, int] = {}
    for coin, count in _read_in_parts(conn, sa.select(p.c.id_coin, sa.func.count())
                                      .where(*_scope(interval, coin_ids),
                                             p.c.openTime_next.is_not(None))
                                      .group_by(p.c.id_coin), mark):
        counts[int(coin)] = counts.get(int(coin), 0) + int(count)
    return counts


def replace_scores(conn: Connection, rows: Sequence[dict], replaced: Iterable[int] = ()
                   ) -> int:
    """Delete the scores ``replaced`` (ids: older forecasts' scores of candles a rerun
    forecast again) and store ``rows`` (dicts of forecast_scores columns); in the caller's
    transaction. Returns rows written."""
    s = forecast_scores
    replaced = sorted(set(replaced))
    for start in range(0, len(replaced), BATCH_ROWS):
        conn.execute(s.delete().where(s.c.id.in_(replaced[start:start + BATCH_ROWS])))
    rows = list(rows)
    insert_in_batches(conn, s, rows)
    return len(rows)


def insert_in_batches(conn: Connection, table: sa.Table, rows: Sequence[dict]) -> None:
    """``rows`` into ``table``, BATCH_ROWS a statement: one executemany of 290,000 rows is
    one multi-row INSERT on MySQL, beyond its max_allowed_packet (the server drops the
    connection)."""
    for start in range(0, len(rows), BATCH_ROWS):
        conn.execute(table.insert(), rows[start:start + BATCH_ROWS])


def delete_series(conn: Connection, table: sa.Table, keys: Sequence[SeriesKey]) -> None:
    """Delete the rows of the series ``keys`` from ``table`` (one with a series' four
    columns), BATCH_ROWS series a statement."""
    for start in range(0, len(keys), BATCH_ROWS):
        conn.execute(table.delete().where(*of_series(table, keys[start:start + BATCH_ROWS])))


def of_series(table: sa.Table, keys: Sequence[SeriesKey], interval: bool = True
              ) -> list[sa.ColumnElement[bool]]:
    """The conditions of the rows of the series ``keys`` in ``table`` (whose unique key
    starts with a series' columns): (coin, model, target[, interval]) IN the keys, and the
    pairs once more on their own, the key's first column. SQLite seeks a list of single
    values in an index, but checks a list of tuples against every row of the table: a walk
    through every pair's rows per statement, and a pass sends a statement per part."""
    names = ("id_coin", "model", "target", "interval")[:4 if interval else 3]
    return [sa.tuple_(*(table.c[name] for name in names)).in_(
                [tuple(getattr(key, name) for name in names) for key in keys]),
            table.c.id_coin.in_(sorted({key.id_coin for key in keys}))]


def _score_columns(s: sa.Table) -> list[sa.Column]:
    """What a track record and the costs read of a score."""
    return [s.c.openTime_next, s.c.forecast, s.c.naive, s.c.actual, s.c.error,
            s.c.naive_error, s.c.direction_hit, s.c.source, *_band_columns(s),
            *(s.c[inside_column(level)] for level in STORED_LEVELS)]


def series_scores(conn: Connection, key: SeriesKey, after: int | None = None
                  ) -> list[sa.Row]:
    """The series' scores (of candles opened after ``after`` when given), oldest first."""
    s = forecast_scores
    query = sa.select(*_score_columns(s)).where(key.where(s)).order_by(s.c.openTime_next)
    if after is not None:
        query = query.where(s.c.openTime_next > after)
    return list(conn.execute(query))


def series_rows(conn: Connection, keys: Sequence[SeriesKey], columns: Sequence,
                *where: sa.ColumnElement[bool], order_by: Sequence = ()) -> Tuples:
    """``columns`` of the scores of the series ``keys`` (of one interval) that meet
    ``where``, as the driver's tuples: a statement per BATCH_ROWS series, each naming its
    series whole. The scores' unique key starts with a series' four columns, so the server
    reads each series' range only, never its other scores (a year of them at a year's
    history; :func:`of_series`); on MySQL a prepared statement (fetch_tuples), whose IN list
    MariaDB does not turn into a join with a temporary table as it does a long list of
    literals."""
    names: tuple[str, ...] = ()
    rows: list[tuple] = []
    for statement in _series_statements(keys, columns, where, order_by):
        read = fetch_tuples(conn, statement)
        names = read.names
        rows.extend(read.rows)
    return Tuples(names, rows)


def series_rows_in_chunks(conn: Connection, keys: Sequence[SeriesKey], columns: Sequence,
                          *where: sa.ColumnElement[bool], order_by: Sequence = (),
                          rows: int) -> Iterator[Tuples]:
    """:func:`series_rows`' rows, ``rows`` at a time (:func:`fetch_in_chunks`)."""
    for statement in _series_statements(keys, columns, where, order_by):
        yield from fetch_in_chunks(conn, statement, rows)


def _series_statements(keys: Sequence[SeriesKey], columns: Sequence,
                       where: Sequence[sa.ColumnElement[bool]], order_by: Sequence
                       ) -> Iterator[sa.Select]:
    """The statements of :func:`series_rows`: one per BATCH_ROWS series."""
    s = forecast_scores
    ordered = sorted(set(keys), key=lambda k: (k.id_coin, k.model, k.target))
    for start in range(0, len(ordered), BATCH_ROWS):
        batch = ordered[start:start + BATCH_ROWS]
        yield (sa.select(*columns)
               .where(*of_series(s, batch, interval=False), s.c.interval == batch[0].interval,
                      *where)
               .order_by(*order_by).with_hint(s, SERIES_KEY_HINT, "mysql"))


def pairs_scores_after(conn: Connection, keys: Sequence[SeriesKey], after: int, rows: int
                       ) -> Iterator[Tuples]:
    """The scores of the series ``keys`` (of one interval) for candles opened after
    ``after``: (id_coin, model, target) and :func:`series_scores`' columns, ordered by
    series, oldest first within a series, ``rows`` at a time (a pass reads a month of
    every series; :func:`series_rows_in_chunks`)."""
    s = forecast_scores
    return series_rows_in_chunks(
        conn, keys, [s.c.id_coin, s.c.model, s.c.target, *_score_columns(s)],
        s.c.openTime_next > after,
        order_by=[s.c.id_coin, s.c.model, s.c.target, s.c.openTime_next], rows=rows)


def series_of_pairs(conn: Connection, interval: str, coin_ids: Sequence[int]
                    ) -> list[SeriesKey]:
    """The series of ``interval`` with scores among the pairs ``coin_ids``: on MySQL one
    step of the scores' unique key per series, not a walk through their scores."""
    s = forecast_scores
    if not coin_ids:
        return []
    return [SeriesKey(int(coin), model, target, interval) for coin, model, target in
            conn.execute(sa.select(s.c.id_coin, s.c.model, s.c.target)
                         .where(s.c.id_coin.in_(sorted(set(coin_ids))),
                                s.c.interval == interval)
                         .group_by(s.c.id_coin, s.c.model, s.c.target))]


def replace_track_records(conn: Connection,
                          records: dict[SeriesKey, tuple[int, Iterable[dict]]]) -> None:
    """Each series' track record (as_of, one row per window) replacing what was stored of
    it: one delete and one insert for all the series."""
    delete_series(conn, track_records, list(records))
    insert_in_batches(conn, track_records, [
        {"id_coin": key.id_coin, "model": key.model, "target": key.target,
         "interval": key.interval, "as_of": as_of, **window}
        for key, (as_of, windows) in records.items() for window in windows])


def stored_track_records(conn: Connection, interval: str,
                         coin_ids: Sequence[int] | None = None,
                         windows: Sequence[str] | None = None) -> list[sa.Row]:
    """Stored track-record rows of ``interval`` (only those coins and windows when given)."""
    t = track_records
    query = sa.select(t).where(t.c.interval == interval)
    if coin_ids is not None:
        query = query.where(t.c.id_coin.in_(list(coin_ids)))
    if windows is not None:
        query = query.where(t.c.window.in_(list(windows)))
    return list(conn.execute(query))


@dataclass(frozen=True)
class RecordFamily:
    """The series whose verdicts are tested together: one forecaster (model, target) of
    one interval over the pairs of one market (quote asset) on one exchange."""

    exchange: str
    market: str
    model: str
    target: str
    interval: str


def _exchange_of(table: sa.Table) -> sa.ColumnElement:
    # A pair stored before exchanges existed is Binance's (the column's default).
    return sa.func.coalesce(table.c.exchange, DEFAULT_EXCHANGE)


def record_families(conn: Connection, keys: Iterable[SeriesKey]) -> list[RecordFamily]:
    """The families of ``keys``' series (each once)."""
    keys = list(keys)
    if not keys:
        return []
    markets = {int(row.id): (row.exchange, row.quoteAsset) for row in conn.execute(
        sa.select(coin_info.c.id, _exchange_of(coin_info).label("exchange"),
                  coin_info.c.quoteAsset)
        .where(coin_info.c.id.in_(sorted({key.id_coin for key in keys}))))}
    return sorted({RecordFamily(*markets[key.id_coin], key.model, key.target, key.interval)
                   for key in keys if key.id_coin in markets},
                  key=lambda f: (f.exchange, f.market, f.model, f.target, f.interval))


#: What the family verdicts read and write of a stored track-record row.
FAMILY_COLUMNS: tuple[str, ...] = (
    "id_coin", "model", "target", "interval", "window", "scored", "skill", "dm_pvalue",
    "dm_pvalue_worse", "verdict", "dm_pvalue_adjusted", "dm_pvalue_worse_adjusted")


#: The columns that name a track-record row (a series' window).
RECORD_KEY = ("id_coin", "model", "target", "interval", "window")


def family_track_records(conn: Connection, family: RecordFamily) -> list[sa.Row]:
    """Every stored track-record row (all windows) of the family's series."""
    t = track_records
    return list(conn.execute(
        sa.select(*(t.c[name] for name in FAMILY_COLUMNS))
        .join(coin_info, coin_info.c.id == t.c.id_coin)
        .where(_exchange_of(coin_info) == family.exchange,
               coin_info.c.quoteAsset == family.market, t.c.model == family.model,
               t.c.target == family.target, t.c.interval == family.interval)
        .order_by(t.c.window, t.c.id_coin)))


def set_track_record_verdicts(conn: Connection, updates: Sequence[dict]) -> None:
    """Set ``verdict``, ``dm_pvalue_adjusted`` and ``dm_pvalue_worse_adjusted`` of stored
    track-record rows (dicts with the row's key: id_coin, model, target, interval, window);
    in the caller's transaction, one executemany."""
    if not updates:
        return
    t = track_records
    key = RECORD_KEY
    statement = (t.update()
                 .where(*(t.c[name] == sa.bindparam(f"key_{name}") for name in key))
                 .values(verdict=sa.bindparam("verdict"),
                         dm_pvalue_adjusted=sa.bindparam("dm_pvalue_adjusted"),
                         dm_pvalue_worse_adjusted=sa.bindparam("dm_pvalue_worse_adjusted")))
    conn.execute(statement, [{**{f"key_{name}": row[name] for name in key},
                              "verdict": row["verdict"],
                              "dm_pvalue_adjusted": row["dm_pvalue_adjusted"],
                              "dm_pvalue_worse_adjusted": row["dm_pvalue_worse_adjusted"]}
                             for row in updates])


def market_coin_ids(conn: Connection, market: str | None) -> list[int] | None:
    """The ids of a market's pairs (None: every pair)."""
    if market is None:
        return None
    return [int(v) for (v,) in conn.execute(
        sa.select(coin_info.c.id).where(coin_info.c.quoteAsset == market))]


def set_prediction_edges(conn: Connection, run_id: str, edges: dict[int, bool]) -> None:
    """Set the ``edge`` flag of one run's forecast rows (coin id -> flag): the verdict the
    dashboards read beside the forecast."""
    p = historical_price_predictions
    for coin_id, flag in edges.items():
        conn.execute(p.update().where(p.c.run_id == run_id, p.c.id_coin == coin_id)
                     .values(edge=flag))


__all__ = ["FAMILY_COLUMNS", "RECORD_KEY", "RecordFamily", "ScoringMark", "SeriesKey",
           "family_track_records", "interval_filter", "market_coin_ids", "next_scoring_mark",
           "pairs_scores_after", "record_families", "replace_scores", "series_of_pairs",
           "replace_track_records", "scorable_forecasts", "scoring_mark", "series_rows",
           "series_rows_in_chunks",
           "series_scores",
           "set_scoring_mark", "set_prediction_edges", "unsettled_counts",
           "set_track_record_verdicts", "stored_track_records"]
