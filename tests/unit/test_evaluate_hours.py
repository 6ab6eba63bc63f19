"""evaluate's hour-by-hour figures: the per-case Diebold-Mariano test and hours.csv."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from coinlstm.app.jobs.evaluate_hours import HOUR_COLUMNS, add_dm_tests, write_hours
from train.backtest_scores import HOURS, summarise

HOUR_MS = 3_600_000


def _case(model: str, fold: int, forecast: np.ndarray, actual: np.ndarray,
          naive: np.ndarray) -> dict:
    rmse = float(np.sqrt(np.mean((forecast - actual) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((naive - actual) ** 2)))
    return {"pair": "AETH", "model": model, "fold": fold, "repeat": 0,
            "skill": 1 - rmse / naive_rmse, "mase": None, "mape": None,
            "direction_accuracy": None, "seconds_per_epoch": None,
            HOURS: {"open_time_ms": [1_600_000_000_000 + i * HOUR_MS
                                     for i in range(len(actual))],
                    "actual": actual.tolist(), "forecast": forecast.tolist(),
                    "naive": naive.tolist()}}


@pytest.fixture
def walk():
    """168 hours of a random walk: the last close (naive) and the next close (actual)."""
    rng = np.random.default_rng(7)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, 169)))
    return closes[1:], closes[:-1]


def test_dm_test_tells_a_real_gain_from_none_and_from_a_loss(walk):
    actual, naive = walk
    rng = np.random.default_rng(8)
    cases = [
        # Most of each hour's move foreseen: clearly better than the last close.
        _case("good", 0, naive + 0.7 * (actual - naive), actual, naive),
        # The last close itself (shrinkage a = 0): nothing to test.
        _case("same", 0, naive.copy(), actual, naive),
        # Random moves as large as the real ones: clearly worse.
        _case("bad", 0, naive * np.exp(rng.normal(0.0, 0.02, len(naive))), actual, naive),
    ]
    add_dm_tests(cases)
    good, same, bad = cases
    assert good["dm_statistic"] < 0 and good["dm_p_better"] < 0.01
    assert same["dm_statistic"] is None and same["dm_p_better"] is None
    assert bad["dm_statistic"] > 0 and bad["dm_p_better"] > 0.99
    summary = summarise(cases, ["good", "same", "bad"])
    assert [(summary[m]["dm_better_cases"], summary[m]["dm_worse_cases"])
            for m in ("good", "same", "bad")] == [(1, 0), (0, 0), (0, 1)]


def test_a_case_without_hours_gets_no_test():
    cases = [{"pair": "AETH", "model": "default", "fold": 0, "repeat": 0}]
    add_dm_tests(cases)
    assert cases[0]["dm_statistic"] is None and cases[0]["dm_p_better"] is None


def test_hours_csv_has_every_test_hour_of_every_case(walk, tmp_path):
    actual, naive = walk
    forecast = naive + 0.1 * (actual - naive)
    cases = [_case("default", 0, forecast, actual, naive),
             _case("default", 1, forecast[:24], actual[:24], naive[:24]),
             {"pair": "AETH", "model": "x", "fold": 0, "repeat": 0}]  # no hours: no rows
    path = tmp_path / "hours.csv"
    write_hours(path, cases)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == HOUR_COLUMNS
    assert [int(r["fold"]) for r in rows] == [0] * 168 + [1] * 24
    assert [float(r["forecast"]) for r in rows[:168]] == forecast.tolist()
    assert [float(r["actual"]) for r in rows[168:]] == actual[:24].tolist()
    assert rows[1]["open_time"] == "2020-09-13 13:26" and not list(tmp_path.glob(".*tmp"))
