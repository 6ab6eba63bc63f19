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
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
_ADJUSTED = ("dm_pvalue_adjusted", "dm_pvalue_worse_adjusted")


def _movers_hours() -> list:
    """The new tables' columns as this revision makes them (frozen: later revisions change
    coinlstm/db/schema.py, never this file)."""
    return [sa.Column("exchange", sa.String(16), nullable=False),
            sa.Column("market", sa.String(16), nullable=False),
            sa.Column("interval", sa.String(8), nullable=False),
            sa.Column("openTime", sa.BigInteger, nullable=False),
            sa.Column("pairs", sa.Integer, nullable=False),
            sa.Column("spearman", sa.Double, nullable=False),
            sa.Column("naive_spearman", sa.Double, nullable=False),
            sa.PrimaryKeyConstraint("exchange", "market", "interval", "openTime")]


def _pair_costs() -> list:
    return [sa.Column("id_coin", sa.SmallInteger, nullable=False),
            sa.Column("model", sa.String(32), nullable=False),
            sa.Column("target", sa.String(16), nullable=False),
            sa.Column("interval", sa.String(8), nullable=False),
            sa.Column("as_of", sa.BigInteger, nullable=False),
            sa.Column("spread", sa.Double, nullable=True),
            sa.Column("autocovariance", sa.Double, nullable=True),
            sa.Column("spread_returns", sa.Integer, nullable=False),
            sa.Column("trades", sa.Integer, nullable=False),
            sa.Column("value", sa.Double, nullable=True),
            sa.Column("value_pvalue", sa.Double, nullable=True),
            sa.Column("naive_size", sa.Double, nullable=True),
            sa.PrimaryKeyConstraint("id_coin", "model", "target", "interval")]


_TABLES = {"movers_hours": _movers_hours, "pair_costs": _pair_costs}


def upgrade() -> None:
    """Resumable: what a stopped run already added is left as it is."""
    offline = context.is_offline_mode()
    inspector = None if offline else sa.inspect(op.get_bind())
    columns = set() if offline else {
        column["name"] for column in inspector.get_columns("track_records")}
    for name in _ADJUSTED:
        if name not in columns:
            op.add_column("track_records", sa.Column(name, sa.Double, nullable=True))
    tables = set() if offline else set(inspector.get_table_names())
    for name, definition in _TABLES.items():
        if name not in tables:
            op.create_table(name, *definition(), **_ARGS)


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_table(name)
    for name in reversed(_ADJUSTED):
        op.drop_column("track_records", name)
