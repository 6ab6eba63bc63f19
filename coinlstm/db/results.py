"""The rows a training run writes (historical_train, historical_price_predictions)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.db.schema import SOURCE_BACKFILL, historical_price_predictions, historical_train


def to_json_array(values: Iterable[float]) -> str:
    """Arrays in the historical_* text columns: a JSON array of plain floats."""
    return json.dumps([float(v) for v in values])


def to_json_rows(rows: Iterable[Iterable[float]]) -> str:
    """A multi-step forecast's samples: a JSON array of arrays of plain floats."""
    return json.dumps([[float(v) for v in row] for row in rows])


def write_training_result(conn: Connection, train_row: dict | None,
                          prediction_row: dict) -> bool:
    """Insert one training run's two rows, together, in the caller's transaction; without a
    ``train_row`` (a backfilled hour: its forecast only) the forecast row alone.

    With a ``run_id`` the write is idempotent per (run_id, id_coin): a retried task of the
    same job run finds its rows there and writes nothing (returns False).
    """
    table = historical_price_predictions if train_row is None else historical_train
    first = prediction_row if train_row is None else train_row
    run_id = first.get("run_id")
    if run_id is not None:
        exists = conn.execute(sa.select(table.c.id).where(
            table.c.run_id == run_id, table.c.id_coin == first["id_coin"])).first()
        if exists is not None:
            return False
    if train_row is not None:
        conn.execute(historical_train.insert().values(**train_row))
    conn.execute(historical_price_predictions.insert().values(**prediction_row))
    return True


def backfilled_open_times(conn: Connection, coin_id: int, model: str, target: str,
                          interval: str) -> set[int]:
    """The candles (``openTime_next``) a backfilled forecast of the series is stored for."""
    p = historical_price_predictions
    query = sa.select(p.c.openTime_next).where(
        p.c.id_coin == coin_id, p.c.source == SOURCE_BACKFILL, p.c.model == model,
        p.c.target == target, p.c.interval == interval, p.c.openTime_next.is_not(None))
    return {int(value) for (value,) in conn.execute(query)}
