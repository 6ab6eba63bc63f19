"""The all-time record from running sums (predict/running_record.py) against the one computed
from every score (predict/track_record.py), on random series added to in chunks of every
size: the same figures up to round-off, for short series (fewer scores than lags kept) and
long ones, with and without bands, moved and unmoved candles."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from coinlstm import db
from coinlstm.core.columns import STORED_LEVELS, band_columns, inside_column
from predict.running_record import all_time_record, appended, hac_variance
from predict.track_record import (
    BandSeries,
    band_width_pct,
    hac_variance_of_mean,
    newey_west_lags,
    track_record,
)


def _empty() -> dict:
    sums = {"newest": 0, **dict.fromkeys((*db.SUM_COUNTS, *db.SUM_TOTALS), 0)}
    sums.update(dict.fromkeys(db.lag_columns("lag"), 0.0))
    sums.update(dict.fromkeys((*db.lag_columns("head"), *db.lag_columns("tail"))))
    for level in STORED_LEVELS:
        sums.update(dict.fromkeys(db.sum_band_columns(level), 0))
    return sums


def _scores(count: int, rng: random.Random) -> list[dict]:
    rows = []
    for index in range(count):
        naive = 1.0 + rng.random()
        actual = naive if index % 17 == 5 else naive * math.exp(rng.gauss(0, 0.01))
        forecast = naive * math.exp(rng.gauss(0, 0.008))
        row = {"openTime_next": (index + 1) * 3_600_000, "naive": naive,
               "error": forecast - actual, "naive_error": naive - actual,
               "direction_hit": None if actual == naive else
               (forecast - naive) * (actual - naive) > 0,
               "source": "backfill" if index % 5 == 0 else "live"}
        for level in STORED_LEVELS:
            lower, upper = band_columns(level)
            banded = index % 4 != 0
            row[lower] = forecast * 0.99 if banded else None
            row[upper] = forecast * 1.01 if banded else None
            row[inside_column(level)] = (row[lower] <= actual <= row[upper]) if banded else None
        rows.append(row)
    return rows


def _recomputed(rows: list[dict]):
    bands = [BandSeries(level, [row[inside_column(level)] for row in rows],
                        [None if row[inside_column(level)] is None else
                         band_width_pct(row[band_columns(level)[0]],
                                        row[band_columns(level)[1]], row["naive"])
                         for row in rows]) for level in STORED_LEVELS]
    return track_record([r["openTime_next"] for r in rows], [r["error"] for r in rows],
                        [r["naive_error"] for r in rows], [r["direction_hit"] for r in rows],
                        {"all": None}, bands, [r["source"] for r in rows])[1][0]


@pytest.mark.parametrize("count", [1, 9, 10, 23, 24, 25, 60, 700])
def test_the_running_record_equals_the_recomputed_one(count):
    rng = random.Random(count)
    rows = _scores(count, rng)
    sums, start = _empty(), 0
    while start < count:  # chunks of 1 to 30 scores, as passes would add them
        size = rng.randint(1, 30)
        sums = appended(sums, rows[start:start + size])
        start += size
    ours, theirs = all_time_record(sums).to_dict(), _recomputed(rows).to_dict()
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        if isinstance(value, float):
            assert ours[name] == pytest.approx(value, rel=1e-9, abs=1e-15), name
        else:
            assert ours[name] == value, name


def test_the_variance_from_the_sums_is_newey_wests():
    rng = np.random.default_rng(4)
    values = np.cumsum(rng.normal(size=500)) * 0.1 + rng.normal(size=500)  # autocorrelated
    rows = [{"error": math.sqrt(abs(v)) if v > 0 else 0.0,
             "naive_error": math.sqrt(abs(v)) if v < 0 else 0.0} for v in values]
    differentials = np.array([r["error"] ** 2 - r["naive_error"] ** 2 for r in rows])
    sums = appended(_empty(), [{**row, "openTime_next": i + 1, "naive": 1.0,
                                "direction_hit": None, "source": "live",
                                **{name: None for level in STORED_LEVELS for name in
                                   (*band_columns(level), inside_column(level))}}
                               for i, row in enumerate(rows)])
    for lags in (0, 1, 5, newey_west_lags(500), 24):
        assert hac_variance(sums, lags) == pytest.approx(
            hac_variance_of_mean(differentials, lags), rel=1e-9)


def test_a_differential_that_never_varies_has_no_test():
    rows = [{"openTime_next": i + 1, "naive": 1.0, "error": 0.3, "naive_error": 0.1,
             "direction_hit": True, "source": "live",
             **{name: None for level in STORED_LEVELS for name in
                (*band_columns(level), inside_column(level))}} for i in range(50)]
    record = all_time_record(appended(_empty(), rows))
    assert record.scored == 50 and record.dm_stat is None and _recomputed(rows).dm_stat is None
