"""``HeldCandles`` (train/candles.py): a pair's candles read once answer every replayed hour
exactly as the database would have (``load_candles``, ``newest_open_time``), on SQLite and
MariaDB, with a --with pair that starts later and misses an hour."""

from __future__ import annotations

import numpy as np
import pytest

from coinlstm import db
from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from tests.trainkit import load_pair
from train.candles import HeldCandles, load_candles

SYMBOL, WITH = "SYNTH1ETH", "SYNTH2ETH"


def test_held_candles_answer_as_the_database(db_url, synthetic_candles):
    coin_id, rows = load_pair(db_url, synthetic_candles / f"{SYMBOL}.csv", 300)
    times = [int(row[0]) for row in rows]

    def later_and_gapped(fields):  # the --with pair starts 100 hours later, one hour missing
        del fields[:100]
        del fields[50]

    load_pair(db_url, synthetic_candles / f"{WITH}.csv", 300, edit=later_and_gapped)
    engine = db.open_database(db_url)
    try:
        held = HeldCandles.read(engine, coin_id, SYMBOL, (WITH,))
        alone = HeldCandles.read(engine, coin_id, SYMBOL, None)
        assert held.open_times == times and not alone.others
        refused = 0
        untils = [None, times[-1], times[-2], times[150], times[150] + 1, times[99],
                  times[0], times[0] - 1]
        for until in untils:
            with engine.connect() as conn:
                assert held.newest_open_time(until) == db.newest_open_time(conn, coin_id,
                                                                           until=until)
            for newest in (None, 1, 24, 200, 400):
                for source, pairs in ((held, (WITH,)), (alone, None)):
                    try:
                        expected = load_candles(engine, coin_id, SYMBOL, newest, pairs,
                                                until=until)
                    except BadInput as exc:  # the --with pair has no candles then
                        with pytest.raises(BadInput, match=str(exc).split(";")[0]):
                            source.load(newest, until)
                        refused += 1
                        continue
                    _assert_same_answer(source.load(newest, until), expected,
                                        (newest, until))
        assert refused > 0  # the --with pair's refusal is the database's too
    finally:
        engine.dispose()


def _assert_same_answer(held, expected, where) -> None:
    """The held answer is the database's: the same open times and --with series, and the
    same feature rows (held as one float64 array: train/candles.py ``HeldCandles``)."""
    times, values, others = held
    expected_times, expected_values, expected_others = expected
    assert times == expected_times and others == expected_others, where
    assert values.dtype == np.float64, where
    np.testing.assert_array_equal(
        values, np.array(expected_values, dtype=np.float64).reshape(len(expected_times),
                                                                    len(FEATURE_COLUMNS)),
        err_msg=str(where))
