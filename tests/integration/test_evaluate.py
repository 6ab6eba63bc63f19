"""``coinlstm evaluate``: walk-forward folds that cannot see the future, the CLI end to end.

Real parts only: the SYNTHETIC candles of tests/synthetic.py (the first 1,500 of SYNTH1ETH
hold two gaps, placed as the real ADAETH file's; the fold test also removes one candle inside
the folds) in SQLite and MySQL, real Keras
training (1 epoch) in the command's own spawned processes.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS, synthetic_klines
from coinlstm.app.jobs.evaluate_report import CASE_COLUMNS
from coinlstm.app.jobs.pair_job import TrainOptions
from coinlstm.core.columns import FEATURE_COLUMNS
from tests.helpers import import_into, write_csv, write_dump
from tests.synthetic import FIVE_MINUTES_MS, HOURLY, INTERVAL_SYMBOL
from tests.trainkit import load_pair
from train import walkforward
from train.backtest_scores import band_case_columns
from train.dataset import MIN_TRAIN_SAMPLES, MIN_VAL_SAMPLES, lead, sample_targets

HOUR_MS = 3_600_000
ROWS = 1500
FOLDS = 4
FOLD_SIZE = 48
FAST = ["--epochs", "1", "--val-size", "48"]
#: The keys of every task outcome, evaluate's and the market job's (Outcome.to_dict), after
#: the task's own identity keys.
OUTCOME_KEYS = ["status", "seconds", "reason", "result", "peak_rss_mb", "log", "attempts"]


def _candles(url: str, coin_id: int) -> tuple[list[int], list[tuple[float, ...]]]:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return db.load_training_rows(conn, coin_id)
    finally:
        engine.dispose()


def _spiked(values: list[tuple[float, ...]], row: int) -> list[tuple[float, ...]]:
    """A copy with one candle's high and close 10x any other."""
    changed = list(values)
    candle = list(changed[row])
    for name in ("high", "close"):
        candle[FEATURE_COLUMNS.index(name)] *= 10.0
    changed[row] = tuple(candle)
    return changed


def _remove_one_inside_the_folds(rows: list[list[str]]) -> None:
    del rows[-70]  # a gap inside the newest folds: each target drops a different sample count


