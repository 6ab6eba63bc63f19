"""--layers N end to end: the saved network has N recurrent layers, a changed depth refits
from scratch, a warm run rebuilds the saved depth, and a warm fine-tune is capped by --epochs.

Real parts only: the SYNTHETIC SYNTH1ETH candles of tests/synthetic.py in SQLite, real Keras
training on JAX (one epoch) in this process through ``train_pair`` (what ``coinlstm train``
runs), the model loaded back from its files.
"""

from __future__ import annotations

import argparse

import pytest

from coinlstm.app.commands.train import add_training_arguments, options_from_args
from coinlstm.app.jobs.pair_job import train_pair
from coinlstm.core import config
from tests.helpers import TEST_HOME, read_csv_rows
from tests.integration.test_warm_start import _add_hours
from tests.trainkit import load_pair

SYMBOL = "SYNTH1ETH"
ROWS = 700
#: One epoch, a warm fine-tune of two whole batches that may run 5 epochs (capped by 1).
TINY = ["--epochs", "1", "--val-size", "240", "--warm-samples", "256", "--warm-epochs", "5",
        "--units", "8", "--calibration-size", "0", "--backend", "jax"]


def _train(url: str, art, coin_id: int, run_id: str, *flags: str) -> dict:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    options = options_from_args(parser.parse_args([*TINY, *flags]))
    settings = config.load(db_url=url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})
    return train_pair(settings, coin_id, SYMBOL, options, run_id=run_id).to_dict()


def _recurrent_layers(url: str, art) -> list[str]:
    from predict.artifacts import load_model

    settings = config.load(db_url=url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})
    loaded = load_model(settings, SYMBOL)
    return [type(layer).__name__ for layer in loaded.model.layers
            if type(layer).__name__ in ("LSTM", "GRU")]


@pytest.mark.slow
def test_layers_build_that_many_lstms_refit_on_change_and_warm_runs_keep_the_depth(
        synthetic_candles, sqlite_url, tmp_path):
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    later = read_csv_rows(synthetic_candles / f"{SYMBOL}.csv", limit=ROWS + 3)[ROWS:]
    art = tmp_path / "art"

    one = _train(sqlite_url, art, coin_id, "r1", "--layers", "1")
    assert one["fit"] == "full" and _recurrent_layers(sqlite_url, art) == ["LSTM"]

    _add_hours(sqlite_url, coin_id, later[:1])
    three = _train(sqlite_url, art, coin_id, "r2", "--layers", "3")
    assert (three["fit"], three["fit_reason"]) == ("full", "settings changed: layers 1 -> 3")
    assert _recurrent_layers(sqlite_url, art) == ["LSTM"] * 3

    # The next hour fine-tunes the 3-layer model (no fallback: the saved weights load into
    # the depth rebuilt from the settings), at most --epochs 1 epoch, not --warm-epochs 5.
    _add_hours(sqlite_url, coin_id, later[1:2])
    warm = _train(sqlite_url, art, coin_id, "r3", "--layers", "3")
    assert (warm["fit"], warm["fit_note"]) == ("warm", False), warm["fit_reason"]
    assert warm["epochs_run"] == 1
    assert _recurrent_layers(sqlite_url, art) == ["LSTM"] * 3


@pytest.mark.slow
def test_the_regularisers_are_on_their_layers_and_stored_with_the_model(
        synthetic_candles, sqlite_url, tmp_path):
    import json

    import sqlalchemy as sa

    from coinlstm import db
    from predict.artifacts import load_model

    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    art = tmp_path / "art"
    result = _train(sqlite_url, art, coin_id, "r1", "--model", "gru", "--bias-l1", "0.01",
                    "--bias-l2", "0.001", "--recurrent-l2", "0.002", "--activity-l1", "1e-05")
    assert result["status"] == "ok"
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        stored = json.loads(conn.execute(sa.select(db.historical_train.c.settings)).scalar_one())
    engine.dispose()
    assert (stored["bias_l1"], stored["bias_l2"], stored["recurrent_l2"],
            stored["activity_l1"], stored["l1"], stored["layers"]) == (
        0.01, 0.001, 0.002, 1e-05, 0.0, 2)

    settings = config.load(db_url=sqlite_url, artifacts=art,
                           env={"COINLSTM_HOME": str(TEST_HOME)})
    for layer in load_model(settings, SYMBOL).model.layers:
        layer_config = layer.get_config()
        assert layer_config["kernel_regularizer"] is None  # --l1/--l2 left at 0
        bias = layer_config["bias_regularizer"]["config"]
        assert (bias["l1"], bias["l2"]) == pytest.approx((0.01, 0.001))
        assert layer_config["activity_regularizer"]["config"]["l1"] == pytest.approx(1e-05)
        if type(layer).__name__ == "GRU":
            recurrent = layer_config["recurrent_regularizer"]["config"]
            assert (recurrent["l1"], recurrent["l2"]) == pytest.approx((0.0, 0.002))
