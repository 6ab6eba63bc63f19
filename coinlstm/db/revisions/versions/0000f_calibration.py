"""The calibration slice: ``historical_train.n_cal``, the candles the bands were fitted on.

Revision ID: 0000f
Revises: 0000e
Create Date: 2026-12-01

Nullable: older rows had no calibration slice. Downgrade drops it.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import add_columns, drop_columns

revision = "0000f"
down_revision = "0000e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns("historical_train", sa.Column("n_cal", sa.Integer))


def downgrade() -> None:
    drop_columns("historical_train", "n_cal")
