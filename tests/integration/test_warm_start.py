"""Warm start: a pair's next run fine-tunes its saved model; when it fits from scratch instead.

Real parts only: the SYNTHETIC SYNTH1ETH candles of tests/synthetic.py in SQLite (and MySQL
for the main case), real Keras training on JAX with tiny epochs, in this process through
``train_pair`` (what ``coinlstm train`` runs) and through the CLI's own processes for
``coinlstm run`` and ``coinlstm evaluate``. New hours arrive as new candles inserted between
runs: the warm-start rules read data time, never the wall clock.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.commands.train import add_training_arguments, options_from_args
from coinlstm.app.jobs.pair_job import train_pair
from coinlstm.core import config
from coinlstm.core.klines import parse_kline
from tests.helpers import TEST_HOME, import_into, read_csv_rows, run_cli, write_sample
from tests.trainkit import FAST, load_pair
from train.prediction_bands import DEFAULT_CALIBRATION_SIZE

SYMBOL = "SYNTH1ETH"
ROWS = 1500
#: A warm run's fine-tune, tiny: what every test here passes besides FAST. Two whole batches
#: of the default 128, as the default's 6: the fine-tune runs on compiled steps
#: (train/steps) as in the hourly job.
WARM = ["--warm-samples", "256", "--warm-epochs", "2"]
HOUR_MS = 3_600_000


@pytest.fixture
def pair(synthetic_candles, sqlite_url):
    """SYNTH1ETH's first ROWS candles in SQLite, and the candles after them to add."""
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    later = read_csv_rows(synthetic_candles / f"{SYMBOL}.csv", limit=ROWS + 10)[ROWS:]
    return sqlite_url, coin_id, later


def _options(*flags: str):
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return options_from_args(parser.parse_args([*FAST, *WARM, "--backend", "jax", *flags]))


def _settings(url: str, art: Path) -> config.Settings:
    return config.load(db_url=url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})


def _train(url: str, art: Path, coin_id: int, run_id: str, *flags: str) -> dict:
    result = train_pair(_settings(url, art), coin_id, SYMBOL, _options(*flags), run_id=run_id)
    return {**result.to_dict(), "report": result.report}


def _add_hours(url: str, coin_id: int, rows: list[list[str]]) -> None:
    """The next candles arrive, as a crawl would bring them."""
    engine = db.open_database(url)
    try:
        with db.transaction(engine) as conn:
            db.insert_candles(conn, [parse_kline(coin_id, row) for row in rows])
    finally:
        engine.dispose()


def _rows(url: str) -> list:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(db.historical_train)
                                .order_by(db.historical_train.c.id)).all()
    finally:
        engine.dispose()


def _saved(url: str, art: Path) -> tuple[dict, dict]:
    from predict.artifacts import read_attributes

    _, scaler, meta = read_attributes(_settings(url, art), SYMBOL)
    return scaler, meta


def _weights(art: Path) -> Path:
    return art / "weights" / f"weight_{SYMBOL}.weights.h5"


@pytest.mark.slow
def test_the_second_run_of_a_pair_fine_tunes_the_saved_model(synthetic_candles, db_url,
                                                              tmp_path):
    coin_id, _ = load_pair(db_url, synthetic_candles / f"{SYMBOL}.csv", ROWS)
    later = read_csv_rows(synthetic_candles / f"{SYMBOL}.csv", limit=ROWS + 1)[ROWS:]
    art = tmp_path / "art"
    first = _train(db_url, art, coin_id, "r1")
    assert (first["fit"], first["fit_reason"]) == ("full", "no saved model")
    scaler_full, meta_full = _saved(db_url, art)
    weights_full = _weights(art).read_bytes()

    _add_hours(db_url, coin_id, later)  # an hour later
    second = _train(db_url, art, coin_id, "r2")
    assert second["fit"] == "warm", second["fit_reason"]
    # Its refit is at its own hour of the cycle (the coin id's), at least 12 h away.
    assert second["fit_reason"].startswith("1 h of data since the last full fit, refit in ")
    assert second["fit_reason"].endswith(f"(hour {coin_id % 24} of its 24-h cycle)")
    assert "fit: warm (1 h of data since the last full fit" in second["report"]
    assert second["epochs_run"] <= 2 and second["openTime_last"] == first["openTime_last"] \
        + HOUR_MS

    # The rows: one per run, each saying how it was fitted; the warm one fine-tuned on the
    # newest 256 training samples and kept the full fit's validation and calibration slices.
    full_row, warm_row = _rows(db_url)
    assert (json.loads(full_row.settings)["fit"], json.loads(warm_row.settings)["fit"]) == (
        "full", "warm")
    assert (warm_row.run_id, warm_row.n_train, warm_row.n_val, warm_row.n_cal,
            warm_row.n_test) == ("r2", 256, full_row.n_val, full_row.n_cal, full_row.n_test)
    # The full fit trained on everything before its slices (1,500 candles less the 960-sample
    # calibration slice, 240 validation, 48 test): beyond the warm run's 256.
    assert full_row.n_cal == DEFAULT_CALIBRATION_SIZE and full_row.n_train > 256
    assert warm_row.skill == pytest.approx(second["skill"], rel=1e-12)

    # The model file: replaced (renamed into place, no temporary left), its scaler the full
    # fit's, its metadata the warm run's, the full fit's data time carried over.
    scaler_warm, meta_warm = _saved(db_url, art)
    assert _weights(art).read_bytes() != weights_full
    assert not list((art / "weights").glob(".*"))
    assert scaler_warm == scaler_full
    assert (meta_warm["fit"], meta_warm["run_id"], meta_warm["options"]["fit"]) == (
        "warm", "r2", "warm")
    assert meta_warm["full_fit_openTime"] == meta_full["full_fit_openTime"] == \
        first["openTime_last"]
    assert meta_warm["openTime_last"] == second["openTime_last"]
    assert meta_warm["fine_tune"]["epochs_run"] == second["epochs_run"]
    assert meta_full["fine_tune"] is None


