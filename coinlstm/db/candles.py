"""Candle queries: inserts (row by row and the bulk JSON_TABLE path), counts, resume
points, the exact text a test compares, and the feature rows training reads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Connection

from coinlstm.core.columns import CANDLE_COLUMNS, FEATURE_COLUMNS
from coinlstm.core.decimals import to_exact_decimal
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import DEFAULT_INTERVAL
from coinlstm.db.schema import CANDLE_TABLES, candles_table, coin_info


def insert_candles(conn: Connection, rows: Sequence[dict], *,
                   interval: str = DEFAULT_INTERVAL) -> int:
    """Insert candle rows (dicts keyed by CANDLE_COLUMNS) into ``interval``'s table, skipping
    ones already stored.

    Returns how many rows were new. Batched (one multi-row statement per batch), so a page of
    1000 klines or a month of a dump is a handful of round trips. Idempotent: a candle that
    exists already is left exactly as it is.
    """
    table = candles_table(interval)
    if not rows:
        return 0
    coin_ids = {row["idCoin"] for row in rows}
    times = [int(row["openTime"]) for row in rows]
    span = (min(times), max(times))
    before = _count_candles(conn, coin_ids, table, span)
    if conn.dialect.name == "mysql":
        statement = mysql.insert(table)
        statement = statement.on_duplicate_key_update(idCoin=statement.inserted.idCoin)
    elif conn.dialect.name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - other dialects are not supported
        raise BadInput(f"unsupported database dialect {conn.dialect.name}")
    conn.execute(statement, list(rows))
    return _count_candles(conn, coin_ids, table, span) - before


def _count_candles(conn: Connection, coin_ids: Iterable[int], table: sa.Table,
                   span: tuple[int, int] | None = None) -> int:
    """Candles of the coins in ``table``; with ``span`` (first, last open time, ms), only
    those opening within it: what an insert of that span can change, counted from the
    index's few entries instead of the coin's whole history (a count a page, twice)."""
    ids = sorted(coin_ids)
    query = sa.select(sa.func.count()).select_from(table).where(
        table.c.idCoin == ids[0] if len(ids) == 1 else table.c.idCoin.in_(ids))
    if span is not None:
        query = query.where(table.c.openTime.between(*span))
    return int(conn.execute(query).scalar_one())


def count_candles(conn: Connection, coin_id: int, *, interval: str = DEFAULT_INTERVAL) -> int:
    return _count_candles(conn, [coin_id], candles_table(interval))


def newest_open_time(conn: Connection, coin_id: int, *, interval: str = DEFAULT_INTERVAL,
                     until: int | None = None) -> int | None:
    """Open time of the coin's newest stored candle of ``interval`` (None: it has none):
    where the crawl of that series resumes. ``until``: the newest opened at or before it
    (a replayed hour sees the database as it was then)."""
    table = candles_table(interval)
    query = sa.select(sa.func.max(table.c.openTime)).where(table.c.idCoin == coin_id)
    if until is not None:
        query = query.where(table.c.openTime <= until)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def candle_counts_by_coin(conn: Connection, *, interval: str = DEFAULT_INTERVAL
                          ) -> dict[int, int]:
    """Candles of ``interval`` stored per coin id (coins without any are absent)."""
    table = candles_table(interval)
    query = sa.select(table.c.idCoin, sa.func.count()).group_by(table.c.idCoin)
    return {int(coin): int(n) for coin, n in conn.execute(query)}


def candle_text_rows(conn: Connection, coin_id: int, *,
                     interval: str = DEFAULT_INTERVAL) -> list[tuple]:
    """All of a coin's candles of ``interval`` as the 12 Binance fields, text exactly as
    Binance sent it."""
    table = candles_table(interval)
    columns = [table.c[name] for name in CANDLE_COLUMNS[1:]]
    query = sa.select(*columns).where(table.c.idCoin == coin_id).order_by(table.c.openTime)
    return [tuple(_as_text(value) for value in row) for row in conn.execute(query)]


def _as_text(value: object) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def load_training_rows(conn: Connection, coin_id: int, newest: int | None = None,
                       since: int | None = None, *, interval: str = DEFAULT_INTERVAL,
                       until: int | None = None
                       ) -> tuple[list[int], list[tuple[float, ...]]]:
    """Open times and the 10 feature values of a coin's candles of ``interval``, oldest first.

    Only the feature columns are read, and with ``newest`` only that many of the most recent
    candles, with ``since`` only candles opened at or after it (ms): the per-pair process
    reads no more than it trains on (``since``: a --with pair's candles from the pair's first).
    With ``until`` only candles opened at or before it: a replayed hour (backfill) reads
    what the hourly job read then.

    ``ignore`` is stored as the text Binance sent; a database CAST turns any non-number in it
    ("NaN", "abc") silently into 0.0 on both MySQL and SQLite. Here such a value becomes NaN,
    so the training data check refuses it instead of training on an invented zero.
    """
    table = candles_table(interval)
    text_columns = {name for name in FEATURE_COLUMNS if isinstance(table.c[name].type, sa.String)}
    selected = [table.c[name] if name in text_columns
                else sa.cast(table.c[name], sa.Double).label(name)
                for name in FEATURE_COLUMNS]
    query = sa.select(table.c.openTime, *selected).where(table.c.idCoin == coin_id)
    if since is not None:
        query = query.where(table.c.openTime >= since)
    if until is not None:
        query = query.where(table.c.openTime <= until)
    if newest is not None:
        query = query.order_by(table.c.openTime.desc()).limit(newest)
    else:
        query = query.order_by(table.c.openTime)
    rows = conn.execute(query).all()
    if newest is not None:
        rows.reverse()
    open_times = [int(row[0]) for row in rows]
    values = [tuple(_float_or_nan(v) for v in row[1:]) for row in rows]
    return open_times, values


def _float_or_nan(value: object) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


#: One batch of klines in, as ONE bound JSON parameter that MySQL/MariaDB unpacks server-side.
#: The pure-Python mysql-connector spends ~7 µs escaping each bound value (its C extension
#: is not always loadable), so a 13-column executemany costs ~100 µs a candle; this is ~3.5x
#: faster. Strings go to DECIMAL exactly (no float on the way); ERROR ON ERROR refuses any
#: value the column cannot hold instead of storing a NULL or a zero.
_KLINES_TABLE = """JSON_TABLE(:klines, '$[*]' COLUMNS (
    `openTime` BIGINT PATH '$[0]' ERROR ON ERROR,
    `open` DECIMAL(38, 8) PATH '$[1]' ERROR ON ERROR,
    `high` DECIMAL(38, 8) PATH '$[2]' ERROR ON ERROR,
    `low` DECIMAL(38, 8) PATH '$[3]' ERROR ON ERROR,
    `close` DECIMAL(38, 8) PATH '$[4]' ERROR ON ERROR,
    `volume` DECIMAL(38, 8) PATH '$[5]' ERROR ON ERROR,
    `closeTime` BIGINT PATH '$[6]' ERROR ON ERROR,
    `quoteAssetVolume` DECIMAL(38, 8) PATH '$[7]' ERROR ON ERROR,
    `numberOfTrader` BIGINT PATH '$[8]' ERROR ON ERROR,
    `takerBuyBaseAssetVolume` DECIMAL(38, 8) PATH '$[9]' ERROR ON ERROR,
    `takerBuyQuoteAssetVolume` DECIMAL(38, 8) PATH '$[10]' ERROR ON ERROR,
    `ignore` VARCHAR(40) PATH '$[11]' ERROR ON ERROR
)) AS k"""
_JSON_TABLE_INSERT = """
INSERT INTO {table} (`idCoin`, `openTime`, `open`, `high`, `low`, `close`, `volume`,
    `closeTime`, `quoteAssetVolume`, `numberOfTrader`, `takerBuyBaseAssetVolume`,
    `takerBuyQuoteAssetVolume`, `ignore`)
