"""The calibration slice: ``historical_train.n_cal``, the candles the bands were fitted on.

Revision ID: 0000f
Revises: 0000e
Create Date: 2026-12-01

Nullable: older rows had no calibration slice. Downgrade drops it.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import adding_columns

revision = "0000f"
down_revision = "0000e"
branch_labels = None
depends_on = None

upgrade, downgrade = adding_columns(lambda: {"historical_train": [sa.Column("n_cal", sa.Integer)]})
