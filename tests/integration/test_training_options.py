"""Training options end to end: --horizon K (the next K closes), --with (other pairs' candles
as inputs), --interval (another candle table), and an option added in one place
(train/config.py's TrainConfig) reaching the flags, every pair's process and the stored
settings.

Real parts only: the first 1,200 SYNTHETIC SYNTH1ETH candles of tests/synthetic.py (they hold
two gaps where the real ADAETH file has its maintenance gaps, 2021-04-20 and 2021-04-25) and
the same hours of a second synthetic pair (SYNTH6ETH) in a real SQLite database, real Keras
training on JAX in this process (2 epochs), the real CLI for bad input and --interval.
Expected figures are recomputed here from the CSV text. The --interval tests use the
synthetic hourly and 5-minute series of tests/synthetic.py.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.cli import main
from coinlstm.app.commands.train import add_training_arguments, options_from_args
from coinlstm.app.demo import END_OPEN_MS, synthetic_klines
from coinlstm.app.jobs.pair_job import train_pair
from coinlstm.core import config
from coinlstm.core.errors import BadInput
from predict.artifacts import read_attributes
from tests.child_hooks.coinlstm_faults import OPTION
from tests.helpers import (
    TEST_HOME,
    fingerprint,
    import_into,
    run_cli,
    valid_samples,
    write_csv,
    write_dump,
    write_sample,
)
from tests.synthetic import FIVE_MINUTES_MS, HOURLY, INTERVAL_SYMBOL
from tests.trainkit import FAST, folder_snapshot, load_pair
from train.dataset import build_dataset, lead
from train.formulations.returns import RETURN_FEATURES
from train.prediction_bands import DEFAULT_CALIBRATION_SIZE

HOUR_MS = 3_600_000
ROWS = 1200
TEST_SIZE = 48
SYMBOL = "SYNTH1ETH"
#: The --with pair.
WITH = "SYNTH6ETH"
#: Index (in the first ROWS candles) of the hour the --with pair loses in the alignment test.
MISSING = 1100


def _train(db_url: str, art, coin_id: int, *flags: str):
    """train_pair with options parsed by the CLI's own parser (FAST + flags), on JAX."""
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    options = options_from_args(parser.parse_args([*FAST, "--backend", "jax", *flags]))
    settings = config.load(db_url=db_url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})
    return train_pair(settings, coin_id, SYMBOL, options, run_id="h"), settings, options


def _rows(db_url: str) -> tuple:
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            return (conn.execute(sa.select(db.historical_train)).one(),
                    conn.execute(sa.select(db.historical_price_predictions)).one())
    finally:
        engine.dispose()


def _newest(db_url: str, symbol: str, count: int) -> tuple[list[int], np.ndarray]:
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            coin = db.coin_by_symbol(conn, symbol)
            times, values = db.load_training_rows(conn, coin.id, newest=count)
    finally:
        engine.dispose()
    return times, np.array(values)


@pytest.fixture
def pair(synthetic_candles, sqlite_url):
    coin_id, rows = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    return coin_id, rows


