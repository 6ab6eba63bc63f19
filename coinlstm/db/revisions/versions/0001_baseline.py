"""Baseline: the schema of the last release before migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-06

A new database gets every table here. A database made by an older coinlstm (tables, no
version row) is brought to this revision by the in-place upgrade those releases ran on every
open, kept here as this revision's path for them: each missing table created, each missing
nullable column added, each missing index and unique key created. Every release before
migrations only ever added tables, nullable columns and indexes, so whatever release made the
database, this ends at the same schema and keeps every row.

The tables are written out here, frozen: later revisions change coinlstm/db/schema.py, never
this file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.schema import CreateIndex, CreateTable

from coinlstm.db.types import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ARGS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
              "1w")
_LEVELS = ("80", "95")
_METRICS = ("MAE", "MAPE", "direction_accuracy", "naive_RMSE", "naive_max_error", "naive_MAE",
            "naive_MAPE", "naive_direction_accuracy", "skill")


def _double(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Double, nullable=nullable)


def _candles(metadata: sa.MetaData, interval: str) -> None:
    name = "candlestick_data" if interval == "1h" else f"candlestick_data_{interval}"
    sa.Table(
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
        **_ARGS)


def _series() -> list[sa.Column]:
    return [sa.Column("id_coin", sa.SmallInteger, nullable=False),
            sa.Column("model", sa.String(32), nullable=False),
            sa.Column("target", sa.String(16), nullable=False),
            sa.Column("interval", sa.String(8), nullable=False)]


def _results(metadata: sa.MetaData) -> None:
    sa.Table(
        "historical_train", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
        sa.Column("time_create", sa.Integer, nullable=False, index=True),
        sa.Column("price_test", sa.Text, nullable=False),
        sa.Column("price_predict", sa.Text, nullable=False),
        _double("RMSE", False), _double("max_error", False),
        sa.Column("openTime_last", sa.BigInteger, nullable=False),
        *(_double(name) for name in _METRICS),
        sa.Column("run_id", sa.String(64)), sa.Column("model", sa.String(32)),
        sa.Column("backend", sa.String(16)), sa.Column("settings", sa.Text),
        *(sa.Column(name, sa.Integer) for name in ("n_train", "n_val", "n_test", "epochs_run")),
        _double("train_seconds"), sa.Column("target", sa.String(16)), _double("shrinkage"),
        _double("shrinkage_t"), sa.Column("edge", sa.Boolean), sa.Column("horizon", sa.Integer),
        sa.Column("interval", sa.String(8)), sa.Column("n_cal", sa.Integer),
        *(_double(f"{kind}_{level}") for level in _LEVELS
          for kind in ("coverage", "width", "winkler")),
        sa.Column("price_bands", sa.Text),
        sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_train_run_coin"),
        **_ARGS)
    sa.Table(
        "historical_price_predictions", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_coin", sa.SmallInteger, nullable=False, index=True),
        sa.Column("time_create", sa.Integer, nullable=False, index=True),
        sa.Column("price_predict", sa.Text, nullable=False),
        sa.Column("price_actual", sa.Text, nullable=False),
        _double("price_preidct_last", False), _double("price_predict_previous"),
        _double("price_actual_last", False), _double("price_actual_previous"),
        sa.Column("run_id", sa.String(64)), sa.Column("openTime_next", sa.BigInteger),
        sa.Column("model", sa.String(32)), _double("skill"), sa.Column("target", sa.String(16)),
        sa.Column("edge", sa.Boolean), sa.Column("horizon", sa.Integer),
        sa.Column("price_predict_horizon", sa.Text), sa.Column("interval", sa.String(8)),
        *(_double(f"{side}_{level}") for level in _LEVELS for side in ("lower", "upper")),
        sa.Column("price_bands", sa.Text),
        sa.UniqueConstraint("run_id", "id_coin", name="uq_historical_pred_run_coin"),
        sa.Index("ix_historical_pred_coin_interval_next", "id_coin", "interval", "openTime_next"),
        **_ARGS)


def _scores(metadata: sa.MetaData) -> None:
    sa.Table(
        "forecast_scores", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id_prediction", sa.Integer, nullable=False, unique=True),
        *_series(),
        sa.Column("openTime_next", sa.BigInteger, nullable=False),
        sa.Column("openTime_last", sa.BigInteger, nullable=False),
        *(_double(name, False) for name in ("forecast", "naive", "actual", "error",
                                            "naive_error")),
        sa.Column("direction_hit", sa.Boolean),
        sa.Column("time_scored", sa.Integer, nullable=False),
        *(column for level in _LEVELS for column in (
            _double(f"lower_{level}"), _double(f"upper_{level}"),
            sa.Column(f"inside_{level}", sa.Boolean))),
        sa.UniqueConstraint("id_coin", "model", "target", "interval", "openTime_next",
                            name="uq_forecast_scores_series_next"),
        **_ARGS)
    sa.Table(
        "track_records", metadata,
        *_series(),
        sa.Column("window", sa.String(8), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("scored", sa.Integer, nullable=False),
        *(_double(name) for name in ("rmse", "naive_rmse", "skill", "mae", "naive_mae",
                                     "direction")),
        sa.Column("moved", sa.Integer, nullable=False),
        *(_double(name) for name in ("dm_stat", "dm_pvalue", "dm_pvalue_worse")),
        sa.Column("verdict", sa.String(16), nullable=False),
        *(column for level in _LEVELS for column in (
            _double(f"coverage_{level}"), sa.Column(f"banded_{level}", sa.Integer),
            _double(f"width_{level}"))),
        sa.PrimaryKeyConstraint("id_coin", "model", "target", "interval", "window"),
        **_ARGS)


def baseline_metadata() -> sa.MetaData:
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
        sa.Column("exchange", sa.String(16), server_default="binance"),
        sqlite_autoincrement=True, **_ARGS)
    for interval in _INTERVALS:
        _candles(metadata, interval)
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
        sa.Column("reason", sa.String(500)), sa.Column("failures", sa.Text),
        **_ARGS)
    _results(metadata)
    _scores(metadata)
    return metadata


def upgrade() -> None:
    metadata = baseline_metadata()
    if context.is_offline_mode():
        for table in metadata.sorted_tables:
            op.execute(CreateTable(table))
            for index in sorted(table.indexes, key=lambda i: i.name or ""):
                op.execute(CreateIndex(index))
        return
    from coinlstm.db.legacy import upgrade_in_place

    upgrade_in_place(op.get_bind(), metadata)


def downgrade() -> None:
    """Refused: below the baseline is no schema, and dropping every table (an adopted
    database's rows included) is never what a downgrade should do."""
    raise RuntimeError("revision 0001 is the baseline: it cannot be downgraded")
