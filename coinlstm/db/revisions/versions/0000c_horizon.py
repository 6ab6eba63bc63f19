"""The forecast horizon: a run's number of closes forecast, and the forecast path.

Revision ID: 0000c
Revises: 0000b
Create Date: 2026-11-29

``historical_train.horizon``; ``historical_price_predictions.horizon`` and
``price_predict_horizon`` (the K forecast closes). Nullable: older rows forecast one close.
Downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import adding_columns

revision = "0000c"
down_revision = "0000b"
branch_labels = None
depends_on = None

upgrade, downgrade = adding_columns(lambda: {
    "historical_train": [sa.Column("horizon", sa.Integer)],
    "historical_price_predictions": [sa.Column("horizon", sa.Integer),
                                     sa.Column("price_predict_horizon", sa.Text)],
})