@pytest.mark.slow
@pytest.mark.parametrize("target", ["return", "close"])
def test_horizon_16_forecasts_16_closes_with_figures_over_every_step(pair, sqlite_url,
                                                                      tmp_path, target):
    coin_id, rows = pair
    k = 16
    result, settings, options = _train(sqlite_url, tmp_path / "art", coin_id, "--horizon",
                                       str(k), "--target", target)
    assert len(result.forecasts) == k and result.predicted_close == result.forecasts[0]
    assert "per step:" in result.report and f"next {k} closes" in result.report

    # The test slice recomputed from the CSV text: the newest 48 samples, each the 16 closes
    # after its window; the naive forecast repeats the close before them for every step.
    times = np.array([int(row[0]) for row in rows])
    closes = np.array([float(row[4]) for row in rows])
    first = np.arange(ROWS - k - TEST_SIZE + 1, ROWS - k + 1)
    assert np.all(np.diff(times[first[0] - 2:]) == HOUR_MS)  # no gap in the newest candles
    actual = closes[first[:, None] + np.arange(k)]
    naive = np.broadcast_to(closes[first - 1][:, None], actual.shape)
    naive_errors = naive - actual

    train, prediction = _rows(sqlite_url)
    assert (train.horizon, prediction.horizon, train.target) == (k, k, target)
    stored_closes = np.array(json.loads(train.price_test))
    stored_predictions = np.array(json.loads(train.price_predict))
    assert stored_closes.shape == stored_predictions.shape == (TEST_SIZE, k)
    np.testing.assert_allclose(stored_closes, actual, rtol=1e-12)
    assert train.naive_RMSE == pytest.approx(float(np.sqrt(np.mean(naive_errors ** 2))))
    assert train.naive_MAE == pytest.approx(float(np.mean(np.abs(naive_errors))))
    assert train.naive_max_error == pytest.approx(float(np.max(np.abs(naive_errors))))
    assert train.naive_MAPE == pytest.approx(
        float(np.mean(np.abs(naive_errors) / actual) * 100.0))
    assert train.naive_direction_accuracy == pytest.approx(float(np.mean(naive_errors == 0)))
    model_errors = stored_predictions - actual
    assert train.RMSE == pytest.approx(float(np.sqrt(np.mean(model_errors ** 2))), rel=1e-9)
    assert train.skill == pytest.approx(1 - train.RMSE / train.naive_RMSE, rel=1e-9)
    # Per-step RMSE, as the report prints it: step 1 and step 16, model and naive.
    step_rmse = np.sqrt(np.mean(model_errors ** 2, axis=0))
    naive_step = np.sqrt(np.mean(naive_errors ** 2, axis=0))
    lines = result.report.splitlines()
    for step in (1, k):
        assert any(line.split()[:3] == [str(step), f"{step_rmse[step - 1]:.6g}",
                                        f"{naive_step[step - 1]:.6g}"] for line in lines), step
    # All samples (gap-free by hand) minus the 3 x 15 purged before validation, calibration
    # and test.
    reach = options.window + lead(target)
    assert train.n_cal == DEFAULT_CALIBRATION_SIZE
    assert train.n_train + train.n_val + train.n_cal + train.n_test == \
        len(valid_samples(times, reach, k)) - 3 * (k - 1)

    # The predictions row: first step in price_preidct_last, all 16 in price_predict_horizon.
    assert prediction.price_preidct_last == pytest.approx(result.forecasts[0], rel=1e-12)
    assert json.loads(prediction.price_predict_horizon) == pytest.approx(result.forecasts,
                                                                         rel=1e-12)
    stored = json.loads(prediction.price_predict)
    assert len(stored) == TEST_SIZE + 1 and stored[-1] == pytest.approx(result.forecasts)
    assert json.loads(prediction.price_actual) == json.loads(train.price_test)
    assert prediction.price_predict_previous is not None

    # The saved model alone forecasts the same 16 closes; forecast_next stays one float.
    from predict.artifacts import load_model
    from predict.forecast import forecast_next, forecast_path

    loaded = load_model(settings, SYMBOL)
    assert loaded.meta["horizon"] == k and loaded.model.output_shape == (None, k)
    _, newest = _newest(sqlite_url, SYMBOL, reach)
    assert forecast_path(settings, SYMBOL, newest) == pytest.approx(result.forecasts, rel=1e-5)
    assert forecast_next(settings, SYMBOL, newest) == pytest.approx(result.forecasts[0],
                                                                    rel=1e-5)


@pytest.fixture
def two_pairs(pair, synthetic_candles, sqlite_url):
    """SYNTH1ETH plus the --with pair, which lacks one hour (index MISSING) SYNTH1ETH has."""
    coin_id, rows = pair
    missing = int(rows[MISSING][0])

    def drop_hour(other_rows: list[list[str]]) -> None:
        assert int(other_rows[MISSING][0]) == missing
        del other_rows[MISSING]

    load_pair(sqlite_url, synthetic_candles / f"{WITH}.csv", ROWS, edit=drop_hour)
    return coin_id, rows, missing