SELECT :coin_id, k.* FROM """ + _KLINES_TABLE + """
ON DUPLICATE KEY UPDATE `idCoin` = {table}.`idCoin`
"""
#: A page of repairs in one statement, the same way: the stored candles of those open times
#: get the klines' values (``ignore`` stays: see REPAIRED_COLUMNS).
_JSON_TABLE_REPAIR = """
UPDATE {table} AS d JOIN """ + _KLINES_TABLE + """
ON d.`idCoin` = :coin_id AND d.`openTime` = k.`openTime`
SET d.`open` = k.`open`, d.`high` = k.`high`, d.`low` = k.`low`, d.`close` = k.`close`,
    d.`volume` = k.`volume`, d.`closeTime` = k.`closeTime`,
    d.`quoteAssetVolume` = k.`quoteAssetVolume`, d.`numberOfTrader` = k.`numberOfTrader`,
    d.`takerBuyBaseAssetVolume` = k.`takerBuyBaseAssetVolume`,
    d.`takerBuyQuoteAssetVolume` = k.`takerBuyQuoteAssetVolume`
"""
#: The statements per candle table. Only the table name is put into the text, and only names
#: of this module's own tables (CANDLE_TABLES), quoted for MySQL; every value stays bound.
_JSON_TABLE_INSERTS: dict[str, sa.TextClause] = {
    interval: sa.text(_JSON_TABLE_INSERT.format(table=f"`{table.name}`"))
    for interval, table in CANDLE_TABLES.items()}
_JSON_TABLE_REPAIRS: dict[str, sa.TextClause] = {
    interval: sa.text(_JSON_TABLE_REPAIR.format(table=f"`{table.name}`"))
    for interval, table in CANDLE_TABLES.items()}


def supports_json_table(conn: Connection) -> bool:
    """MariaDB 10.6+ and MySQL 8.0.4+ have JSON_TABLE; SQLite and older servers do not."""
    if conn.dialect.name != "mysql":
        return False
    version = tuple(conn.dialect.server_version_info or ())
    return version >= ((10, 6) if getattr(conn.dialect, "is_mariadb", False) else (8, 0, 4))


def insert_klines(conn: Connection, coin_id: int, klines: Sequence[Sequence], *,
                  interval: str = DEFAULT_INTERVAL) -> int:
    """Insert one coin's validated klines into ``interval``'s table, skipping candles already
    stored; rows added.

    A kline is the 12 Binance fields with the times and the trade count as int (ms) and the
    decimals as their exact text, as :mod:`crawl.vision` prepares them. Same result as
    :func:`insert_candles` (which SQLite and servers without JSON_TABLE use), only faster.
    """
    table = candles_table(interval)
    if not klines:
        return 0
    if not supports_json_table(conn):
        rows = [{"idCoin": coin_id, **dict(zip(CANDLE_COLUMNS[1:], kline, strict=True))}
                for kline in klines]
        return insert_candles(conn, rows, interval=interval)
    span = (min(int(kline[0]) for kline in klines), max(int(kline[0]) for kline in klines))
    before = _count_candles(conn, [coin_id], table, span)
    conn.execute(_JSON_TABLE_INSERTS[interval],
                 {"coin_id": coin_id, "klines": json.dumps(list(klines))})
    return _count_candles(conn, [coin_id], table, span) - before


def stored_open_times(conn: Connection, coin_id: int, first: int, last: int, *,
                      interval: str = DEFAULT_INTERVAL) -> set[int]:
    """Open times of the coin's candles of ``interval`` stored between first and last (ms,
    inclusive).

    Lets a re-import skip what is there instead of sending it to be ignored row by row.
    """
    table = candles_table(interval)
    query = sa.select(table.c.openTime).where(
        table.c.idCoin == coin_id, table.c.openTime.between(first, last))
    return {int(value) for (value,) in conn.execute(query)}


#: The candle values a repair compares with the exchange's final ones (``ignore`` is not a
#: value: the original system stores it as a decimal, coinlstm as text).
REPAIRED_COLUMNS = ("open", "high", "low", "close", "volume", "closeTime", "quoteAssetVolume",
                    "numberOfTrader", "takerBuyBaseAssetVolume", "takerBuyQuoteAssetVolume")


def repair_candles(conn: Connection, coin_id: int, klines: Sequence[Sequence], *,
                   interval: str = DEFAULT_INTERVAL) -> int:
    """Give the coin's stored candles the values of ``klines`` (closed klines of the
    exchange, as the crawl checks them) where any differs; how many candles changed.

    Candles not stored are left to the crawl; the stored ones keep their row (and id).
    """
    if not klines:
        return 0
    table = candles_table(interval)
    fields = dict(zip(CANDLE_COLUMNS[1:], range(12), strict=True))
    times = [int(kline[0]) for kline in klines]
    stored = {int(row.openTime): row for row in conn.execute(
        sa.select(table.c.openTime, *(table.c[name] for name in REPAIRED_COLUMNS))
        .where(table.c.idCoin == coin_id, table.c.openTime.between(min(times), max(times))))}
    changed = []
    for kline in klines:
        row = stored.get(int(kline[0]))
        if row is None:
            continue
        final = {name: _exact(name, kline[fields[name]]) for name in REPAIRED_COLUMNS}
        if any(_exact(name, getattr(row, name)) != value for name, value in final.items()):
            changed.append((kline, final))
    if changed and supports_json_table(conn):
        # One statement a page: a candle a statement cost a round trip each (measured in
        # docs/benchmarks.md).
        conn.execute(_JSON_TABLE_REPAIRS[interval],
                     {"coin_id": coin_id, "klines": json.dumps([list(k) for k, _ in changed])})
    elif changed:
        conn.execute(table.update().where(table.c.idCoin == coin_id,
                                          table.c.openTime == sa.bindparam("open_time")),
                     [{"open_time": int(kline[0]), **final} for kline, final in changed])
    return len(changed)


def _exact(name: str, value: object) -> object:
    if name in ("closeTime", "numberOfTrader"):
        return int(value)
    return to_exact_decimal(value)


def stored_time_range(conn: Connection, coin_id: int, since: int | None = None, *,
                      interval: str = DEFAULT_INTERVAL) -> tuple[int, int] | None:
    """The open times of the coin's oldest (at or after ``since``) and newest stored candles
    of ``interval``; None when it has none."""
    table = candles_table(interval)
    query = sa.select(sa.func.min(table.c.openTime), sa.func.max(table.c.openTime)).where(
        table.c.idCoin == coin_id)
    if since is not None:
        query = query.where(table.c.openTime >= since)
    first, last = conn.execute(query).one()
    return None if first is None else (int(first), int(last))


def pairs_with_candle_spans(conn: Connection, *, interval: str = DEFAULT_INTERVAL,
                            market: str | None = None, exchange: str | None = None
                            ) -> list[sa.Row]:
    """coin_info's pairs (of ``market`` / ``exchange`` when named), id order, each with its
    candles of ``interval``: ``candles`` (0 for none), ``first_open`` and ``last_open`` (ms,
    None for none); one statement."""
    table = candles_table(interval)
    spans = (sa.select(table.c.idCoin, sa.func.count().label("candles"),
                       sa.func.min(table.c.openTime).label("first_open"),
                       sa.func.max(table.c.openTime).label("last_open"))
             .group_by(table.c.idCoin).subquery())
    query = (sa.select(coin_info.c.id, coin_info.c.exchange, coin_info.c.symbol,
                       coin_info.c.quoteAsset, coin_info.c.status,
                       sa.func.coalesce(spans.c.candles, 0).label("candles"),
                       spans.c.first_open, spans.c.last_open)
             .outerjoin(spans, spans.c.idCoin == coin_info.c.id).order_by(coin_info.c.id))
    if market is not None:
        query = query.where(coin_info.c.quoteAsset == market)
    if exchange is not None:
        query = query.where(coin_info.c.exchange == exchange)
    return list(conn.execute(query))
