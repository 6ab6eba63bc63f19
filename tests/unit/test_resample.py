"""Coarser candles from finer ones (coinlstm/core/resample.py), checked by hand."""

from __future__ import annotations

import pytest

from coinlstm.core.errors import BadInput
from coinlstm.core.resample import aggregate, check_coarser

HOUR = 3_600_000
DAY_START = 1_688_083_200_000  # 2023-06-30 00:00 UTC


def _hour(index: int, open_, high, low, close, volume="1.5", trades=3) -> list:
    start = DAY_START + index * HOUR
    return [start, open_, high, low, close, volume, start + HOUR - 1, "0.10000000", trades,
            "0.5", "0.05", "0"]


def test_a_four_hour_candle_is_built_as_the_exchange_builds_it():
    hours = [_hour(0, "1.0", "1.2", "0.9", "1.1"), _hour(1, "1.1", "1.5", "1.0", "1.4"),
             _hour(2, "1.4", "1.45", "0.80000000", "0.95"), _hour(3, "0.95", "1.0", "0.9",
                                                                  "0.99", volume="2.25")]
    [candle] = aggregate(hours, HOUR, 4 * HOUR)
    assert candle == [DAY_START, "1.0", "1.5", "0.80000000", "0.99", "6.75",
                      DAY_START + 4 * HOUR - 1, "0.40000000", 12, "2.0", "0.20", "0"]


def test_incomplete_periods_are_left_out():
    # 02:00-03:00 of period 0 (no start), period 1 whole, period 2 lacks 09:00, period 3
    # has only its first hour (still open)
    present = [2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    built = aggregate([_hour(i, "1", "2", "0.5", "1") for i in present], HOUR, 4 * HOUR)
    assert [candle[0] for candle in built] == [DAY_START + 4 * HOUR]
    assert aggregate([], HOUR, 4 * HOUR) == []


def test_daily_from_hourly_needs_24_hours():
    day = [_hour(i, "1", "2", "0.5", "1") for i in range(24)]
    [candle] = aggregate(day, HOUR, 24 * HOUR)
    assert (candle[0], candle[6], candle[8]) == (DAY_START, DAY_START + 24 * HOUR - 1, 72)
    assert aggregate(day[1:], HOUR, 24 * HOUR) == []


@pytest.mark.parametrize(("fine", "coarse", "words"), [
    ("1h", "30m", "must be a whole multiple"), ("1h", "1h", "must be a whole multiple"),
    ("4h", "6h", "must be a whole multiple"), ("1h", "1w", "UTC day grid"),
    ("1h", "2d", "unknown interval '2d'")])
def test_intervals_that_cannot_be_built_are_refused(fine, coarse, words):
    with pytest.raises(BadInput, match=words):
        check_coarser(fine, coarse)
    assert check_coarser("5m", "4h") == (300_000, 4 * HOUR)