@pytest.mark.slow
@pytest.mark.parametrize(("target", "horizon"), [("close", 1), ("return", 4)])
def test_with_pair_adds_features_aligned_by_open_time(two_pairs, sqlite_url, tmp_path,
                                                      target, horizon):
    coin_id, rows, missing = two_pairs
    result, settings, options = _train(sqlite_url, tmp_path / "art", coin_id, "--with", WITH,
                                       "--target", target, "--horizon", str(horizon))
    train, prediction = _rows(sqlite_url)
    assert json.loads(train.settings)["with_pairs"] == [WITH]
    assert prediction.price_preidct_last == pytest.approx(result.predicted_close, rel=1e-12)
    assert f"with {WITH}" in result.report

    # The alignment: the joined open times lack the missing hour, and no sample spans it.
    from train.candles import load_candles

    engine = db.open_database(sqlite_url)
    try:
        open_times, values, others = load_candles(engine, coin_id, SYMBOL, None, (WITH,))
    finally:
        engine.dispose()
    dataset = build_dataset(open_times, values, options.window, TEST_SIZE, 240, HOUR_MS,
                            target, horizon=horizon, with_series=others,
                            calibration_size=options.calibration_size)
    times = np.array([int(row[0]) for row in rows])
    assert dataset.open_times.tolist() == [t for t in times.tolist() if t != missing]
    reach = options.window + lead(target)
    split = dataset.split
    samples = np.concatenate([split.train, split.val, split.calibration, split.test])
    first_hours, last_hours = (dataset.open_times[samples - reach],
                               dataset.open_times[samples + horizon - 1])
    assert not np.any((first_hours < missing) & (last_hours > missing))
    # Every sample that read the dropped hour (as input, lead or target) is gone, no other.
    joined_valid = valid_samples(dataset.open_times, reach, horizon)
    assert len(joined_valid) == len(valid_samples(times, reach, horizon)) - (reach + horizon)
    purges = 3 if train.n_cal else 2  # before validation, calibration (if any) and test
    assert train.n_train + train.n_val + train.n_cal + train.n_test == \
        len(joined_valid) - purges * (horizon - 1)

    # Two more input features (the other pair's close and volume, as levels or as changes).
    from predict.artifacts import load_model
    from predict.forecast import forecast_path

    loaded = load_model(settings, SYMBOL)
    own = len(db.FEATURE_COLUMNS) if target == "close" else len(RETURN_FEATURES)
    assert loaded.model.input_shape[-1] == own + 2
    assert loaded.meta["with"] == [WITH]
    assert loaded.scaler["features"][-2:] == (
        [f"{WITH}.close", f"{WITH}.volume"] if target == "close"
        else [f"{WITH}.close_log_return", f"{WITH}.log_volume_change"])
    # The forecast helper needs the other pair's newest candles, at the same open times.
    own_times, newest = _newest(sqlite_url, SYMBOL, reach)
    other_times, other_newest = _newest(sqlite_url, WITH, reach)
    assert own_times == other_times
    assert forecast_path(settings, SYMBOL, newest, {WITH: other_newest}) == pytest.approx(
        result.forecasts, rel=1e-5)
    with pytest.raises(BadInput, match=f"also reads --with {WITH}"):
        forecast_path(settings, SYMBOL, newest)


