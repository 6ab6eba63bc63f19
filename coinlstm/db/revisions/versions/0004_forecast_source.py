"""Forecast source: whether a forecast was published live or backfilled afterwards.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

``historical_price_predictions.source`` is ``live`` (the hourly job, every existing row) or
``backfill`` (``coinlstm backfill``: the hourly job's schedule replayed over stored candles).
``forecast_scores.source`` is the scored forecast's, so a live forecast's score is never
replaced by a backfilled one's. ``track_records`` gains ``scored_live`` and
``scored_backfill``: what a window's record rests on (NULL until the series' next scoring
pass on an upgraded database).

Upgrade is resumable (MySQL commits each DDL statement at once): a column already there is
left as it is. Downgrade drops what upgrade added; the backfilled forecasts stay, unmarked.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import adding_columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns() -> dict[str, list[sa.Column]]:
    """The columns as this revision adds them (frozen: later revisions change
    coinlstm/db/schema.py, never this file)."""
    return {
        "historical_price_predictions": [
            sa.Column("source", sa.String(8), nullable=False, server_default="live")],
        "forecast_scores": [
            sa.Column("source", sa.String(8), nullable=False, server_default="live")],
        "track_records": [sa.Column("scored_live", sa.Integer, nullable=True),
                          sa.Column("scored_backfill", sa.Integer, nullable=True)],
    }


upgrade, downgrade = adding_columns(_columns)
