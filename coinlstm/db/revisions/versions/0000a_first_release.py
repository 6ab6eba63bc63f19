"""Baseline: the schema of coinlstm's first release.

Revision ID: 0000a
Revises:
Create Date: 2026-11-28

A new database gets these tables, and every later revision adds its change to them. A
database with no version row (made by a release before migrations, or the original system's
being adopted) gets here what it lacks of them: each missing table created, each missing
nullable column added, each missing index and unique key created. The later revisions up to
0001 each add only what is missing too, so whichever release made such a database, it goes
up the same chain and keeps every row.

The tables are written out here, frozen: later revisions change coinlstm/db/schema.py, never
this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from coinlstm.db.legacy import upgrade_in_place
from coinlstm.db.revision_steps import TABLE_ARGS, candle_table, create_tables

revision = "0000a"
down_revision = None
branch_labels = None
depends_on = None

_METRICS = ("MAE", "MAPE", "direction_accuracy", "naive_RMSE", "naive_max_error", "naive_MAE",
            "naive_MAPE", "naive_direction_accuracy", "skill")


def _double(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Double, nullable=nullable)


def _run_row(*texts: str) -> list[sa.Column]:
    """The columns both result tables begin with: id, coin, time, and two price lists."""
    return [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
            sa.Column("time_create", sa.Integer, nullable=False, index=True),
            *(sa.Column(name, sa.Text, nullable=False) for name in texts)]


def _results(metadata: sa.MetaData) -> None:
    sa.Table(
        "historical_train", metadata, *_run_row("price_test", "price_predict"),
        _double("RMSE", False), _double("max_error", False),
        sa.Column("openTime_last", sa.BigInteger, nullable=False),
        *(_double(name) for name in _METRICS),
        sa.Column("run_id", sa.String(64)), sa.Column("model", sa.String(32)),
        sa.Column("backend", sa.String(16)), sa.Column("settings", sa.Text),
        *(sa.Column(name, sa.Integer) for name in ("n_train", "n_val", "n_test", "epochs_run")),
        _double("train_seconds"),
        sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_train_run_coin"),
        **TABLE_ARGS)
    sa.Table(
        "historical_price_predictions", metadata, *_run_row("price_predict", "price_actual"),
        _double("price_preidct_last", False), _double("price_predict_previous"),
        _double("price_actual_last", False), _double("price_actual_previous"),
        sa.Column("run_id", sa.String(64)), sa.Column("openTime_next", sa.BigInteger),
        sa.Column("model", sa.String(32)), _double("skill"),
        sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_pred_run_coin"),
        **TABLE_ARGS)


def first_release_metadata() -> sa.MetaData:
    """The tables of this revision, frozen."""
    metadata = sa.MetaData()
    sa.Table(
        "coin_info", metadata,
        sa.Column("id", sa.SmallInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("symbol", sa.String(20), nullable=False, unique=True),
        sa.Column("baseAsset", sa.String(16), nullable=False),
        sa.Column("quoteAsset", sa.String(16), nullable=False, index=True),
        sa.Column("status", sa.String(20)),
        sa.Column("time_update", sa.Integer),
        sqlite_autoincrement=True, **TABLE_ARGS)
    candle_table(metadata, "candlestick_data")
    sa.Table(
        "job_runs", metadata,
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("market", sa.String(16), nullable=False),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("time_start", sa.Integer, nullable=False, index=True),
        sa.Column("time_end", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pairs_ok", sa.Integer), sa.Column("pairs_failed", sa.Integer),
        **TABLE_ARGS)
    _results(metadata)
    return metadata


def upgrade() -> None:
    metadata = first_release_metadata()
    if context.is_offline_mode():
        create_tables(*metadata.sorted_tables)
    else:
        upgrade_in_place(op.get_bind(), metadata)


def downgrade() -> None:
    """Refused: below the baseline is no schema, and dropping every table (an adopted
    database's rows included) is never what a downgrade should do."""
    raise RuntimeError("revision 0000a is the baseline: it cannot be downgraded")
