"""The steps coinlstm's schema revisions are made of, each resumable: online it first looks
at what the database has and does only what is missing (MySQL commits every DDL statement at
once, so a revision stopped midway is run again whole, and a database made by a release
before migrations may already hold any of a revision's changes); offline (``--sql``) it
prints the whole change.

The frozen definitions shared by several revisions live here too (the candle tables and a
forecast series' key: every revision so far made them alike); a revision that changes them
defines its own.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable

from coinlstm.db.types import ExactDecimal

TABLE_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
#: The candle intervals other than 1h, each with its own table.
OTHER_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
                   "1w")
LEVELS = ("80", "95")


def _inspector():
    return None if context.is_offline_mode() else sa.inspect(op.get_bind())


def _quote(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote_identifier(name)


def add_columns(table: str, *columns: sa.Column) -> None:
    """Add those of ``columns`` the table lacks; on MySQL in one ALTER TABLE (one table copy
    at most, and a stopped run has added all of them or none)."""
    inspector = _inspector()
    if inspector is not None:
        present = {column["name"] for column in inspector.get_columns(table)}
        columns = tuple(column for column in columns if column.name not in present)
    if not columns:
        return
    dialect = op.get_context().dialect
    if dialect.name != "mysql":
        for column in columns:
            op.add_column(table, column)
        return
    # DDL takes no bound parameters; names and types are the revision's own, quoted by the
    # dialect.
    clauses = ", ".join(f"ADD COLUMN {CreateColumn(column).compile(dialect=dialect)}"
                        for column in columns)
    op.execute(f"ALTER TABLE {_quote(table)} {clauses}")


def adding_columns(columns: Callable[[], dict[str, list[sa.Column]]]
                   ) -> tuple[Callable[[], None], Callable[[], None]]:
    """The ``upgrade`` and ``downgrade`` of a revision that only adds columns: upgrade adds
    each table's missing ones (:func:`add_columns`), table by table in the order given;
    downgrade drops those there, tables and columns in the reverse order. ``columns`` makes
    the revision's columns anew on every call: a Column belongs to the one table it was
    added to, and a process may run a revision more than once."""

    def upgrade() -> None:
        for table, added in columns().items():
            add_columns(table, *added)

    def downgrade() -> None:
        for table, added in reversed(columns().items()):
            drop_columns(table, *reversed([column.name for column in added]))

    return upgrade, downgrade


def drop_columns(table: str, *names: str) -> None:
    """Drop those of ``names`` the table has (a downgrade stopped midway is run again)."""
    inspector = _inspector()
    if inspector is not None:
        present = {column["name"] for column in inspector.get_columns(table)}
        names = tuple(name for name in names if name in present)
    for name in names:
        op.drop_column(table, name)


def create_tables(*tables: sa.Table) -> None:
    """Create those of ``tables`` the database lacks, with their indexes."""
    inspector = _inspector()
    present = set() if inspector is None else set(inspector.get_table_names())
    for table in tables:
        if table.name in present:
            continue
        op.execute(CreateTable(table))
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            op.execute(CreateIndex(index))


def drop_tables(*names: str) -> None:
    inspector = _inspector()
    present = set(names) if inspector is None else set(inspector.get_table_names())
    for name in names:
        if name in present:
            op.drop_table(name)


def create_index(name: str, table: str, *columns: str) -> None:
    inspector = _inspector()
    if inspector is None or name not in {index["name"] for index in
                                         inspector.get_indexes(table)}:
        op.create_index(name, table, list(columns))


def drop_index(name: str, table: str) -> None:
    inspector = _inspector()
    if inspector is None or name in {index["name"] for index in inspector.get_indexes(table)}:
        op.drop_index(name, table_name=table)


def count_rows(conn, table: str, where: sa.ColumnElement | None = None) -> int:
    """Rows of ``table`` (matching ``where``), 0 when the table is missing: what a downgrade
    checks before it drops something that holds them."""
    if table not in set(sa.inspect(conn).get_table_names()):
        return 0
    query = sa.select(sa.func.count()).select_from(sa.table(table))
    return conn.execute(query if where is None else query.where(where)).scalar_one()


def series_columns() -> list[sa.Column]:
    """The key of a forecast series (coin, model, target, interval) as every revision so far
    has made it in the tables keyed by it."""
    return [sa.Column("id_coin", sa.SmallInteger, nullable=False),
            sa.Column("model", sa.String(32), nullable=False),
            sa.Column("target", sa.String(16), nullable=False),
            sa.Column("interval", sa.String(8), nullable=False)]


def candle_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """A candle table as every revision so far has made it (``coin_info`` must be in
    ``metadata`` for its foreign key)."""
    return sa.Table(
        name, metadata,
        sa.Column("idCoin", sa.SmallInteger, sa.ForeignKey("coin_info.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("openTime", sa.BigInteger, primary_key=True, autoincrement=False),
        *(sa.Column(c, ExactDecimal, nullable=False) for c in ("open", "high", "low", "close",
                                                                "volume")),
        sa.Column("closeTime", sa.BigInteger, nullable=False),
        sa.Column("quoteAssetVolume", ExactDecimal, nullable=False),
        sa.Column("numberOfTrader", sa.BigInteger, nullable=False),
        sa.Column("takerBuyBaseAssetVolume", ExactDecimal, nullable=False),
        sa.Column("takerBuyQuoteAssetVolume", ExactDecimal, nullable=False),
        sa.Column("ignore", sa.String(40), nullable=False),
        **TABLE_ARGS)
