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

from coinlstm.db.revision_steps import adding_columns

revision = "0000b"
down_revision = "0000a"
branch_labels = None
depends_on = None

upgrade, downgrade = adding_columns(lambda: {
    "historical_train": [sa.Column("target", sa.String(16)), sa.Column("shrinkage", sa.Double),
                         sa.Column("shrinkage_t", sa.Double), sa.Column("edge", sa.Boolean)],
    "historical_price_predictions": [sa.Column("target", sa.String(16)),
                                     sa.Column("edge", sa.Boolean)],
})