@pytest.mark.parametrize("target", ["close", "return"])
@pytest.mark.parametrize("window", [1, 3])
def test_folds_never_see_candles_after_their_block(synthetic_candles, sqlite_url, monkeypatch,
                                                   target, window):
    coin_id, _ = load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", ROWS,
                           edit=_remove_one_inside_the_folds)
    times, values = _candles(sqlite_url, coin_id)
    options = TrainOptions(target=target, window=window, val_size=96, test_size=FOLD_SIZE)
    passed_in: list[list[int]] = []
    real_build = walkforward.build_dataset

    def spy(open_times, *args, **kwargs):
        passed_in.append(list(open_times))
        return real_build(open_times, *args, **kwargs)

    monkeypatch.setattr(walkforward, "build_dataset", spy)
    built = walkforward.fold_datasets(times, values, options, FOLDS, FOLD_SIZE)
    targets = sample_targets(np.asarray(times), window + lead(target), HOUR_MS)

    assert [fold.index for fold, _ in built] == list(range(FOLDS))
    # The blocks, oldest first, are consecutive, do not overlap and end at the newest sample.
    blocks = [fold.test_targets for fold, _ in built]
    assert all(len(block) == FOLD_SIZE for block in blocks)
    assert np.array_equal(np.concatenate(blocks), targets[-FOLDS * FOLD_SIZE:])
    assert int(blocks[-1][-1]) == len(times) - 1
    for k, (fold, dataset) in enumerate(built):
        split = dataset.split
        # build_dataset got the candles up to the block's last target row, none later.
        assert passed_in[k] == times[:fold.end_row + 1]
        assert len(dataset.open_times) == fold.end_row + 1
        assert np.array_equal(split.test, fold.test_targets)
        before = np.concatenate([split.train, split.val])
        assert len(split.train) >= MIN_TRAIN_SAMPLES and len(split.val) >= MIN_VAL_SAMPLES
        assert before.max() < split.test.min()
        # Expanding window: every fold trains from the oldest sample, on a prefix of targets.
        assert np.array_equal(before, targets[:len(before)])
        if k:
            assert built[k - 1][0].end_row < int(split.test[0])

    # Changing candles after fold 1's block (the first one after it, the newest) changes
    # nothing of folds 0 and 1; changing one of fold 1's training candles does change its
    # scaler, so this comparison would see a leak.
    k = 1
    after = built[k][0].end_row + 1
    later = _spiked(_spiked(values, after), len(values) - 1)
    rebuilt = walkforward.fold_datasets(times, later, options, FOLDS, FOLD_SIZE)
    for j in range(k + 1):
        old, new = built[j][1], rebuilt[j][1]
        assert new.formulation.to_dict() == old.formulation.to_dict()
        for part in ("train", "val", "calibration", "test"):
            assert np.array_equal(getattr(new.split, part), getattr(old.split, part))
        assert np.array_equal(new.features, old.features)
    assert not np.array_equal(rebuilt[k + 1][1].features, built[k + 1][1].features)
    training_row = int(built[k][1].split.train[len(built[k][1].split.train) // 2])
    leaked = walkforward.fold_datasets(times, _spiked(values, training_row), options, FOLDS,
                                    FOLD_SIZE)
    assert leaked[k][1].formulation.to_dict() != built[k][1].formulation.to_dict()


def _naive_rmse(rows: list[list[str]], case: dict) -> float:
    """The naive RMSE recomputed from the CSV text on the case's own test target rows."""
    times = np.array([int(row[0]) for row in rows])
    closes = np.array([float(row[4]) for row in rows])
    window = 1 + lead(case["target"])
    targets = sample_targets(times, window, HOUR_MS)
    chosen = targets[(times[targets] >= int(case["test_start_ms"]))
                     & (times[targets] <= int(case["test_end_ms"]))]
    assert len(chosen) == int(case["n_test"]) == FOLD_SIZE
    return float(np.sqrt(np.mean((closes[chosen] - closes[chosen - 1]) ** 2)))


@pytest.mark.slow
def test_evaluate_cli_end_to_end(synthetic_candles, sqlite_url, tmp_path, cli):
    pairs = ("SYNTH1ETH", "SYNTH2ETH")
    rows = {symbol: load_pair(sqlite_url, synthetic_candles / f"{symbol}.csv", ROWS)[1]
            for symbol in pairs}
    out = tmp_path / "out"
    done = cli("evaluate", "--db", sqlite_url, "--market", "ETH",
                   "--models", "naive,reference,default", "--folds", "2", "--fold-size",
                   str(FOLD_SIZE), "--workers", "2", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    with (out / "cases.csv").open() as handle:
        cases = list(csv.DictReader(handle))
    assert len(cases) == len(pairs) * 3 * 2
    assert {(c["pair"], c["model"], c["fold"]) for c in cases} == {
        (p, m, f) for p in pairs for m in ("naive", "reference", "default") for f in "01"}
    for case in cases:
        if case["model"] == "naive":
            assert float(case["skill"]) == 0.0 and case["rmse"] == case["naive_rmse"]
        else:
            assert int(case["epochs_run"]) == 1 and float(case["seconds_per_epoch"]) > 0
            assert float(case["skill"]) == pytest.approx(
                1 - float(case["rmse"]) / float(case["naive_rmse"]), rel=1e-9)
        assert case["target"] == {"reference": "close"}.get(case["model"], "return")
        # naive is measured on exactly this case's own test rows
        assert float(case["naive_rmse"]) == pytest.approx(
            _naive_rmse(rows[case["pair"]], case), rel=1e-12)
        newest = int(rows[case["pair"]][-1][0])
        if case["fold"] == "1":
            assert int(case["test_end_ms"]) == newest
        else:
            assert int(case["test_end_ms"]) < newest - FOLD_SIZE * HOUR_MS + HOUR_MS
    assert (cases[0]["shrinkage"], next(c for c in cases if c["model"] == "default")
            ["shrinkage"] != "") == ("", True)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["exit_code"] == 0 and summary["failures"] == []
    assert summary["per_model"]["naive"]["median_skill"] == 0.0
    assert {m: s["cases"] for m, s in summary["per_model"].items()} == {
        "naive": 4, "reference": 4, "default": 4}
    assert set(summary["per_pair_median_skill"]) == set(pairs)
    assert (out / "skill.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "hours.csv").open() as handle:
        hours = list(csv.DictReader(handle))
    assert len(hours) == len(cases) * FOLD_SIZE
    for case in cases:  # every test hour, and the case's RMSE from them
        mine = [h for h in hours if (h["pair"], h["model"], h["fold"])
                == (case["pair"], case["model"], case["fold"])]
        assert [int(h["open_time_ms"]) for h in mine][::FOLD_SIZE - 1] == [
            int(case["test_start_ms"]), int(case["test_end_ms"])]
        errors = np.array([float(h["forecast"]) - float(h["actual"]) for h in mine])
        assert float(np.sqrt(np.mean(errors ** 2))) == pytest.approx(float(case["rmse"]),
                                                                      rel=1e-9)
        # a DM test whenever the forecast is not the last close every hour
        assert (case["dm_p_better"] == "") == all(h["forecast"] == h["naive"] for h in mine)
    for words in ("median skill", "sign p", "DM better/worse", "beats it",
                  "median skill per pair", str(out / "cases.csv")):
        assert words in done.stdout


def test_bad_input_and_failed_pairs(synthetic_candles, db_url, tmp_path, cli):
    load_pair(db_url, synthetic_candles / "SYNTH1ETH.csv", 400)
    load_pair(db_url, synthetic_candles / "SYNTH3ETH.csv", 100)  # too short for 2 folds of 24
    common = ["evaluate", "--db", db_url, "--market", "ETH", "--folds", "2",
              "--fold-size", "24", *FAST]
    for flags, words in ((["--models", "naive,lsmt"], "unknown model 'lsmt'"),
                         (["--only", "SYNTH1ETH,FOOETH"],
                          "not pairs of market ETH in the database: FOOETH"),
                         (["--with", "BTCETH"], "--with is not supported"),
                         (["--horizon", "4", "--schedule", "warm"], "full schedule only"),
                         # every chosen pair too short: bad input, before any task starts
                         (["--only", "SYNTH3ETH"], "no pair of market ETH has enough 1h "
                          "candles: 2 folds of 24 samples with --window 1 need at least 121, "
                          "the most is 100 (SYNTH3ETH)"),
                         (["--window", "100000"], "need at least 100120, the most is 400 "
                          "(SYNTH1ETH)")):
        done = cli(*common, *flags, "--out", str(tmp_path / "never"))
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr
        assert not (tmp_path / "never").exists()

    # A pair that is too short fails on its own line; the other is evaluated; exit 3.
    out = tmp_path / "out"
    done = cli(*common, "--models", "naive", "--out", str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    assert ("SYNTH3ETH naive repeat 0: failed: 98 usable samples, 2 folds of 24 need at least "
            "120") in done.stdout
    with (out / "cases.csv").open() as handle:
        assert [(c["pair"], c["fold"]) for c in csv.DictReader(handle)] == [
            ("SYNTH1ETH", "0"), ("SYNTH1ETH", "1")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"] == {"ok": 1, "failed": 1}
    # Failures in the executors' one schema (the market job's report has the same keys).
    [failure] = summary["failures"]
    assert list(failure) == ["coin_id", "symbol", "model", "repeat", *OUTCOME_KEYS]
    assert (failure["symbol"], failure["model"], failure["repeat"], failure["status"]) == (
        "SYNTH3ETH", "naive", 0, "failed")
    assert failure["reason"].startswith("98 usable samples")

    # A trained model's task fails in its own process (the subprocess executor's child):
    # the same line, the same schema, the child's exit code and log kept.
    out = tmp_path / "trained"
    done = cli(*common, "--models", "default", "--only", "SYNTH1ETH,SYNTH3ETH", "--out",
               str(out))
    assert done.returncode == 3, done.stdout + done.stderr
    assert ("SYNTH3ETH default repeat 0: failed: 98 usable samples, 2 folds of 24 need at least "
            "120") in done.stdout
    [failure] = json.loads((out / "summary.json").read_text())["failures"]
    assert list(failure) == ["coin_id", "symbol", "model", "repeat", *OUTCOME_KEYS]
    assert (failure["status"], failure["result"]["exit_code"]) == ("failed", 2)
    assert failure["log"] == str(out / "logs" / "SYNTH3ETH-default-0.log")
    assert "98 usable samples" in (out / "logs" / "SYNTH3ETH-default-0.log").read_text()


def test_evaluate_5m_folds_the_5m_series(sqlite_url, tmp_path, cli):
    """``coinlstm evaluate --interval 5m`` (the naive model: no training) reads the 5m table
    and plans its folds with 5-minute steps, around the missing candle."""
    series = synthetic_klines(400, seed=15, interval_ms=FIVE_MINUTES_MS)
    del series[200]
    import_into(sqlite_url, [write_dump(tmp_path / "5m", f"{INTERVAL_SYMBOL}-5m-2024-12", series),
                         write_csv(tmp_path / "hourly", INTERVAL_SYMBOL, HOURLY[-100:])])
    out = tmp_path / "out"

    done = cli("evaluate", "--market", "ETH", "--interval", "5m", "--models", "naive",
                   "--folds", "2", "--fold-size", "48", "--val-size", "16", "--out", str(out),
                   "--db", sqlite_url, "--artifacts", str(tmp_path / "art"))

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((out / "summary.json").read_text())["interval"] == "5m"
    # the legend and the plot name the interval (and the plot the exchange)
    assert "mean |5m close change|" in done.stdout and "test 5m candles" in done.stdout
    assert "hourly" not in done.stdout and "test hours" not in done.stdout
    from PIL import Image

    assert Image.open(out / "skill.png").text["Title"].startswith("binance ETH 5m: skill")
    with (out / "cases.csv").open() as handle:
        cases = {int(case["fold"]): case for case in csv.DictReader(handle)}
    newest = cases[1]
    assert int(newest["test_end_ms"]) == END_OPEN_MS
    assert int(cases[0]["test_end_ms"]) == END_OPEN_MS - 48 * FIVE_MINUTES_MS
    # 395 samples, as in the training test: the gap drops the 2 that would span it.
    assert sum(int(newest[key]) for key in ("n_train", "n_val", "n_cal", "n_test")) == 395


def test_evaluate_scores_the_bands(synthetic_candles, sqlite_url, tmp_path, cli):
    """static, ewma and naive (no training): every case carries coverage, width, Winkler and
    interval skill per level, recomputable from the CSV text for static; static's skill is 0;
    the table, summary.json and coverage.png say the same."""
    _, rows = load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", ROWS)
    out = tmp_path / "out"
    done = cli("evaluate", "--db", sqlite_url, "--market", "ETH", "--models",
               "naive,static,ewma", "--folds", "2", "--fold-size", str(FOLD_SIZE),
               "--levels", "0.8,0.9", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    with (out / "cases.csv").open() as handle:
        cases = list(csv.DictReader(handle))
    assert len(cases) == 3 * 2
    closes = np.array([float(row[4]) for row in rows])
    times = np.array([int(row[0]) for row in rows])
    for case in cases:
        for label in ("80", "90"):
            assert 0 <= float(case[f"coverage_{label}"]) <= 1
            assert 0 < float(case[f"width_{label}"]) <= float(case[f"winkler_{label}"])
        assert float(case["width_80"]) < float(case["width_90"])
        if case["model"] == "static":
            assert float(case["interval_skill_80"]) == 0.0
            # The static band recomputed from the CSV: quantiles of the 480 returns before
            # each test hour (fewer for the first hours of a short series).
            test = np.flatnonzero((times >= int(case["test_start_ms"]))
                                  & (times <= int(case["test_end_ms"])))
            inside = []
            for row in test:
                past = np.diff(np.log(closes[max(0, row - 1 - 480):row]))
                low, high = np.quantile(past, [0.1, 0.9])
                step = np.log(closes[row] / closes[row - 1])
                inside.append(low <= step <= high)
            assert float(case["coverage_80"]) == pytest.approx(np.mean(inside))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["levels"] == [0.8, 0.9]
    assert summary["per_model_bands"]["static"]["80"]["median_interval_skill"] == 0.0
    assert set(summary["per_pair_median_coverage"]["90"]) == {"SYNTH1ETH"}
    assert (out / "coverage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for words in ("prediction bands", "interval skill", "beats static", "coverage.png"):
        assert words in done.stdout
    # One step (no --horizon): the case columns of old, no per-step files or table.
    with (out / "cases.csv").open() as handle:
        assert csv.DictReader(handle).fieldnames == [*CASE_COLUMNS,
                                                     *band_case_columns((0.8, 0.9))]
    assert not (out / "steps.csv").exists() and not (out / "steps.png").exists()
    assert "per_step" not in summary and "skill per forecast step" not in done.stdout
