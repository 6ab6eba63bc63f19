"""Prediction bands: each forecast's 80 % and 95 % band, and their figures on the test set.

Revision ID: 0000e
Revises: 0000d
Create Date: 2026-12-01

``historical_price_predictions`` gains ``lower_80``, ``upper_80``, ``lower_95``,
``upper_95`` and ``price_bands``; ``historical_train`` ``coverage``/``width``/``winkler`` per
level and ``price_bands``. Nullable: older rows have no band. Downgrade drops them.
"""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm.db.revision_steps import LEVELS, adding_columns

revision = "0000e"
down_revision = "0000d"
branch_labels = None
depends_on = None

_PREDICTIONS = tuple(f"{side}_{level}" for level in LEVELS for side in ("lower", "upper"))
_TRAIN = tuple(f"{kind}_{level}" for level in LEVELS for kind in ("coverage", "width",
                                                                     "winkler"))

upgrade, downgrade = adding_columns(lambda: {
    table: [*(sa.Column(name, sa.Double) for name in names), sa.Column("price_bands", sa.Text)]
    for table, names in (("historical_price_predictions", _PREDICTIONS),
                         ("historical_train", _TRAIN))})
