"""Outages: ``job_runs.reason``, why a run ended as it did (a lost lock, an outage).

Revision ID: 0000g
Revises: 0000f
Create Date: 2026-12-01

Nullable. Downgrade drops it.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import adding_columns

revision = "0000g"
down_revision = "0000f"
branch_labels = None
depends_on = None

upgrade, downgrade = adding_columns(lambda: {"job_runs": [sa.Column("reason", sa.String(500))]})
