"""``coinlstm evaluate --horizon K``: skill and the DM test per forecast step, end to end.

Real parts: the SYNTHETIC candles of tests/synthetic.py (the first 1,500 of SYNTH1ETH hold
two gaps) in SQLite, real Keras training (1 epoch) in the command's own processes.
"""

from __future__ import annotations

import csv
import json
import struct

import numpy as np
import pytest

from coinlstm.app.jobs.evaluate_report import CASE_COLUMNS
from coinlstm.app.jobs.evaluate_steps import STEP_COLUMNS
from tests.trainkit import load_pair
from train.backtest_scores import band_case_columns
from train.dataset import lead, sample_targets

HOUR_MS = 3_600_000
ROWS = 1500
FOLD_SIZE = 48
HORIZON = 4
FAST = ["--epochs", "1", "--val-size", "48"]


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _naive_step_rmse(rows: list[list[str]], case: dict, h: int) -> float:
    """Step h's naive RMSE recomputed from the CSV text: the case's test samples (first
    target rows whose window and 4 targets span no gap), close[t + h - 1] against the last
    close close[t - 1]."""
    times = np.array([int(row[0]) for row in rows])
    closes = np.array([float(row[4]) for row in rows])
    targets = sample_targets(times, 1 + lead("return"), HOUR_MS, HORIZON)
    chosen = targets[(times[targets] >= int(case["test_start_ms"]))
                     & (times[targets] <= int(case["test_end_ms"]))]
    assert len(chosen) == int(case["n_test"]) == FOLD_SIZE
    return float(np.sqrt(np.mean((closes[chosen + h - 1] - closes[chosen - 1]) ** 2)))


@pytest.mark.slow
def test_evaluate_horizon_scores_every_step_against_naive(synthetic_candles, sqlite_url,
                                                          tmp_path, cli):
    _, rows = load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", ROWS)
    out = tmp_path / "out"
    done = cli("evaluate", "--db", sqlite_url, "--market", "ETH", "--models", "naive,reference",
               "--folds", "2", "--fold-size", str(FOLD_SIZE), "--horizon", str(HORIZON),
               "--workers", "1", "--out", str(out), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr

    steps = [f"skill_h{h}" for h in range(1, HORIZON + 1)]
    with (out / "cases.csv").open() as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [*CASE_COLUMNS, *band_case_columns((0.8, 0.95)), *steps]
        cases = list(reader)
    assert [(c["model"], c["fold"]) for c in cases] == [
        ("naive", "0"), ("naive", "1"), ("reference", "0"), ("reference", "1")]
    with (out / "steps.csv").open() as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == STEP_COLUMNS
        step_rows = list(reader)
    assert len(step_rows) == len(cases) * HORIZON
    for case in cases:
        mine = [r for r in step_rows if (r["model"], r["fold"]) == (case["model"], case["fold"])]
        assert [int(r["h"]) for r in mine] == list(range(1, HORIZON + 1))
        for r in mine:
            h = int(r["h"])
            # each step's naive RMSE is the last close's, on this case's own samples
            assert float(r["naive_rmse"]) == pytest.approx(_naive_step_rmse(rows, case, h),
                                                           rel=1e-9)
            assert float(r["skill"]) == pytest.approx(
                1 - float(r["rmse"]) / float(r["naive_rmse"]), rel=1e-9, abs=1e-12)
            assert float(case[f"skill_h{h}"]) == pytest.approx(float(r["skill"]), rel=1e-9)
        if case["model"] == "naive":
            assert all(float(case[name]) == 0.0 for name in steps)
            assert all(r["dm_p_better"] == "" for r in mine)  # nothing to test
        else:  # the level model moves away from the last close at every step: a test each
            assert all(0 <= float(r["dm_p_better"]) <= 1 for r in mine)
            assert all(float(case[name]) != 0.0 for name in steps)
        # step 1's test is the case's own (hours.csv's first steps, the same lags)
        assert mine[0]["dm_p_better"] == case["dm_p_better"]
        # the pooled skill lies within the steps' range of RMSE ratios
        assert float(case["skill"]) <= max(float(case[name]) for name in steps) + 1e-12

    summary = json.loads((out / "summary.json").read_text())
    assert summary["horizon"] == HORIZON
    per_step = summary["per_step"]
    assert [s["h"] for s in per_step["reference"]] == list(range(1, HORIZON + 1))
    assert all(s["cases"] == 2 and s["median_skill"] == 0.0 for s in per_step["naive"])
    assert all(s["dm_tests"] == 2 for s in per_step["reference"])
    model_skills = [float(c["skill_h2"]) for c in cases if c["model"] == "reference"]
    assert per_step["reference"][1]["median_skill"] == pytest.approx(np.median(model_skills))
    assert "4 steps each" in done.stdout
    table = done.stdout.split("skill per forecast step")[1].splitlines()
    assert [line.split()[:3] for line in table if line.startswith("reference")] == [
        ["reference", str(h), "2"] for h in range(1, HORIZON + 1)]
    # steps.png: one panel (the reference; naive's skill is 0 at every step)
    assert _png_size(out / "steps.png") == (480, 320)
    assert str(out / "steps.png") in done.stdout
