"""Storing one run, all or nothing: the plot and the model files staged under temporary names,
both rows in one transaction, then the renames (the model .h5 last).

Any failure before the commit deletes the temporaries and the transaction rolls back, so a
failed run writes nothing and replaces nothing (predict/artifacts.py says why a kill between
the renames cannot leave a broken model either).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from coinlstm import db
from predict.artifacts import ArtifactPaths, StagedFiles, stage_model

log = logging.getLogger(__name__)


def store_run(engine: sa.Engine, paths: ArtifactPaths,
              draw_plot: Callable[[Path], None] | None, model, scaler: dict, meta: dict,
              train_row: dict | None, prediction_row: dict | None,
              before_last_rename: Callable[[], None] | None = None,
              retry_seconds: float = 0.0, durable: bool = True) -> bool:
    """Write the run's files and rows; False when the rows of its run id were already there
    (a retried task: the stored rows are kept, the files replaced), or when it has none. A
    backfilled hour passes no plot and no train row: its forecast row and its model files
    only; a deferred refit (``--refits after``) no row at all: its model files only.

    ``retry_seconds``: how long a database restart is waited out (coinlstm.db.retry). The
    transaction is retried whole; the rows are unique per run id, so a commit whose answer
    was lost in the restart is found by the retry, never written twice.

    ``durable=False``: the files without fsyncs (predict/artifacts.py ``StagedFiles``)."""
    staged = StagedFiles(before_last_rename=before_last_rename, durable=durable)
    try:
        if draw_plot is not None:
            staged.stage(paths.plot, draw_plot)
        stage_model(staged, paths, model, scaler, meta)
        written = prediction_row is not None and db.retry_transaction(
            engine, lambda conn: db.write_training_result(conn, train_row, prediction_row),
            retry_seconds, f"{meta.get('symbol')}: writing rows")
        if not written and prediction_row is not None:
            log.info("%s: rows of run %s were already stored; kept them", meta.get("symbol"),
                     prediction_row.get("run_id"))
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    return written