@pytest.mark.slow
def test_a_changed_setting_refits_and_a_schedule_setting_does_not(pair, tmp_path):
    url, coin_id, later = pair
    art = tmp_path / "art"
    assert _train(url, art, coin_id, "r1")["fit"] == "full"
    _add_hours(url, coin_id, later[:1])
    # How warm runs go is no setting of the model: still warm.
    schedule = _train(url, art, coin_id, "r2", "--warm-epochs", "1", "--refit-every", "30")
    assert (schedule["fit"], schedule["epochs_run"]) == ("warm", 1)
    changed = _train(url, art, coin_id, "r3", "--patience", "5")
    assert (changed["fit"], changed["fit_reason"]) == ("full",
                                                       "settings changed: patience 30 -> 5")
    assert changed["epochs_run"] == 2  # a full fit's epochs (FAST), not a fine-tune's
    # --cold (--refit-every 0) fits from scratch whatever is saved.
    cold = _train(url, art, coin_id, "r4", "--patience", "5", "--cold")
    assert (cold["fit"], cold["fit_reason"]) == ("full",
                                                 "--refit-every 0: every run is a full fit")
    assert [json.loads(row.settings)["fit"] for row in _rows(url)] == [
        "full", "warm", "full", "full"]


def test_the_png_is_drawn_at_a_full_fit_and_when_missing_not_every_warm_hour(pair, tmp_path):
    url, coin_id, later = pair
    art = tmp_path / "art"
    png = art / "plots" / f"{SYMBOL}.png"

    def warm(run_id: str, hour: int, **plot: str) -> None:
        _add_hours(url, coin_id, later[hour:hour + 1])
        result = train_pair(_settings(url, art), coin_id, SYMBOL, _options(), run_id=run_id,
                            **plot)
        assert result.fit == "warm", result.fit_reason

    _train(url, art, coin_id, "r1")
    drawn = png.read_bytes()
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n"
    warm("r2", 0)  # the default: a warm hour keeps the full fit's picture
    assert png.read_bytes() == drawn
    warm("r3", 1, plot="every")  # the test slice moved by two hours: another picture
    redrawn = png.read_bytes()
    assert redrawn[:8] == drawn[:8] and redrawn != drawn
    png.unlink()
    warm("r4", 2, plot="never")
    assert not png.exists()
    warm("r5", 3)  # no PNG yet: drawn on a warm hour too
    assert png.read_bytes()[:8] == drawn[:8]


@pytest.mark.slow
def test_an_unreadable_saved_model_costs_a_full_fit_and_a_note(pair, tmp_path):
    url, coin_id, later = pair
    art = tmp_path / "art"
    _train(url, art, coin_id, "r1")
    weights = _weights(art)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # cut short
    _add_hours(url, coin_id, later[:1])
    result = _train(url, art, coin_id, "r2")
    assert result["status"] == "ok" and result["fit"] == "full" and result["fit_note"]
    assert result["fit_reason"].startswith("saved model unreadable: ")
    assert "fit: full (saved model unreadable: " in result["report"]
    # The new model is whole again: the next hour is warm.
    _add_hours(url, coin_id, later[1:2])
    assert _train(url, art, coin_id, "r3")["fit"] == "warm"


