"""The warm fine-tune on compiled steps (train/steps) against the Keras path.

Real parts: SYNTH1ETH's candles in SQLite, a real full fit on JAX (tiny epochs), then the next
hour's warm run through ``train_pair`` (what ``coinlstm train`` runs) twice from the same saved
model: once as the job runs it (the compiled steps, written to and then read from the cache
on disk) and once on Keras' ``fit`` (the step cache switched off). The compiled run must save
the same weights, optimizer state included, and store the same figures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers import read_csv_rows, run_cli
from tests.integration.test_warm_start import (
    ROWS,
    SYMBOL,
    WARM,
    _add_hours,
    _rows,
    _saved,
    _train,
    _weights,
)
from tests.trainkit import FAST, load_pair
from train import backend
from train.steps import network
from train.steps.layout import Layout

#: Columns of the training row that differ between two runs of the same work.
RUN_COLUMNS = {"id", "run_id", "time_create", "train_seconds", "settings"}


def _datasets(path: Path) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, item: values.__setitem__(name, np.asarray(item[()]))
                      if isinstance(item, h5py.Dataset) else None)
    return values


def _step_files(home_cache: Path) -> dict[str, float]:
    """The compiled steps on disk, each with its modification time."""
    return {str(p.relative_to(home_cache)): p.stat().st_mtime_ns
            for p in home_cache.glob("*/*") if p.is_file()}


@pytest.fixture
def saved_then_an_hour(synthetic_candles, sqlite_url, tmp_path, monkeypatch):
    """A full fit saved, the next candle in the database, and a fresh step cache: returns
    (url, coin_id, artifacts folder, copy of the saved artifacts, step cache folder)."""
    url = sqlite_url
    coin_id, _ = load_pair(url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    later = read_csv_rows(synthetic_candles / f"{SYMBOL}.csv", limit=ROWS + 1)[ROWS:]
    steps = tmp_path / "steps"
    real_prepare = backend.prepare

    def prepare(name, cache_dir):  # this test's own cache: it must start empty
        chosen = real_prepare(name, cache_dir)
        if backend.step_cache_dir() is not None:
            monkeypatch.setattr(backend, "_step_cache", steps)
        return chosen

    monkeypatch.setattr(backend, "prepare", prepare)
    art = tmp_path / "art"
    assert _train(url, art, coin_id, "full")["fit"] == "full"
    _add_hours(url, coin_id, later[:1])
    shutil.copytree(art, tmp_path / "saved")
    return url, coin_id, art, tmp_path / "saved", steps


def _restore(art: Path, saved: Path) -> None:
    shutil.rmtree(art)
    shutil.copytree(saved, art)


@pytest.mark.slow
def test_compiled_steps_fine_tune_exactly_as_keras_fit_does(saved_then_an_hour, monkeypatch):
    url, coin_id, art, saved, steps = saved_then_an_hour
    start = _datasets(_weights(art))

    # The full fit trained on compiled steps and compiled the next hours' warm steps ahead:
    # the layout, the steps of its own epochs, and the warm run's (one batch of 128 per
    # call, its validation slice, its predict call), so that the warm run compiles nothing:
    # the files stay as they are.
    files = _step_files(steps)
    kinds = {Path(name).name.split("-")[0] for name in files}
    assert kinds == {"layout.json", "predict", "test", "train"}
    assert any(Path(name).name.startswith("train-1x128x") for name in files)
    # Keras' weights file holds every variable as plain bytes: the warm run writes its state
    # by replacing them (train/steps/layout.py StateImage), not through HDF5.
    layout = Layout.from_json(next(steps.glob("*/layout.json")).read_text())
    assert layout.read(_weights(art))[1] is not None
    compiled = _train(url, art, coin_id, "compiled")
    assert compiled["fit"] == "warm", compiled["fit_reason"]
    assert _step_files(steps) == files
    compiled_weights = _datasets(_weights(art))
    compiled_tune = _saved(url, art)[1]["fine_tune"]

    # The same hour on Keras' fit, from the same saved model.
    _restore(art, saved)
    with monkeypatch.context() as patch:
        patch.setattr(backend, "step_cache_dir", lambda: None)
        keras_run = _train(url, art, coin_id, "keras")
    assert keras_run["fit"] == "warm"
    keras_weights = _datasets(_weights(art))
    keras_tune = _saved(url, art)[1]["fine_tune"]

    # Every saved variable (weights, Adam's moments and step count) as Keras' fit left it,
    # and moved from where it started.
    assert sorted(compiled_weights) == sorted(keras_weights) == sorted(start)
    for name, value in keras_weights.items():
        np.testing.assert_allclose(compiled_weights[name], value, rtol=1e-5, atol=1e-7,
                                   err_msg=name)
    assert compiled_weights["optimizer/vars/0"] > start["optimizer/vars/0"]  # Adam's steps
    assert any(not np.array_equal(compiled_weights[n], start[n]) for n in start)
    assert compiled_tune.keys() == keras_tune.keys()
    for key, value in keras_tune.items():
        assert compiled_tune[key] == pytest.approx(value, rel=1e-5), key
    assert compiled["skill"] == pytest.approx(keras_run["skill"], rel=1e-5, abs=1e-9)

    # The stored rows: the same figures.
    full_row, compiled_row, keras_row = _rows(url)
    for column in compiled_row._mapping:
        if column not in RUN_COLUMNS:
            a, b = compiled_row._mapping[column], keras_row._mapping[column]
            assert a == (pytest.approx(b, rel=1e-5) if isinstance(b, float) else b), column

    # Another run reads the steps (loaded already in this process) and compiles nothing.
    _restore(art, saved)
    again = _train(url, art, coin_id, "again")
    assert _step_files(steps) == files
    assert again["skill"] == compiled["skill"] and again["rmse"] == compiled["rmse"]
    np.testing.assert_array_equal(_datasets(_weights(art))["optimizer/vars/2"],
                                  compiled_weights["optimizer/vars/2"])


@pytest.mark.slow
def test_a_damaged_cached_step_is_compiled_again(saved_then_an_hour, tmp_path):
    """In fresh processes (a process loads each step once): a step file whose bytes were
    changed fails its checksum and is compiled and written again; the hour is the same."""
    url, coin_id, art, saved, _ = saved_then_an_hour
    home = tmp_path / "home"
    command = ["train", "-id", str(coin_id), "-symbol", SYMBOL, "--db", url, "--artifacts",
               str(art), "--backend", "jax", *FAST, *WARM]

    def warm_run(run_id: str) -> dict:
        _restore(art, saved)
        result = tmp_path / f"{run_id.replace(' ', '-')}.json"
        done = run_cli(*command, "--run-id", run_id.replace(" ", "-"), "--result-json", str(result),
                       env={"COINLSTM_HOME": str(home)})
        assert done.returncode == 0, done.stderr
        return json.loads(result.read_text())

    first = warm_run("first")
    assert first["fit"] == "warm", first["fit_reason"]
    steps = next(home.rglob("steps/*/layout.json")).parent
    written = _step_files(steps.parent)
    # A later process loads them and compiles nothing: the files stay as they are. So does
    # one after the steps were compiled again while JAX's own compile cache held them (an
    # executable from that cache serializes without its code: every later process would
    # find it broken and compile it again).
    assert warm_run("loads")["rmse"] == first["rmse"]
    assert _step_files(steps.parent) == written
    shutil.rmtree(steps)
    assert warm_run("compiles again")["rmse"] == first["rmse"]
    written = _step_files(steps.parent)
    assert warm_run("loads again")["rmse"] == first["rmse"]
    assert _step_files(steps.parent) == written

    train_step = next(home.rglob("steps/*/train-*.xla"))
    good = train_step.read_bytes()
    damaged = good[:100] + bytes(b ^ 0xFF for b in good[100:200]) + good[200:]
    train_step.write_bytes(damaged)

    second = warm_run("second")
    assert (second["status"], second["fit"]) == ("ok", "warm")
    assert second["skill"] == first["skill"] and second["rmse"] == first["rmse"]
    rewritten = train_step.read_bytes()
    assert rewritten != damaged
    assert hashlib.sha256(rewritten[32:]).digest() == rewritten[:32]

    # Another step's executable under the train step's name: its checksum holds, it is not
    # the train step; it is compiled again all the same.
    other = next(home.rglob("steps/*/test-*.xla")).read_bytes()
    train_step.write_bytes(other)
    third = warm_run("third")
    assert (third["status"], third["fit"]) == ("ok", "warm")
    assert third["skill"] == first["skill"] and third["rmse"] == first["rmse"]
    assert train_step.read_bytes() not in (other, damaged)


@pytest.mark.slow
def test_a_weights_file_missing_a_variable_costs_a_full_fit(saved_then_an_hour):
    url, coin_id, art, _, _ = saved_then_an_hour
    with h5py.File(_weights(art), "r+") as h5:
        del h5["optimizer/vars/3"]
    result = _train(url, art, coin_id, "r2")
    assert result["status"] == "ok" and result["fit"] == "full"
    assert result["fit_reason"].startswith("warm start failed: weights of ")
    assert "do not load" in result["fit_reason"]


@pytest.mark.slow
def test_a_full_fit_on_compiled_steps_equals_keras_fit(synthetic_candles, sqlite_url, tmp_path,
                                                      monkeypatch):
    """From the same seed: the same weights, optimizer state and figures as Keras' fit, over
    an epoch of several calls (chunks of whole batches, the rest, a partial last batch) and
    early stopping."""
    url = sqlite_url
    coin_id, _ = load_pair(url, synthetic_candles / f"{SYMBOL}.csv", 3000)
    monkeypatch.setattr(network, "CHUNK", 2)  # 1,700-odd samples: chunks, rest, part
    flags = ("--epochs", "4", "--patience", "1")
    compiled = _train(url, tmp_path / "compiled", coin_id, "compiled", *flags)
    compiled_weights = _datasets(tmp_path / "compiled" / "weights" /
                                 f"weight_{SYMBOL}.weights.h5")
    with monkeypatch.context() as patch:
        patch.setattr(backend, "step_cache_dir", lambda: None)
        keras_run = _train(url, tmp_path / "keras", coin_id, "keras", *flags)
    keras_weights = _datasets(tmp_path / "keras" / "weights" / f"weight_{SYMBOL}.weights.h5")
    assert compiled["fit"] == keras_run["fit"] == "full"
    n_train = _rows(url)[0].n_train
    assert n_train % 128 and n_train // 128 > 2 * network.CHUNK  # every kind of call
    assert sorted(compiled_weights) == sorted(keras_weights)
    for name, value in keras_weights.items():
        np.testing.assert_allclose(compiled_weights[name], value, rtol=1e-5, atol=1e-7,
                                   err_msg=name)
    assert compiled["epochs_run"] == keras_run["epochs_run"]
    for key in ("rmse", "skill", "predicted_close", "shrinkage"):
        assert compiled[key] == pytest.approx(keras_run[key], rel=1e-5, abs=1e-12), key
