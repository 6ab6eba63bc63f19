"""Window-relative normalisation (``--target window``): x / x0 - 1, the window's return.

Real parts: the real ADAETH candles in a real SQLite database, real Keras training (JAX, in
this process, 2 epochs); the CLI for the bad-input case.
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core import config
from tests.conftest import REPO, fingerprint, run_cli
from tests.trainkit import load_pair, newest_features
from train.dataset import CLOSE_INDEX, build_dataset

HOUR_MS = 3_600_000


def _features(rows: list[list[str]]) -> tuple[list[int], np.ndarray]:
    times = [int(row[0]) for row in rows]
    return times, np.array([[float(row[i]) for i in (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)]
                            for row in rows])


def test_windows_are_divided_by_their_first_row(shared_data):
    from tests.conftest import read_csv_rows

    times, values = _features(read_csv_rows(shared_data / "ADAETH.csv", limit=800))
    dataset = build_dataset(times, values, 4, 48, 100, HOUR_MS, "window")
    targets = dataset.split.test[:5]
    inputs = dataset.inputs(targets)
    raw = values[targets[:, None] + np.arange(-4, 0)[None, :]]
    first = raw[:, :1, :]
    expected = np.where(first != 0, raw / np.where(first != 0, first, 1) - 1, 0)
    np.testing.assert_allclose(inputs, expected, rtol=1e-6, atol=1e-7)
    assert np.all(inputs[:, 0, :] == 0)  # every window starts at 0
    # Targets are the close over the window's first close, and turn back into the close.
    closes = values[:, CLOSE_INDEX]
    model_targets = dataset.scaled_targets(targets)[:, 0]  # K = 1
    np.testing.assert_allclose(model_targets, closes[targets] / closes[targets - 4] - 1,
                               rtol=1e-5)
    back = dataset.formulation.to_price(model_targets[:, None], dataset.price_bases(targets))[:, 0]
    np.testing.assert_allclose(back, closes[targets], rtol=1e-6)
    # A later (test) candle changes nothing about earlier samples: nothing is fitted.
    spiked = values.copy()
    spiked[-1, :5] *= 10
    again = build_dataset(times, spiked, 4, 48, 100, HOUR_MS, "window")
    np.testing.assert_array_equal(again.inputs(dataset.split.train),
                                  dataset.inputs(dataset.split.train))


def test_window_target_trains_stores_and_reloads(shared_data, sqlite_url, tmp_path):
    from coinlstm.app.pair_job import TrainOptions, train_pair
    from predict.forecast import forecast_next

    coin_id, _ = load_pair(sqlite_url, shared_data / "ADAETH.csv", 900, tail=True)
    settings = config.load(db_url=sqlite_url, artifacts=tmp_path / "art",
                           env={"COINLSTM_HOME": str(REPO)})
    options = TrainOptions(target="window", window=6, epochs=2, val_size=120, backend="jax")
    result = train_pair(settings, coin_id, "ADAETH", options)
    assert (result.target, result.shrinkage, result.edge) == ("window", None, None)
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
        prediction = conn.execute(sa.select(db.historical_price_predictions)).one()
    engine.dispose()
    assert train.target == prediction.target == "window"
    assert prediction.price_preidct_last == pytest.approx(result.predicted_close, rel=1e-12)
    newest = np.array(newest_features(sqlite_url, coin_id, 6))
    assert forecast_next(settings, "ADAETH", newest) == pytest.approx(result.predicted_close,
                                                                       rel=1e-5)


def test_window_target_needs_two_rows(shared_data, sqlite_url, tmp_path):
    coin_id, _ = load_pair(sqlite_url, shared_data / "ADAETH.csv", 400, tail=True)
    before = fingerprint(sqlite_url)
    done = run_cli("train", "-id", str(coin_id), "-symbol", "ADAETH", "--target", "window",
                   "--db", sqlite_url, "--artifacts", str(tmp_path / "art"))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "--window 2 or more" in lines[0]
    assert fingerprint(sqlite_url) == before and not (tmp_path / "art").exists()
