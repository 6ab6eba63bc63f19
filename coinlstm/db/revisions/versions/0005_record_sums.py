"""Running sums of each series' scores and the scorer's marks: a scoring pass without
reading the history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``track_record_sums`` (one row per series: counts, sums of squared and absolute errors,
direction hits, band counts and widths, and the loss differential's sum, square, lagged
products and first and last values) is new. The scorer adds each pass's new scores to it in
the transaction that writes them, and computes a series' all-time window from it instead of
reading every score (predict/running_record.py). Upgrade creates it and fills it from the
stored scores in one set-based statement (window functions over each series in candle
order; the scorer's own recomputation, coinlstm/db/record_sums.py).

``scoring_marks`` (per interval and market, the newest forecast the scorer has settled) and
``scoring_pending`` (the forecasts up to it still waiting for their candle) are new and
empty: a scope's first pass reads every forecast, as before, and stores its mark; later
passes read only the forecasts after it and the pending ones.

Upgrade is resumable: a table already there is kept, emptied (the sums filled again).
Downgrade drops the three tables; no other row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from coinlstm.db.record_sums import fill_statements
from coinlstm.db.revision_steps import LEVELS, TABLE_ARGS, create_tables, drop_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LAGS = 24


def _table() -> sa.Table:
    """The table as this revision makes it (frozen: later revisions change
    coinlstm/db/schema.py, never this file)."""
    lagged = [sa.Column(f"lag_{k}", sa.Double, nullable=False) for k in range(1, _LAGS + 1)]
    ends = [sa.Column(f"{kind}_{k}", sa.Double, nullable=True)
            for kind in ("head", "tail") for k in range(1, _LAGS + 1)]
    bands = [column for level in LEVELS for column in (
        sa.Column(f"banded_{level}", sa.Integer, nullable=False),
        sa.Column(f"inside_{level}", sa.Integer, nullable=False),
        sa.Column(f"widths_{level}", sa.Integer, nullable=False),
        sa.Column(f"width_sum_{level}", sa.Double, nullable=False))]
    return sa.Table(
        "track_record_sums", sa.MetaData(),
        sa.Column("id_coin", sa.SmallInteger, nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("newest", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in (
            "scored", "scored_live", "scored_backfill", "hits", "moved")),
        *(sa.Column(name, sa.Double, nullable=False) for name in (
            "sq_error", "sq_naive", "abs_error", "abs_naive", "d_sum", "d_sq")),
        *bands, *lagged, *ends,
        sa.PrimaryKeyConstraint("id_coin", "model", "target", "interval"),
        **TABLE_ARGS)


def _scope() -> list[sa.Column]:
    return [sa.Column("interval", sa.String(8), nullable=False),
            sa.Column("market", sa.String(16), nullable=False)]


def _marks(metadata: sa.MetaData) -> list[sa.Table]:
    return [sa.Table("scoring_marks", metadata, *_scope(),
                     sa.Column("forecast_id", sa.Integer, nullable=False),
                     sa.PrimaryKeyConstraint("interval", "market"), **TABLE_ARGS),
            sa.Table("scoring_pending", metadata, *_scope(),
                     sa.Column("id_prediction", sa.Integer, nullable=False),
                     sa.PrimaryKeyConstraint("interval", "market", "id_prediction"),
                     **TABLE_ARGS)]


def upgrade() -> None:
    sums = _table()
    marks = _marks(sums.metadata)
    create_tables(sums, *marks)
    for table in marks:  # a scope's next pass reads every forecast
        op.execute(table.delete())
    for statement in fill_statements():
        op.execute(statement)


def downgrade() -> None:
    drop_tables("scoring_pending", "scoring_marks", "track_record_sums")
