"""The original system's MySQL database, and making it coinlstm's (``coinlstm db adopt``).

Its tables have coinlstm's names with narrower types, an ``id`` on every candle and no
unique key on (idCoin, openTime), so restarts of its crawler left duplicate candles. Each
step here checks first whether it is still needed, so an adoption stopped anywhere (MySQL
DDL is not transactional) is resumed by running it again: deletions are one transaction,
each table's changes one ALTER (InnoDB applies an ALTER whole or not at all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.core.errors import BadInput

#: The original system's columns per table (its schema file).
TUTORIAL_COLUMNS: dict[str, set[str]] = {
    "coin_info": {"id", "symbol", "minQty", "tickSize", "status", "baseAsset", "quoteAsset",
                  "openTime_last", "max_error", "RMSE"},
    "candlestick_data": {"id", "idCoin", "openTime", "open", "high", "low", "close", "volume",
                         "closeTime", "quoteAssetVolume", "numberOfTrader",
                         "takerBuyBaseAssetVolume", "takerBuyQuoteAssetVolume", "ignore"},
    "historical_train": {"id", "id_coin", "time_create", "price_test", "price_predict", "RMSE",
                         "max_error", "openTime_last"},
    "historical_price_predictions": {"id", "id_coin", "time_create", "price_predict",
                                     "price_actual", "price_preidct_last",
                                     "price_predict_previous", "price_actual_last",
                                     "price_actual_previous"},
}
#: The candle columns whose values a duplicate is compared on, and the exchange repairs.
VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "closeTime", "quoteAssetVolume",
                 "numberOfTrader", "takerBuyBaseAssetVolume", "takerBuyQuoteAssetVolume",
                 "ignore")
DECIMAL_COLUMNS = ("open", "high", "low", "close", "volume", "quoteAssetVolume",
                   "takerBuyBaseAssetVolume", "takerBuyQuoteAssetVolume")
UNIQUE_CANDLE_KEY = "uq_candlestick_data_coin_open"
#: What coinlstm stores: DECIMAL(38, 8), i.e. 30 integer digits and 8 decimals.
_INTEGER_DIGITS, _SCALE = 30, 8
_FLOATS = {"historical_train": ("RMSE", "max_error"),
           "historical_price_predictions": ("price_preidct_last", "price_predict_previous",
                                            "price_actual_last", "price_actual_previous")}
_candles = sa.table("candlestick_data", sa.column("id"), sa.column("idCoin"),
                    sa.column("openTime"), *(sa.column(name) for name in VALUE_COLUMNS))


def is_unadopted_tutorial(inspector, present: set[str]) -> bool:
    """The original system's candle table (an ``id`` column), not yet under migrations."""
    return "candlestick_data" in present and "id" in {
        column["name"] for column in inspector.get_columns("candlestick_data")}


@dataclass
class Adoption:
    """What an adoption did (or, dry, would do): the steps in order, the identical duplicates
    removed, the differing ones (each group's rows as dicts)."""

    steps: list[str] = field(default_factory=list)
    identical_removed: int = 0
    differing: list[list[dict]] = field(default_factory=list)
    #: Wall seconds per part (duplicates, alter, revisions): what bench/adopt.py prints.
    seconds: dict[str, float] = field(default_factory=dict)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def remove_identical_duplicates(conn: Connection, keys: list[tuple[int, int]],
                                dry_run: bool) -> int:
    """Delete every candle equal in all values to one of the same (idCoin, openTime) with a
    lower id, among the ``keys`` of :func:`duplicate_keys`; how many (would be) deleted."""
    if not keys:
        return 0
    doomed = []
    for rows in _group_rows(conn, keys):
        kept: list[tuple] = []
        for row in rows:
            values = tuple(row[name] for name in VALUE_COLUMNS)
            if values in kept:
                doomed.append(row["id"])
            else:
                kept.append(values)
    if doomed and not dry_run:
        for start in range(0, len(doomed), 1000):
            conn.execute(_candles.delete().where(_candles.c.id.in_(doomed[start:start + 1000])))
    return len(doomed)


def differing_duplicates(conn: Connection, keys: list[tuple[int, int]]) -> list[list[dict]]:
    """The groups of candles with one of ``keys`` and different values: the lowest id of
    each distinct set of values, lowest first."""
    groups = []
    for rows in _group_rows(conn, keys):
        distinct: dict[tuple, dict] = {}
        for row in rows:
            distinct.setdefault(tuple(row[name] for name in VALUE_COLUMNS), row)
        if len(distinct) > 1:
            groups.append(list(distinct.values()))
    return groups


def keep_lowest_ids(conn: Connection, keys: list[tuple[int, int]]) -> int:
    """``--resolve lowest``: of every candle of ``keys`` still stored more than once keep the
    lowest id, delete the others (the repair from the exchange then gives the kept one the
    final values)."""
    doomed = [row["id"] for rows in _group_rows(conn, keys) for row in rows[1:]]
    for start in range(0, len(doomed), 1000):
        conn.execute(_candles.delete().where(_candles.c.id.in_(doomed[start:start + 1000])))
    return len(doomed)


