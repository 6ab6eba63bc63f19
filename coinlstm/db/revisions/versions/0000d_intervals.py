"""Candle intervals other than 1h: one candle table per interval, and the interval of a run.

Revision ID: 0000d
Revises: 0000c
Create Date: 2026-11-29

``candlestick_data_1m`` ... ``candlestick_data_1w`` (``candlestick_data`` stays the hourly
table), and ``interval`` on both ``historical_*`` tables (NULL in older rows, which were 1h).

Downgrade drops them, but is refused (before anything changes) while any of those tables
holds a candle or a result row names another interval than 1h: the releases before had no
place for them, and dropping them would lose candles.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import (
    OTHER_INTERVALS,
    adding_columns,
    candle_table,
    count_rows,
    create_tables,
    drop_tables,
)

revision = "0000d"
down_revision = "0000c"
branch_labels = None
depends_on = None

_RESULTS = ("historical_train", "historical_price_predictions")
_add_intervals, _drop_intervals = adding_columns(lambda: {
    table: [sa.Column("interval", sa.String(8))] for table in _RESULTS})


def _candle_tables() -> list[sa.Table]:
    metadata = sa.MetaData()
    sa.Table("coin_info", metadata, sa.Column("id", sa.SmallInteger, primary_key=True))
    return [candle_table(metadata, f"candlestick_data_{interval}")
            for interval in OTHER_INTERVALS]


def upgrade() -> None:
    _add_intervals()
    create_tables(*_candle_tables())


def refuse_downgrade(conn) -> str | None:
    """Why this downgrade would lose rows, or None."""
    for table in _candle_tables():
        if count := count_rows(conn, table.name):
            return f"{table.name} holds {count} candles"
    other = sa.column("interval").is_not(None) & (sa.column("interval") != "1h")
    for table in _RESULTS:
        if "interval" in {c["name"] for c in sa.inspect(conn).get_columns(table)} and (
                count := count_rows(conn, table, other)):
            return f"{table} holds {count} rows of intervals other than 1h"
    return None


def downgrade() -> None:
    drop_tables(*(table.name for table in reversed(_candle_tables())))
    _drop_intervals()
