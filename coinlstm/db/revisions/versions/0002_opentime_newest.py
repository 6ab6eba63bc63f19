"""historical_train.openTime_newest; openTime_last back to the original system's meaning.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

The original system writes ``openTime_last`` = the open time of the candle before its test
window (its newest candle's minus the test window), and its predictor reads the candles
after it. coinlstm wrote its newest candle's open time there, so beside it that predictor
found no candle. From here coinlstm keeps its newest candle's open time in
``openTime_newest`` and writes ``openTime_last`` as the original system does.

Upgrade: the column is added; coinlstm's own rows (those with a ``run_id``) are rewritten to
the new meaning, from their ``n_test`` and ``interval`` (NULL: 1h). Rows without a run_id
(the original system's) keep every value. Downgrade: those rows get their newest open time
back in ``openTime_last``, and the column goes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                "3d": 259_200_000, "1w": 604_800_000}

_train = sa.table("historical_train", sa.column("run_id"), sa.column("n_test"),
                  sa.column("interval"), sa.column("openTime_last", sa.BigInteger),
                  sa.column("openTime_newest", sa.BigInteger))


def _test_window_ms() -> sa.ColumnElement:
    interval_ms = sa.case(*((_train.c.interval == name, ms) for name, ms in _INTERVAL_MS.items()),
                          else_=3_600_000)
    return sa.func.coalesce(_train.c.n_test, 0) * interval_ms


def upgrade() -> None:
    """Resumable: MySQL commits the ADD COLUMN at once, so a run stopped before the version
    row was written finds the column there and goes on with the rows (still NULL in it)."""
    if context.is_offline_mode() or "openTime_newest" not in {
            column["name"] for column in sa.inspect(op.get_bind()).get_columns(
                "historical_train")}:
        op.add_column("historical_train", sa.Column("openTime_newest", sa.BigInteger,
                                                    nullable=True))
    op.execute(_train.update()
               .where(_train.c.run_id.is_not(None), _train.c.openTime_newest.is_(None))
               # newest first: MySQL evaluates SET left to right, on the updated values
               .ordered_values((_train.c.openTime_newest, _train.c.openTime_last),
                               (_train.c.openTime_last,
                                _train.c.openTime_last - _test_window_ms())))


def downgrade() -> None:
    op.execute(_train.update().where(_train.c.openTime_newest.is_not(None))
               .values(openTime_last=_train.c.openTime_newest))
    op.drop_column("historical_train", "openTime_newest")
