"""The return target: target, shrinkage (with its t statistic) and edge of a run.

Revision ID: 0000b
Revises: 0000a
Create Date: 2026-11-29

``historical_train`` gains ``target``, ``shrinkage``, ``shrinkage_t`` and ``edge``;
``historical_price_predictions`` ``target`` and ``edge``. All nullable: older rows (NULL)
are of the close target. Downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import add_columns, drop_columns

revision = "0000b"
down_revision = "0000a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns("historical_train", sa.Column("target", sa.String(16)),
                sa.Column("shrinkage", sa.Double), sa.Column("shrinkage_t", sa.Double),
                sa.Column("edge", sa.Boolean))
    add_columns("historical_price_predictions", sa.Column("target", sa.String(16)),
                sa.Column("edge", sa.Boolean))


def downgrade() -> None:
    drop_columns("historical_price_predictions", "edge", "target")
    drop_columns("historical_train", "edge", "shrinkage_t", "shrinkage", "target")
