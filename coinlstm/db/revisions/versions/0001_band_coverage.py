"""Forward band coverage: each scored forecast's bands, and each window's coverage.

Revision ID: 0001
Revises: 0000i
Create Date: 2026-12-01

The last schema change before migrations; a database stamped 0001 holds this schema.
``forecast_scores`` gains ``lower``/``upper``/``inside`` per level (80, 95), and
``track_records`` ``coverage``/``banded``/``width`` per level. Nullable: an upgraded
database's next scoring pass scores the bands of its already-scored forecasts once.
Downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import LEVELS, adding_columns

revision = "0001"
down_revision = "0000i"
branch_labels = None
depends_on = None


def _scores() -> list[sa.Column]:
    return [column for level in LEVELS for column in (
        sa.Column(f"lower_{level}", sa.Double), sa.Column(f"upper_{level}", sa.Double),
        sa.Column(f"inside_{level}", sa.Boolean))]


def _records() -> list[sa.Column]:
    return [column for level in LEVELS for column in (
        sa.Column(f"coverage_{level}", sa.Double), sa.Column(f"banded_{level}", sa.Integer),
        sa.Column(f"width_{level}", sa.Double))]

upgrade, downgrade = adding_columns(lambda: {"forecast_scores": _scores(),
                                             "track_records": _records()})
