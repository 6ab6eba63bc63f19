"""Market-scale evidence: Benjamini-Hochberg adjusted p-values on the track records, the
movers ranking's hourly scores and each series' costs (spread, value after it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``track_records`` gains ``dm_pvalue_adjusted`` and ``dm_pvalue_worse_adjusted``: a window's
one-sided Diebold-Mariano p-values adjusted across the pairs of its market, which the
``edge`` and ``worse`` verdicts now compare with the false-discovery rate. They stay NULL on
an upgraded database until that market's next scoring pass fills them.

``movers_hours`` (one row per market and scored candle: the Spearman correlations of the
tool's and the naive ranking of the pairs' next move with the moves that came) and
``pair_costs`` (a series' effective spread and what its forecasts earned after it) are new;
the scorer fills them, and backfills 30 days of a market with none on its next pass.

Upgrade is resumable (MySQL commits each DDL statement at once): a column or table already
there is left as it is. Downgrade drops what upgrade added; no other row changes.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import (
    TABLE_ARGS,
    add_columns,
    create_tables,
    drop_columns,
    drop_tables,
    series_columns,
)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ADJUSTED = ("dm_pvalue_adjusted", "dm_pvalue_worse_adjusted")


def _doubles(*names: str, nullable: bool = True) -> list[sa.Column]:
    return [sa.Column(name, sa.Double, nullable=nullable) for name in names]


def _tables() -> list[sa.Table]:
    """The new tables as this revision makes them (frozen: later revisions change
    coinlstm/db/schema.py, never this file)."""
    metadata = sa.MetaData()
    movers_hours = sa.Table(
        "movers_hours", metadata,
        *(sa.Column(name, sa.String(16), nullable=False) for name in ("exchange", "market")),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("openTime", sa.BigInteger, nullable=False),
        sa.Column("pairs", sa.Integer, nullable=False),
        *_doubles("spearman", "naive_spearman", nullable=False),
        sa.PrimaryKeyConstraint("exchange", "market", "interval", "openTime"),
        **TABLE_ARGS)
    pair_costs = sa.Table(
        "pair_costs", metadata,
        *series_columns(),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        *_doubles("spread", "autocovariance"),
        *(sa.Column(name, sa.Integer, nullable=False) for name in ("spread_returns", "trades")),
        *_doubles("value", "value_pvalue", "naive_size"),
        sa.PrimaryKeyConstraint("id_coin", "model", "target", "interval"),
        **TABLE_ARGS)
    return [movers_hours, pair_costs]


def upgrade() -> None:
    """Resumable: what a stopped run already added is left as it is."""
    add_columns("track_records", *_doubles(*_ADJUSTED))
    create_tables(*_tables())


def downgrade() -> None:
    drop_tables(*(table.name for table in reversed(_tables())))
    drop_columns("track_records", *reversed(_ADJUSTED))
