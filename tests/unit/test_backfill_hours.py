"""Which hours a backfill replays, and its run ids: pure rules, no database."""

from __future__ import annotations

import argparse

import pytest

from coinlstm.app.jobs.backfill_pair import backfill_run_id, replayed_hours
from coinlstm.core.errors import BadInput
from train import config as train_config

HOUR_MS = 3_600_000


def _options(*flags: str):
    parser = argparse.ArgumentParser()
    train_config.add_arguments(parser)
    return train_config.from_args(parser.parse_args(list(flags)))


def test_the_hours_are_the_candles_of_the_last_days():
    times = [1_000 * HOUR_MS + hour * HOUR_MS for hour in range(100)]
    del times[90]  # a gap: the live job never ran that hour
    hours = replayed_hours(times, 1, needed=10, symbol="ADAETH")
    assert hours == [t for t in times if t > times[-1] - 24 * HOUR_MS] and len(hours) == 23
    with pytest.raises(BadInput, match="^ADAETH: --days 5 needs 2 candles"):
        replayed_hours(times, 5, needed=2, symbol="ADAETH")  # more days than it holds


def test_too_few_candles_for_the_days_is_one_line_naming_the_pair():
    times = [hour * HOUR_MS for hour in range(50)]
    with pytest.raises(BadInput, match=r"^ADAETH: --days 2 needs 30 candles before the first "
                                       r"backfilled hour; the pair holds 50 candles"):
        replayed_hours(times, 2, needed=30, symbol="ADAETH")
    with pytest.raises(BadInput, match="^ADAETH: no candles to backfill"):
        replayed_hours([], 1, needed=1, symbol="ADAETH")


def test_a_backfilled_hours_run_id_names_its_series_and_hour():
    default, close = _options(), _options("--target", "close")
    assert backfill_run_id(default, 7 * HOUR_MS) == backfill_run_id(default, 7 * HOUR_MS)
    assert backfill_run_id(default, 7 * HOUR_MS) != backfill_run_id(close, 7 * HOUR_MS)
    assert backfill_run_id(default, 7 * HOUR_MS) != backfill_run_id(default, 8 * HOUR_MS)
    assert len(backfill_run_id(default, 7 * HOUR_MS)) <= 64