@pytest.mark.parametrize(("flags", "words"), [
    (["--horizon", "0"], "--horizon must be at least 1, got 0"),
    (["--with", "NOPEETH"], "--with NOPEETH: no such pair in the database"),
    (["--with", SYMBOL], f"--with {SYMBOL} is the pair itself"),
    (["--with", "EMPTYETH"], "--with EMPTYETH: no candles in the database"),
    (["--with", "ethbtc"], "--with: invalid symbol 'ethbtc'"),
    (["--with", WITH], f"--with {WITH} has no candle of"),
])
def test_bad_horizon_or_with_exits_2_with_one_line_and_writes_nothing(
        synthetic_candles, sqlite_url, tmp_path, capsys, flags, words):
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", 300, tail=True)
    # The --with pair lacks SYNTH1ETH's newest hour: a forecast would start an hour too early.
    load_pair(sqlite_url, synthetic_candles / f"{WITH}.csv", 300, tail=True,
              edit=lambda other_rows: other_rows.pop())
    engine = db.open_database(sqlite_url)
    with db.transaction(engine) as conn:
        db.ensure_coin(conn, "EMPTYETH", "EMPTY", "ETH")
    engine.dispose()
    art = tmp_path / "art"
    before = fingerprint(sqlite_url)
    capsys.readouterr()
    code = main(["train", "-id", str(coin_id), "-symbol", SYMBOL, "--db", sqlite_url,
                 "--artifacts", str(art), "--backend", "jax", *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coinlstm train: error: "), err
    assert words in lines[0]
    assert fingerprint(sqlite_url) == before
    assert folder_snapshot(art) == {}


def test_train_5m_reads_its_table_and_respects_a_5m_gap(sqlite_url, tmp_path, cli):
    """``coinlstm train --interval 5m``: the 5m series (one candle missing mid-way), not the
    hourly one, is trained on; the forecast is for 5 minutes after the newest candle."""
    series = synthetic_klines(400, seed=13, interval_ms=FIVE_MINUTES_MS)
    del series[200]  # a gap of one 5-minute candle
    import_into(sqlite_url, [write_dump(tmp_path / "5m", f"{INTERVAL_SYMBOL}-5m-2024-12", series),
                         write_csv(tmp_path / "hourly", INTERVAL_SYMBOL, HOURLY)])
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        coin_id = db.coin_by_symbol(conn, INTERVAL_SYMBOL).id
    engine.dispose()
    art = tmp_path / "art"
    result_path = tmp_path / "result.json"

    done = cli("train", "-id", str(coin_id), "-symbol", INTERVAL_SYMBOL, "--interval", "5m",
                   "--epochs", "1", "--val-size", "16", "--backend", "jax", "--db", sqlite_url,
                   "--artifacts", str(art), "--result-json", str(result_path))

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(result_path.read_text())
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
        prediction = conn.execute(sa.select(db.historical_price_predictions)).one()
    engine.dispose()
    assert result["openTime_last"] == train.openTime_newest == END_OPEN_MS
    assert result["openTime_next"] == prediction.openTime_next == END_OPEN_MS + FIVE_MINUTES_MS
    # 399 candles give 397 samples of the return target (each needs the candle before its
    # window); the missing candle drops exactly the 2 that would span it. Stitching across
    # the gap would keep 397; hourly steps on 5m candles would keep none.
    assert train.n_train + train.n_val + train.n_cal + train.n_test == 395
    assert json.loads(train.price_test) == pytest.approx(
        [float(line.split(",")[4]) for line in series[-train.n_test:]])
    assert (train.interval, prediction.interval) == ("5m", "5m")
    assert json.loads(train.settings)["interval"] == "5m"
    from predict.artifacts import read_attributes

    settings = config.load(db_url=sqlite_url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})
    assert read_attributes(settings, INTERVAL_SYMBOL)[2]["interval"] == "5m"


@pytest.mark.parametrize("command", [
    ["train", "-id", "1", "-symbol", INTERVAL_SYMBOL],
    ["run", "--market", "ETH", "--skip-crawl"],
    ["evaluate", "--market", "ETH"],
    ["crawl", "--market", "ETH"],
    ["import", "IMPORT_FILE"],
], ids=lambda command: command[0])
def test_an_unknown_interval_is_one_line_exit_2_and_changes_nothing(command, sqlite_url,
                                                                    tmp_path, cli):
    hourly = write_csv(tmp_path / "hourly", INTERVAL_SYMBOL, HOURLY)
    import_into(sqlite_url, [hourly])
    before = fingerprint(sqlite_url)
    art = tmp_path / "art"
    argv = [str(hourly) if part == "IMPORT_FILE" else part for part in command]

    # Nothing answers on port 1: a command that reached the exchange would exit 1, not 2.
    done = cli(*argv, "--interval", "7m", "--db", sqlite_url, "--artifacts", str(art),
                   "--binance-url", "http://127.0.0.1:1")

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown interval '7m'" in lines[0], done.stderr
    assert fingerprint(sqlite_url) == before
    assert not art.exists()


@pytest.mark.slow
def test_an_option_added_in_one_place_reaches_the_flags_the_pairs_and_the_stored_settings(
        synthetic_candles, sqlite_url, tmp_path):
    """TrainConfig gains one field, in train/config.py's class and nowhere else (the tests'
    child hook declares it, in every process the job starts): it is a flag of train and run
    (--help), the market job passes it to each pair's process, which checks it and stores
    it with its rows and its model; without the field there is no such flag."""
    pairs = ("SYNTH1ETH", "SYNTH2ETH")
    for symbol in pairs:
        write_sample(synthetic_candles / f"{symbol}.csv", tmp_path / "data", 700)
    import_into(sqlite_url, [tmp_path / "data"])
    with_option = {OPTION: "1"}
    for command in ("train", "run"):
        shown = run_cli(command, "--help", env=with_option)
        assert "--test-depth N" in shown.stdout and "a test-only option (default 3)" in shown.stdout
    art = tmp_path / "art"
    common = ["run", "--market", "ETH", "--skip-crawl", "--db", sqlite_url, "--artifacts",
              str(art), "--workers", "2", "--no-progress", "--epochs", "1", "--val-size", "96",
              "--test-size", "24"]
    refused = run_cli(*common, "--test-depth", "0", env=with_option)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--test-depth must be at least 1, got 0" in refused.stderr
    done = run_cli(*common, "--test-depth", "7", env=with_option)
    assert done.returncode == 0, done.stdout + done.stderr
    engine = db.open_database(sqlite_url)
    try:
        with engine.connect() as conn:
            stored = {row.symbol: json.loads(row.settings) for row in conn.execute(
                sa.select(db.coin_info.c.symbol, db.historical_train.c.settings).join(
                    db.historical_train,
                    db.historical_train.c.id_coin == db.coin_info.c.id))}
    finally:
        engine.dispose()
    assert {symbol: settings["test_depth"] for symbol, settings in stored.items()} == {
        "SYNTH1ETH": 7, "SYNTH2ETH": 7}
    saved = config.load(db_url=sqlite_url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})
    for symbol in pairs:
        _, _, meta = read_attributes(saved, symbol)
        assert meta["options"]["test_depth"] == 7
    unknown = run_cli(*common, "--test-depth", "7")
    assert unknown.returncode == 2 and "unrecognized arguments: --test-depth" in unknown.stderr
