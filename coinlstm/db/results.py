"""The rows a training run writes (historical_train, historical_price_predictions)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coinlstm.db.schema import historical_price_predictions, historical_train


def to_json_array(values: Iterable[float]) -> str:
    """Arrays in the historical_* text columns: a JSON array of plain floats."""
    return json.dumps([float(v) for v in values])


def to_json_rows(rows: Iterable[Iterable[float]]) -> str:
    """A multi-step forecast's samples: a JSON array of arrays of plain floats."""
    return json.dumps([[float(v) for v in row] for row in rows])


def write_training_result(conn: Connection, train_row: dict, prediction_row: dict) -> bool:
    """Insert one training run's two rows, together, in the caller's transaction.

    With a ``run_id`` the write is idempotent per (run_id, id_coin): a retried task of the
    same job run finds its rows there and writes nothing (returns False).
    """
    run_id = train_row.get("run_id")
    if run_id is not None:
        exists = conn.execute(sa.select(historical_train.c.id).where(
            historical_train.c.run_id == run_id,
            historical_train.c.id_coin == train_row["id_coin"])).first()
        if exists is not None:
            return False
    conn.execute(historical_train.insert().values(**train_row))
    conn.execute(historical_price_predictions.insert().values(**prediction_row))
    return True
