"""Hour by hour: each case's test hours (``hours.csv``) and its Diebold-Mariano test.

Why: a case's skill is one number over its test hours, and a week of hourly errors is noisy.
Whether a case that beat the last close did so by more than luck needs the hours themselves:
the Diebold-Mariano test of the model's squared errors against the naive forecast's
(predict/track_record.py, the test the track record runs on live forecasts, with its
Newey-West variance for autocorrelated errors). A case whose forecast *is* the last close
every hour (shrinkage a = 0) has nothing to test and gets no statistic.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from coinlstm.core.klines import ms_to_utc
from predict.track_record import diebold_mariano
from train.backtest_scores import HOURS

HOURS_FILE = "hours.csv"
#: Columns of hours.csv: one row per test hour of every case.
HOUR_COLUMNS: tuple[str, ...] = ("pair", "model", "fold", "repeat", "open_time_ms",
                                 "open_time", "actual", "forecast", "naive")
#: A case's DM columns: the statistic (< 0: smaller squared errors than naive) and the
#: one-sided p-value that the model's mean squared error is below naive's.
DM_STATISTIC, DM_P_BETTER = "dm_statistic", "dm_p_better"


def add_dm_tests(cases: list[dict]) -> None:
    """Each case's :data:`DM_STATISTIC` and :data:`DM_P_BETTER` (None without a test)."""
    for case in cases:
        hours = case.get(HOURS)
        test = None
        if hours:
            actual = np.asarray(hours["actual"], dtype=np.float64)
            test = diebold_mariano(np.asarray(hours["forecast"], dtype=np.float64) - actual,
                                   np.asarray(hours["naive"], dtype=np.float64) - actual)
        case[DM_STATISTIC] = None if test is None else test.statistic
        case[DM_P_BETTER] = None if test is None else test.p_better


def write_hours(path: Path, cases: list[dict]) -> None:
    """hours.csv (:data:`HOUR_COLUMNS`), written under a temporary name and then renamed."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HOUR_COLUMNS)
        for case in cases:
            hours = case.get(HOURS)
            if not hours:
                continue
            key = (case["pair"], case["model"], case["fold"], case["repeat"])
            for ms, actual, forecast, naive in zip(hours["open_time_ms"], hours["actual"],
                                                   hours["forecast"], hours["naive"],
                                                   strict=True):
                writer.writerow((*key, ms, ms_to_utc(ms), repr(actual), repr(forecast),
                                 repr(naive)))
    os.replace(temp, path)