def duplicate_keys(conn: Connection) -> list[tuple[int, int]]:
    """(idCoin, openTime) of every candle stored more than once. Coin by coin, on the
    ``idCoin`` key: each grouping fits in memory, where one over millions of candles would
    sort them in a temporary table on disk."""
    coins = conn.execute(sa.select(_candles.c.idCoin).distinct()
                         .where(_candles.c.idCoin.is_not(None))).scalars().all()
    keys = []
    for coin in coins:
        query = (sa.select(_candles.c.openTime).where(_candles.c.idCoin == coin)
                 .group_by(_candles.c.openTime).having(sa.func.count() > 1))
        keys += [(int(coin), int(open_time)) for open_time in conn.execute(query).scalars()]
    return keys


def _group_rows(conn: Connection, keys: list[tuple[int, int]]) -> list[list[dict]]:
    groups: dict[tuple[int, int], list[dict]] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        query = (sa.select(_candles).where(sa.tuple_(_candles.c.idCoin, _candles.c.openTime)
                                           .in_(chunk))
                 .order_by(_candles.c.idCoin, _candles.c.openTime, _candles.c.id))
        for row in conn.execute(query).mappings():
            groups.setdefault((int(row["idCoin"]), int(row["openTime"])), []).append(dict(row))
    return [rows for rows in groups.values() if len(rows) > 1]


def widening_changes(conn: Connection) -> dict[str, list[str]]:
    """Per table, the ALTER clauses still needed: decimals wide enough for every value
    coinlstm stores without dropping a digit of the old ones, BIGINT trades, DOUBLE results,
    the unique candle key; empty when adopted already."""
    inspector = sa.inspect(conn)
    changes: dict[str, list[str]] = {}
    candle_columns = {c["name"]: c for c in inspector.get_columns("candlestick_data")}
    clauses = []
    for name in DECIMAL_COLUMNS:
        column = candle_columns[name]
        precision = getattr(column["type"], "precision", None) or 0
        scale = getattr(column["type"], "scale", None) or 0
        wanted_scale = max(scale, _SCALE)
        if precision - scale < _INTEGER_DIGITS or scale < _SCALE:
            clauses.append(_modify(conn, column, f"DECIMAL({_INTEGER_DIGITS + wanted_scale}, "
                                                 f"{wanted_scale})"))
    if not isinstance(candle_columns["numberOfTrader"]["type"], sa.BigInteger):
        clauses.append(_modify(conn, candle_columns["numberOfTrader"], "BIGINT"))
    uniques = {tuple(i["column_names"]) for i in inspector.get_indexes("candlestick_data")
               if i.get("unique")}
    if ("idCoin", "openTime") not in uniques:
        clauses.append(f"ADD UNIQUE KEY {_quote(conn, UNIQUE_CANDLE_KEY)} "
                       f"({_quote(conn, 'idCoin')}, {_quote(conn, 'openTime')})")
    if clauses:
        changes["candlestick_data"] = clauses
    for table, names in _FLOATS.items():
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        table_clauses = [_modify(conn, columns[name], "DOUBLE") for name in names
                         if name in columns and not isinstance(columns[name]["type"], sa.Double)]
        if table_clauses:
            changes[table] = table_clauses
    coins = {c["name"]: c for c in inspector.get_columns("coin_info")}
    coin_clauses = [_modify(conn, coins[name], "VARCHAR(16)") for name in ("baseAsset",
                                                                           "quoteAsset")
                    if (getattr(coins[name]["type"], "length", None) or 0) < 16]
    if coin_clauses:
        changes["coin_info"] = coin_clauses
    return changes


def _modify(conn: Connection, column: dict, type_sql: str) -> str:
    """One MODIFY clause, the column's nullability kept. Only this module's type names and
    the reflected column names go into the text."""
    null = "NULL" if column["nullable"] else "NOT NULL"
    return f"MODIFY {_quote(conn, column['name'])} {type_sql} {null}"


def apply_widening(conn: Connection, changes: dict[str, list[str]]) -> None:
    """One ALTER per table: InnoDB applies it whole or not at all, and rewrites the candles
    once for all their columns and the key."""
    for table, clauses in changes.items():
        conn.execute(sa.text(f"ALTER TABLE {_quote(conn, table)} {', '.join(clauses)}"))


def check_adoptable(conn: Connection) -> None:
    """BadInput unless this is a MySQL/MariaDB database with the original system's tables."""
    if conn.dialect.name != "mysql":
        raise BadInput("coinlstm db adopt adopts the original system's MySQL/MariaDB database; "
                       f"this is {conn.dialect.name}")
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    missing = sorted(set(TUTORIAL_COLUMNS) - present)
    if missing:
        raise BadInput(f"not the original system's database: no table {', '.join(missing)}")
    if not is_unadopted_tutorial(inspector, present):
        raise BadInput("this database is coinlstm's own (candles without an id): nothing to "
                       "adopt")
