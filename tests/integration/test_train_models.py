"""The model zoo: every architecture trains, stores its rows and reloads, on every backend.

Real parts only: the newest 1,200 SYNTHETIC SYNTH1ETH candles (tests/synthetic.py), real
Keras training (2 epochs), the real CLI in fresh processes. To keep process start-ups few,
the JAX trainings run in this (test) process and all TensorFlow trainings in one child
process (tests.trainkit.train_every_model); torch runs once through the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.jobs.pair_job import TrainOptions
from coinlstm.core import config
from tests.helpers import REPO, TEST_HOME, fingerprint
from tests.trainkit import (
    FAST,
    child_env,
    folder_snapshot,
    load_pair,
    newest_features,
    train_cli,
    train_every_model,
)
from train.models import MODEL_NAMES, build_model

ROWS = 1200
SYMBOL = "SYNTH1ETH"
#: Runs tests.trainkit.train_every_model once per argument list in one fresh process (one
#: TensorFlow start-up); the results are the last line.
_TRAIN_EVERY_MODEL = ("import json, sys\nfrom tests.trainkit import train_every_model\n"
                      "print(json.dumps([train_every_model(*args)\n"
                      "                  for args in json.loads(sys.argv[1])]))")
#: The second pass of every model: multi-step, multi-coin input, return target (the default).
MULTI = ["--horizon", "16", "--with", "SYNTH6ETH"]


def _stored_rows(db_url: str) -> dict[str, tuple]:
    """run_id -> (historical_train row, historical_price_predictions row)."""
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            trains = conn.execute(sa.select(db.historical_train)).all()
            predictions = {row.run_id: row for row in
                           conn.execute(sa.select(db.historical_price_predictions))}
    finally:
        engine.dispose()
    return {row.run_id: (row, predictions[row.run_id]) for row in trains}


def _load_under_jax(artifacts, symbol: str = SYMBOL):
    """The saved model in this (JAX) process, whatever backend wrote it."""
    from predict.artifacts import load_model
    from train import backend

    settings = config.load(artifacts=artifacts, env={"COINLSTM_HOME": str(TEST_HOME)})
    backend.prepare("jax", settings.cache_dir)
    return load_model(settings, symbol)


def _check_runs(stored: dict[str, tuple], outcomes: list[dict], backend: str,
                prefix: str = "", horizon: int = 1) -> None:
    """Each model's run: 2 epochs, its own rows (model and backend named), a faithful reload;
    at a horizon K, K forecasts per test sample and for the next hours."""
    assert [o["model"] for o in outcomes] == list(MODEL_NAMES)
    for outcome in outcomes:
        model = outcome["model"]
        train, prediction = stored[f"{prefix}{backend}-{model}"]
        assert (outcome["status"], outcome["backend"], outcome["epochs_run"]) == (
            "ok", backend, 2)
        assert (train.model, train.backend, prediction.model) == (model, backend, model)
        assert train.RMSE == pytest.approx(outcome["rmse"], rel=1e-12)
        assert prediction.price_preidct_last == pytest.approx(outcome["predicted_close"],
                                                              rel=1e-12)
        test_predictions = json.loads(train.price_predict)
        assert len(test_predictions) == train.n_test == 48
        assert len(outcome["reloaded_path"]) == horizon
        if horizon > 1:
            assert {len(step) for step in test_predictions} == {horizon}
            assert train.horizon == prediction.horizon == horizon
            stored_path = json.loads(prediction.price_predict_horizon)
            assert stored_path == pytest.approx(outcome["reloaded_path"], rel=1e-4)
        # The .h5 alone, loaded back from disk, gives the stored forecast again.
        assert outcome["reloaded_forecast"] == pytest.approx(prediction.price_preidct_last,
                                                             rel=1e-4)
        print(f"{model} on {backend}: {outcome['train_seconds'] / outcome['epochs_run']:.2f} "
              "s per epoch (2 epochs, compilation included)")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_every_model_trains_stores_and_reloads(synthetic_candles, sqlite_url, tmp_path, backend):
    """Every model on each backend, twice: the tutorials' level target at one step, then 16
    steps from two pairs (SYNTH1ETH with SYNTH6ETH) on the default return target."""
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS, tail=True)
    load_pair(sqlite_url, synthetic_candles / "SYNTH6ETH.csv", ROWS, tail=True)
    art = tmp_path / "art"
    # The level target first: its forecast is the model's own, so the reload check is not
    # satisfied by "last close" alone.
    calls = [[sqlite_url, str(art), coin_id, SYMBOL, backend, ["--target", "close"]],
             [sqlite_url, str(tmp_path / "multi"), coin_id, SYMBOL, backend, MULTI,
              list(MODEL_NAMES), "multi-"]]
    if backend == "jax":
        single, multi = (train_every_model(*call) for call in calls)
    else:
        done = subprocess.run(
            [sys.executable, "-c", _TRAIN_EVERY_MODEL, json.dumps(calls)],
            capture_output=True, text=True, env=child_env(), cwd=str(REPO), timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        single, multi = json.loads(done.stdout.strip().splitlines()[-1])
    stored = _stored_rows(sqlite_url)
    _check_runs(stored, single, backend)
    for outcome in single:
        loaded = _load_under_jax(art / outcome["model"])
        assert (loaded.meta["model"], loaded.meta["backend"]) == (outcome["model"], backend)
        assert loaded.model.name == outcome["model"].replace("-", "_")
    _check_runs(stored, multi, backend, prefix="multi-", horizon=16)
    for outcome in multi:
        loaded = _load_under_jax(tmp_path / "multi" / outcome["model"])
        assert loaded.meta["with"] == ["SYNTH6ETH"] and outcome["target"] == "return"
        assert loaded.model.output_shape == (None, 16)
        # 8 scale-free inputs of the pair + SYNTH6ETH's close return and volume change.
        assert len(loaded.scaler["features"]) == len(loaded.scaler["mean"]) == 10
        assert sum("SYNTH6ETH" in name for name in loaded.scaler["features"]) == 2


@pytest.mark.slow
def test_cnn_with_a_longer_window_on_mysql(synthetic_candles, mysql_url, tmp_path):
    """The one MySQL run: cnn, whose kernel (3) spans several candles only when window > 1."""
    coin_id, _ = load_pair(mysql_url, synthetic_candles / f"{SYMBOL}.csv", ROWS, tail=True)
    [outcome] = train_every_model(mysql_url, str(tmp_path / "art"), coin_id, SYMBOL, "jax",
                                  flags=["--window", "6"], models=["cnn"])
    train, prediction = _stored_rows(mysql_url)["jax-cnn"]
    assert (train.model, outcome["epochs_run"]) == ("cnn", 2)
    assert json.loads(train.settings)["window"] == 6
    assert outcome["reloaded_forecast"] == pytest.approx(prediction.price_preidct_last, rel=1e-4)
    conv = _load_under_jax(tmp_path / "art" / "cnn").model.layers[0]
    assert (type(conv).__name__, conv.kernel_size, conv.padding) == ("Conv1D", (3,), "causal")


@pytest.mark.slow
def test_torch_backend_through_the_cli_reloads_under_jax(synthetic_candles, sqlite_url, tmp_path,
                                                         monkeypatch):
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS, tail=True)
    art, result_path = tmp_path / "art", tmp_path / "result.json"
    done = train_cli("-id", str(coin_id), "-symbol", SYMBOL, "--db", sqlite_url, "--artifacts",
                     str(art), "--backend", "torch", "--model", "gru", "--dropout", "0.1",
                     "--l2", "1e-4", "--run-id", "t1", "--result-json", str(result_path),
                     "--target", "close", *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tensorflow imported: False" in done.stdout
    result = json.loads(result_path.read_text())
    assert (result["backend"], result["model"], result["epochs_run"]) == ("torch", "gru", 2)
    print(f"gru on torch: {result['train_seconds'] / 2:.2f} s per epoch (2 epochs, "
          "dropout 0.1, l2 1e-4)")
    train, prediction = _stored_rows(sqlite_url)["t1"]
    assert (train.model, train.backend) == ("gru", "torch")
    assert prediction.price_preidct_last == pytest.approx(result["predicted_close"], rel=1e-12)

    # Loaded under JAX where torch cannot even be imported: the model file needs no torch.
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
            return None

    torch_was_loaded = "torch" in sys.modules
    monkeypatch.setattr(sys, "meta_path", [NoTorch(), *sys.meta_path])
    loaded = _load_under_jax(art)
    assert torch_was_loaded or "torch" not in sys.modules
    assert loaded.meta["options"]["dropout"] == 0.1
    assert [type(layer).__name__ for layer in loaded.model.layers] == [
        "GRU", "Dropout", "GRU", "Dropout", "Dense"]
    from predict.forecast import forecast_from_loaded

    newest = newest_features(sqlite_url, coin_id, 1)
    assert forecast_from_loaded(loaded, newest) == pytest.approx(result["predicted_close"],
                                                                 rel=1e-4)


def _layer_names(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_regularisation_flags_change_the_graph_and_defaults_keep_the_reference():
    from train import backend

    backend.prepare("jax", config.load(env={"COINLSTM_HOME": str(TEST_HOME)}).cache_dir)
    keras = backend.load_keras("jax")
    shape = (1, len(db.FEATURE_COLUMNS))
    reference = build_model("lstm", shape, TrainOptions())
    assert _layer_names(reference) == ["LSTM", "LSTM", "Dense"]
    # Layer for layer the tutorial's reference network (docs/training.md), as the builder
    # wrote it before the zoo.
    spec = keras.Sequential([keras.Input(shape=shape), keras.layers.LSTM(64, return_sequences=True),
                             keras.layers.LSTM(64), keras.layers.Dense(1)])
    for ours, theirs in zip(reference.layers, spec.layers, strict=True):
        assert {**ours.get_config(), "name": ""} == {**theirs.get_config(), "name": ""}
    assert (reference.loss, type(reference.optimizer).__name__) == ("mse", "Adam")

    regularised = TrainOptions(dropout=0.3, l2=1e-4)
    for name in MODEL_NAMES:
        assert "Dropout" not in _layer_names(build_model(name, shape, TrainOptions()))
        model = build_model(name, shape, regularised)
        assert "Dropout" in _layer_names(model), name
        assert {layer.rate for layer in model.layers if hasattr(layer, "rate")} == {0.3}
        kernels = [layer for layer in model.layers
                   if layer.get_config().get("kernel_regularizer", "absent") != "absent"]
        assert kernels, name
        for layer in kernels:
            assert layer.kernel_regularizer.get_config() == {"l1": 0.0, "l2": 1e-4}, name
        # Every model builds for the default window 1 and a longer one.
        assert build_model(name, (24, shape[1]), regularised).output_shape == (None, 1)


@pytest.mark.parametrize(("flags", "words"), [
    (["--dropout", "1.5"], "--dropout must be at least 0 and below 1, got 1.5"),
    (["--l1", "-1"], "--l1 must be a finite number, 0 or more, got -1.0"),
    (["--model", "foo"], "argument --model: invalid choice: 'foo'"),
])
def test_bad_model_flags_exit_2_with_one_line_and_write_nothing(synthetic_candles, sqlite_url,
                                                                 tmp_path, flags, words, cli):
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", 300, tail=True)
    art = tmp_path / "art"
    rows_before = fingerprint(sqlite_url)
    done = cli("train", "-id", str(coin_id), "-symbol", SYMBOL, "--db", sqlite_url,
                   "--artifacts", str(art), *flags)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coinlstm train: error: "), done.stderr
    assert words in lines[0]
    assert fingerprint(sqlite_url) == rows_before
    assert folder_snapshot(art) == {}
