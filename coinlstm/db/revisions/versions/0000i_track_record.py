"""The forward track record: ``forecast_scores`` and ``track_records``, the index the scorer
reads forecasts by, and ``job_runs.failures``.

Revision ID: 0000i
Revises: 0000h
Create Date: 2026-12-01

``forecast_scores``: one row per series and forecast candle, the newest forecast against the
close that came. ``track_records``: one row per series and window. Both are written by the
scorer from the forecasts and candles. ``historical_price_predictions`` gains the index
``(id_coin, interval, openTime_next)``; ``job_runs.failures`` (nullable) the failed pairs of
a run and their reasons.

Downgrade drops them; the scorer rebuilds both tables from the forecasts on an upgraded
database's next pass, so only the failures of past runs are lost.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import (
    TABLE_ARGS,
    add_columns,
    create_index,
    create_tables,
    drop_columns,
    drop_index,
    drop_tables,
    series_columns,
)

revision = "0000i"
down_revision = "0000h"
branch_labels = None
depends_on = None

_INDEX = ("ix_historical_pred_coin_interval_next", "historical_price_predictions")


def _tables() -> list[sa.Table]:
    """Both tables as this revision makes them, frozen."""
    metadata = sa.MetaData()
    scores = sa.Table(
        "forecast_scores", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_prediction", sa.Integer, nullable=False, unique=True),
        *series_columns(),
        sa.Column("openTime_next", sa.BigInteger, nullable=False),
        sa.Column("openTime_last", sa.BigInteger, nullable=False),
        *(sa.Column(name, sa.Double, nullable=False)
          for name in ("forecast", "naive", "actual", "error", "naive_error")),
        sa.Column("direction_hit", sa.Boolean),
        sa.Column("time_scored", sa.Integer, nullable=False),
        sa.UniqueConstraint("id_coin", "model", "target", "interval", "openTime_next",
                            name="uq_forecast_scores_series_next"),
        **TABLE_ARGS)
    records = sa.Table(
        "track_records", metadata,
        *series_columns(),
        sa.Column("window", sa.String(8), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("scored", sa.Integer, nullable=False),
        *(sa.Column(name, sa.Double) for name in ("rmse", "naive_rmse", "skill", "mae",
                                                  "naive_mae", "direction")),
        sa.Column("moved", sa.Integer, nullable=False),
        *(sa.Column(name, sa.Double) for name in ("dm_stat", "dm_pvalue", "dm_pvalue_worse")),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id_coin", "model", "target", "interval", "window"),
        **TABLE_ARGS)
    return [scores, records]


def upgrade() -> None:
    create_tables(*_tables())
    create_index(*_INDEX, "id_coin", "interval", "openTime_next")
    add_columns("job_runs", sa.Column("failures", sa.Text))


def downgrade() -> None:
    drop_columns("job_runs", "failures")
    drop_index(*_INDEX)
    drop_tables("track_records", "forecast_scores")