@pytest.mark.slow
def test_the_refit_falls_in_the_pairs_own_hour_of_the_cycle(pair, tmp_path):
    """--refit-every 2: the pair refits at the hours h of its newest candle's open time with
    (h - coin id) even, and is warm at the others (its data time, never the clock)."""
    url, coin_id, later = pair
    art = tmp_path / "art"
    runs = []
    for hour in range(4):
        if hour:
            _add_hours(url, coin_id, later[hour - 1:hour])
        runs.append(_train(url, art, coin_id, f"r{hour}", "--refit-every", "2"))
    assert (runs[0]["fit"], runs[0]["fit_reason"]) == ("full", "no saved model")
    slot = f"hour {coin_id % 2} of its 2-h cycle"
    fits = []
    for run in runs[1:]:
        on_slot = (run["openTime_last"] // HOUR_MS - coin_id) % 2 == 0
        fits.append(run["fit"])
        assert run["fit"] == ("full" if on_slot else "warm"), run["fit_reason"]
        if on_slot:
            assert run["fit_reason"].startswith(f"refit due: {slot}, "), run["fit_reason"]
        else:
            assert run["fit_reason"] == f"1 h of data since the last full fit, refit in 1 h " \
                                        f"({slot})"
    assert fits in (["full", "warm", "full"], ["warm", "full", "warm"])
    _, meta = _saved(url, art)
    last_full = max(i for i, run in enumerate(runs) if run["fit"] == "full")
    assert meta["full_fit_openTime"] == runs[last_full]["openTime_last"]
    # Run again within the same hour (no new candle): still warm, the data time did not move.
    assert _train(url, art, coin_id, "r4", "--refit-every", "2")["fit"] == "warm"


@pytest.mark.slow
def test_the_fine_tune_starts_from_the_saved_weights_and_changes_them(pair, tmp_path):
    """The warm run's starting validation loss is the saved model's own on that validation
    slice (a fresh initialisation's is another), and it saves different weights."""
    from predict.artifacts import artifact_paths, load_model, saved_fit
    from train import backend, finetune, warmstart
    from train.dataset import build_dataset
    from train.models import build_model

    url, coin_id, later = pair
    art = tmp_path / "art"
    flags = ("--target", "close")  # a level model after 2 epochs: far from converged
    first = _train(url, art, coin_id, "r1", *flags)
    settings, options = _settings(url, art), _options(*flags)
    saved_model = load_model(settings, SYMBOL).model
    before = [w.copy() for w in saved_model.get_weights()]
    _add_hours(url, coin_id, later[:1])

    # The warm run's dataset, rebuilt here as the run builds it.
    saved, problem = saved_fit(settings, SYMBOL)
    plan = warmstart.decide(saved, problem, {**options.to_dict(), "backend": "jax"},
                            options.refit_every, first["openTime_last"] + HOUR_MS)
    assert plan.warm, plan.reason
    engine = db.open_database(url)
    with engine.connect() as conn:
        times, values = db.load_training_rows(conn, coin_id, newest=plan.history(options))
    engine.dispose()
    dataset = build_dataset(times, values, 1, options.test_size, options.val_size, HOUR_MS,
                            "close", calibration_size=options.calibration_size,
                            **plan.dataset_arguments(options))
    val_inputs = dataset.inputs(dataset.split.val)
    val_targets = dataset.scaled_targets(dataset.split.val)

    def val_loss(model) -> float:
        outputs = np.asarray(model.predict(val_inputs, verbose=0)).reshape(val_targets.shape)
        return float(np.mean((outputs - val_targets) ** 2))

    # What the warm run starts from is the saved model: the same outputs.
    started = finetune.start_model(artifact_paths(settings, SYMBOL).weights,
                                   val_inputs.shape[1:], options)
    assert np.allclose(started.predict(val_inputs, verbose=0),
                       saved_model.predict(val_inputs, verbose=0), rtol=1e-6, atol=1e-7)
    backend.seed(1, "jax")
    fresh = build_model("lstm", val_inputs.shape[1:], options)

    second = _train(url, art, coin_id, "r2", *flags)
    assert second["fit"] == "warm", second["fit_reason"]
    _, meta = _saved(url, art)
    tuned = meta["fine_tune"]
    assert tuned["start_val_loss"] == pytest.approx(val_loss(saved_model), rel=1e-4)
    assert tuned["start_val_loss"] != pytest.approx(val_loss(fresh), rel=1e-2)
    # ... and the fine-tune improved on it, so the saved weights changed.
    assert tuned["best_epoch"] > 0 and tuned["best_val_loss"] < tuned["start_val_loss"]
    after = load_model(settings, SYMBOL).model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.slow
def test_every_pair_of_the_market_job_runs_warm_after_its_first_run(synthetic_candles,
                                                                      sqlite_url, tmp_path):
    pairs = ("SYNTH1ETH", "SYNTH2ETH")
    for symbol in pairs:
        write_sample(synthetic_candles / f"{symbol}.csv", tmp_path / "data", 900)
    import_into(sqlite_url, [tmp_path / "data"])
    common = ["run", "--market", "ETH", "--skip-crawl", "--db", sqlite_url, "--artifacts",
              str(tmp_path / "art"), "--workers", "2", "--no-progress", "--epochs", "2",
              "--val-size", "96", "--test-size", "24", *WARM]
    fits = []
    for hour in range(2):
        if hour:  # the next candle of each pair
            engine = db.open_database(sqlite_url)
            with engine.connect() as conn:
                ids = {symbol: int(db.coin_by_symbol(conn, symbol).id) for symbol in pairs}
            engine.dispose()
            for symbol in pairs:
                _add_hours(sqlite_url, ids[symbol], read_csv_rows(
                    synthetic_candles / f"{symbol}.csv", limit=901)[900:])
        report = tmp_path / f"report{hour}.json"
        pngs = {symbol: tmp_path / "art" / "plots" / f"{symbol}.png" for symbol in pairs}
        drawn = {symbol: png.read_bytes() for symbol, png in pngs.items() if png.exists()}
        # The second hour redraws its warm pairs' PNGs only as asked: the flag reaches them.
        done = run_cli(*common, "--report", str(report), *(["--plot", "every"] if hour else []))
        assert done.returncode == 0, done.stdout + done.stderr
        fits.append({p["symbol"]: p["result"]["fit"]
                     for p in json.loads(report.read_text())["pairs"]})
        assert all(png.read_bytes() != drawn.get(symbol) for symbol, png in pngs.items())
        header = next(line for line in done.stdout.splitlines() if line.startswith("symbol"))
        assert header.split()[:4] == ["symbol", "status", "seconds", "fit"]
    assert fits == [dict.fromkeys(pairs, "full"), dict.fromkeys(pairs, "warm")]


@pytest.mark.slow
def test_evaluate_scores_the_warm_schedule_beside_the_full_one(pair, tmp_path):
    url, _, _ = pair
    out = tmp_path / "out"
    done = run_cli("evaluate", "--market", "ETH", "--db", url, "--models", "naive,default",
                   "--schedule", "full,warm:2", "--folds", "2", "--fold-size", "5",
                   "--epochs", "1", "--val-size", "48", *WARM, "--workers", "2",
                   "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    with (out / "cases.csv").open() as handle:
        cases = list(csv.DictReader(handle))
    assert [(c["model"], c["fold"]) for c in cases] == [
        ("naive", "0"), ("naive", "1"), ("default", "0"), ("default", "1"),
        ("default@warm:2", "0"), ("default@warm:2", "1")]
    full = {c["fold"]: c for c in cases if c["model"] == "default"}
    for case in (c for c in cases if c["model"] == "default@warm:2"):
        # The same test rows as the full schedule's, scored against the same naive forecast.
        twin = full[case["fold"]]
        assert (case["n_test"], case["test_start_ms"], case["test_end_ms"]) == (
            "5", twin["test_start_ms"], twin["test_end_ms"])
        assert float(case["naive_rmse"]) == float(twin["naive_rmse"]) > 0
        assert case["skill"] != "" and float(case["coverage_80"]) >= 0
        # A full fit (1 epoch) and two warm runs (steps 2..3, 4) of at most 2 epochs each.
        assert 2 <= int(case["epochs_run"]) <= 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"] == ["naive", "default", "default@warm:2"]
    assert summary["schedules"] == ["full", "warm:2"]
    # The paired table: warm - full on the same pair and fold, as the cases say.
    paired = summary["schedule_differences"]["default@warm:2"]
    differences = sorted(float(case["skill"]) - float(full[case["fold"]]["skill"])
                         for case in cases if case["model"] == "default@warm:2")
    assert (paired["versus"], paired["cases"]) == ("default", 2)
    assert paired["median_difference"] == pytest.approx(float(np.median(differences)))
    assert "warm vs full schedule" in done.stdout and "default@warm:2" in done.stdout


def _one_fold(pair):
    """The pair's candles as one walk-forward fold of 6 test hours on the close target, JAX
    prepared: (options, fold, its dataset, (open times, values))."""
    from train import backend
    from train.walkforward import fold_datasets

    url, coin_id, _ = pair
    engine = db.open_database(url)
    with engine.connect() as conn:
        times, values = db.load_training_rows(conn, coin_id)
    engine.dispose()
    options = _options("--target", "close", "--val-size", "48", "--test-size", "6")
    backend.prepare("jax", _settings(url, Path(".")).cache_dir)
    (fold, dataset), = fold_datasets(times, values, options, 1, 6)
    return options, fold, dataset, (times, values)


def test_a_network_is_built_fitted_saved_and_loaded(pair, tmp_path):
    """A forecaster as the registry builds it from its options: fit returns it, predict
    gives its forecasts with bands, and the weights it saves (one file, no temp left) load
    into a network of the same options that forecasts the same closes."""
    from train import forecasters

    options, _, dataset, _ = _one_fold(pair)
    preset = forecasters.get("gru")
    preset.prepare_fit(options.seed, "jax")
    network = preset.build(options)
    assert (network.name, network.config.model, network.model) == ("gru", "gru", None)
    assert network.fit(dataset) is network
    forecast = network.predict(dataset)
    assert forecast.model is network.model and forecast.outcome is network.outcome
    assert forecast.bands is not None and forecast.test_predictions.shape == (6, 1)
    folder = tmp_path / "weights"
    folder.mkdir()
    path = folder / "gru.weights.h5"
    network.save(path)
    assert [file.name for file in folder.iterdir()] == [path.name]
    input_shape = tuple(dataset.inputs(dataset.split.val[:1]).shape[1:])
    loaded = type(network).load(network.config, "gru", path, input_shape)
    again = loaded.predict(dataset)
    np.testing.assert_allclose(again.test_predictions, forecast.test_predictions, rtol=1e-5)
    np.testing.assert_allclose(again.next_closes, forecast.next_closes, rtol=1e-5)
    assert again.outcome is None


@pytest.mark.slow
def test_a_warm_schedule_forecasts_each_step_from_the_model_of_that_step(pair):
    """In-process: the fold's first step is the full fit's forecast; later ones differ."""
    from train import forecasters
    from train.schedule import Schedule, fold_forecast

    options, fold, dataset, (times, values) = _one_fold(pair)
    forecaster = forecasters.get("lstm")
    results = {}
    for schedule in (Schedule(), Schedule(2)):
        forecaster.prepare_fit(options.seed, "jax")
        results[schedule.name] = fold_forecast(forecaster, schedule, fold, dataset, times,
                                               values, options)
    full, warm = results["full"].predictions, results["warm:2"].predictions
    assert full.shape == warm.shape == (6, 1)
    np.testing.assert_allclose(warm[:2], full[:2], rtol=1e-6)  # the same full fit
    assert not np.allclose(warm[2:], full[2:], rtol=1e-9, atol=0)  # fine-tuned models
    # Each step's bands surround its own forecasts.
    for band in results["warm:2"].bands.test:
        assert np.all(band.lower < warm) and np.all(warm < band.upper)


def test_a_blank_network_is_the_same_network_with_zero_kernels():
    """What a warm start builds before loading weights (train/models.py, blank): every zoo
    network with the same weights, the same layers and the same outputs once loaded."""
    from train import backend
    from train.models import MODEL_NAMES, build_model

    backend.prepare("jax", _settings("sqlite://", Path(".")).cache_dir)
    backend.load_keras("jax")
    options, shape = _options("--dropout", "0.1", "--l2", "1e-5"), (3, 8)
    inputs = np.random.default_rng(5).normal(size=(4, *shape)).astype("float32")
    for name in MODEL_NAMES:
        backend.seed(3, "jax")
        fitted, blank = build_model(name, shape, options), build_model(name, shape, options,
                                                                          blank=True)
        assert [type(layer).__name__ for layer in blank.layers] == [
            type(layer).__name__ for layer in fitted.layers]
        assert [w.shape for w in blank.get_weights()] == [w.shape for w in fitted.get_weights()]
        kernels = [w for w in blank.weights if "kernel" in w.path]
        assert kernels and all(not np.any(np.asarray(w)) for w in kernels), name
        blank.set_weights(fitted.get_weights())
        np.testing.assert_allclose(blank.predict(inputs, verbose=0),
                                   fitted.predict(inputs, verbose=0), rtol=1e-6)
