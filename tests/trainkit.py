"""Helpers of the training tests: candles into a real database, snapshots of outputs."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from coinlstm import db
from coinlstm.app.commands.train import add_training_arguments, options_from_args
from coinlstm.app.jobs.pair_job import train_pair
from coinlstm.core import config
from coinlstm.core.klines import parse_kline, split_symbol
from predict.forecast import forecast_path
from tests.helpers import REPO, TEST_HOME, read_csv_rows
from train.models import MODEL_NAMES

#: Tiny but real training: what every training test passes.
FAST = ["--epochs", "2", "--val-size", "240"]


def load_pair(db_url: str, csv_path: Path, rows: int, tail: bool = False,
              edit: Callable[[list[list[str]]], None] | None = None) -> tuple[int, list[list[str]]]:
    """Register the pair and insert ``rows`` of its candles, as the importer does.

    ``edit`` may change the text rows first (a NaN, a gap). Returns the coin id and the rows.
    """
    fields = read_csv_rows(csv_path, limit=rows, tail=tail)
    if edit is not None:
        edit(fields)
    symbol = csv_path.stem
    base, quote = split_symbol(symbol)
    engine = db.open_database(db_url)
    try:
        with db.transaction(engine) as conn:
            coin_id = db.ensure_coin(conn, symbol, base, quote)
            db.insert_candles(conn, [parse_kline(coin_id, row) for row in fields])
    finally:
        engine.dispose()
    return coin_id, fields


def folder_snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden temporaries included) with its content hash."""
    if not folder.exists():
        return {}
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def newest_features(db_url: str, coin_id: int, window: int) -> list[tuple[float, ...]]:
    """The pair's newest ``window + 1`` candles as feature rows: a forecast's input (the
    return target reads the candle before the window; the level target ignores it)."""
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            return db.load_training_rows(conn, coin_id, newest=window + 1)[1]
    finally:
        engine.dispose()


def train_every_model(db_url: str, artifacts_root: str, coin_id: int, symbol: str,
                      backend: str, flags: Sequence[str] = (),
                      models: Sequence[str] = MODEL_NAMES, run_prefix: str = "") -> list[dict]:
    """Train every zoo model (or ``models``) on one pair in this process: one start-up for all.

    The options come from the CLI's own parser (``FAST`` plus ``flags``). Each model gets its
    own artifacts folder (the files are per pair) and run id (``PREFIXBACKEND-MODEL``);
    afterwards its .h5 is loaded back from disk and forecasts again (with the --with pairs'
    newest candles when it has some). Returns each run's result JSON plus
    ``reloaded_forecast`` (the first step) and ``reloaded_path`` (all K steps). Run as a
    script by the tests for the TensorFlow backend (``python -c``), in the test process for
    JAX.
    """
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    outcomes = []
    for model in models:
        options = options_from_args(parser.parse_args(
            [*FAST, *flags, "--model", model, "--backend", backend]))
        settings = config.load(db_url=db_url, artifacts=Path(artifacts_root) / model,
                               env={"COINLSTM_HOME": str(TEST_HOME)})
        result = train_pair(settings, coin_id, symbol, options,
                            run_id=f"{run_prefix}{backend}-{model}")
        newest = np.array(newest_features(db_url, coin_id, options.window))
        with_features = None
        if options.with_pairs:
            engine = db.open_database(db_url)
            with engine.connect() as conn:
                with_features = {
                    other: np.array(newest_features(
                        db_url, db.coin_by_symbol(conn, other).id, options.window))
                    for other in options.with_pairs}
            engine.dispose()
        path = forecast_path(settings, symbol, newest, with_features)
        outcomes.append({**result.to_dict(), "reloaded_forecast": path[0],
                         "reloaded_path": path})
    return outcomes


#: Runs the CLI and reports whether TensorFlow got imported on the way.
CLI_WITH_TF_PROBE = ("import sys\nfrom coinlstm.app.cli import main\ncode = main(sys.argv[1:])\n"
                     "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
                     "sys.exit(code)")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that picks its own Keras backend."""
    env = dict(os.environ, COINLSTM_HOME=str(TEST_HOME), **extra)
    env.pop("KERAS_BACKEND", None)
    return env


def train_cli(*args: str, env: dict | None = None, timeout: float = 600):
    """``coinlstm train ARGS`` in a fresh process that says whether TensorFlow got imported."""
    return subprocess.run([sys.executable, "-c", CLI_WITH_TF_PROBE, "train", *args],
                          capture_output=True, text=True, env=env or child_env(), cwd=str(REPO),
                          timeout=timeout)
