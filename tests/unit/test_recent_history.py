"""The groups and parts a scoring pass reads its series' last 30 days in
(predict/recent_history.py)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from coinlstm import db
from predict.recent_history import (
    CHUNK_ROWS,
    LOOKBACK_MS,
    _series_scores,
    columns_of,
    in_parts,
    pair_columns,
    score_columns,
    within_a_window,
)

NAMES = ("idCoin", "openTime", "high", "low", "close")
HOUR = 3_600_000
NEWEST = 1_719_788_400_000


def _key(coin: int) -> db.SeriesKey:
    return db.SeriesKey(coin, "lstm", "return", "1h")


def test_series_within_a_window_of_each_other_are_one_group():
    as_of = {_key(1): 5 * LOOKBACK_MS, _key(2): 5 * LOOKBACK_MS - 1, _key(3): 4 * LOOKBACK_MS}
    assert within_a_window(as_of) == [[_key(3), _key(2), _key(1)]]


def test_a_series_further_behind_than_a_window_starts_a_group_of_its_own():
    as_of = {_key(1): 5 * LOOKBACK_MS, _key(2): 4 * LOOKBACK_MS - 1, _key(3): LOOKBACK_MS,
             _key(4): LOOKBACK_MS + 1}
    assert within_a_window(as_of) == [[_key(3), _key(4)], [_key(2)], [_key(1)]]
    assert within_a_window({}) == []


def test_columns_of_rows_and_of_none():
    class Row(tuple):
        _fields = ("a", "b")

    assert columns_of([Row((1, 2)), Row((3, 4))]) == {"a": (1, 3), "b": (2, 4)}
    assert columns_of([(1, 2), (3, 4)], ("x", "y")) == {"x": (1, 3), "y": (2, 4)}
    assert columns_of([]) == {}


def test_parts_hold_at_most_their_size_in_the_windows_order():
    as_of = {_key(1): 5 * LOOKBACK_MS, _key(2): 4 * LOOKBACK_MS - 1, _key(3): LOOKBACK_MS,
             _key(4): LOOKBACK_MS + 1, _key(5): 5 * LOOKBACK_MS - 2}
    parts = in_parts(as_of, size=2)
    assert [list(part) for part in parts] == [[_key(3), _key(4)], [_key(2), _key(5)],
                                              [_key(1)]]
    assert all(part[key] == as_of[key] for part in parts for key in part)
    assert in_parts({}) == []


def test_pairs_are_scored_in_parts_of_at_most_the_forecasts_given_or_of_one_pair():
    from predict.forward_scores import pair_parts

    counts = {5: 10, 1: 30, 2: 50, 3: 120, 4: 5}
    assert pair_parts(counts, most=100) == [[1, 2], [3], [4, 5]]
    assert pair_parts(counts, most=1000) == [[1, 2, 3, 4, 5]]
    assert pair_parts({}) == []


def _candle_rows(pairs: int, candles: int):
    """(idCoin, openTime, high, low, close) by pair and time, as a candle read gives them."""
    for coin in range(1, pairs + 1):
        for hour in range(candles):
            close = 100.0 + coin + hour / 7
            yield (coin, NEWEST - (candles - 1 - hour) * HOUR, close * 1.01, close * 0.99,
                   close)


def _chunks(rows, size: int):
    """``rows`` as Tuples of ``size`` rows, made one at a time (as a cursor gives them)."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield db.Tuples(NAMES, batch)
            batch = []
    if batch:
        yield db.Tuples(NAMES, batch)


def test_pair_columns_keep_every_value_of_pairs_cut_by_the_chunks():
    rows = list(_candle_rows(pairs=4, candles=9)) + [(5, NEWEST, None, 1.5, 2.5)]
    found = pair_columns(_chunks(iter(rows), size=5))
    assert sorted(found) == [1, 2, 3, 4, 5]
    for coin, columns in found.items():
        mine = [row for row in rows if row[0] == coin]
        assert columns["openTime"].dtype == np.int64
        assert columns["openTime"].tolist() == [row[1] for row in mine]
        for index, name in enumerate(NAMES[2:], start=2):
            wanted = np.array([row[index] for row in mine], dtype=float)
            assert np.array_equal(columns[name], wanted, equal_nan=True)
    assert np.isnan(found[5]["high"][0])
    assert pair_columns(iter(())) == {}


def test_pair_columns_hold_a_fraction_of_the_rows_as_tuples():
    """25 pairs' month of candles, the scoring pass's part: the columns and one chunk at a
    time against the same rows held as tuples (what the pass held before)."""
    tracemalloc.start()
    try:
        as_tuples = list(_candle_rows(pairs=25, candles=720))
        tuples_bytes = tracemalloc.get_traced_memory()[0]
        del as_tuples
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        columns = pair_columns(_chunks(_candle_rows(pairs=25, candles=720), size=CHUNK_ROWS))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(columns) == 25 and all(len(c["close"]) == 720 for c in columns.values())
    assert peak < 0.4 * tuples_bytes, (peak, tuples_bytes)


SCORE_NAMES = ("id_coin", "model", "target", "openTime_next", "forecast", "direction_hit",
               "source", "lower_80")


def _score(coin: int, model: str, hour: int, hit: int | None) -> tuple:
    return (coin, model, "return", NEWEST + hour * HOUR, 100.0 + hour, hit, "live",
            None if hour % 2 else 99.0 + hour)


def test_score_columns_hold_numbers_as_arrays_and_keep_a_null_flag_none():
    columns = score_columns([_score(1, "lstm", 0, 1), _score(1, "lstm", 1, None)], SCORE_NAMES)
    assert set(columns) == {"openTime_next", "forecast", "direction_hit", "source", "lower_80"}
    assert columns["openTime_next"].dtype == np.int64
    assert columns["openTime_next"].tolist() == [NEWEST, NEWEST + HOUR]
    assert columns["forecast"].dtype == float
    assert columns["direction_hit"] == (1, None) and columns["source"] == ("live", "live")
    assert columns["lower_80"][0] == 99.0 and np.isnan(columns["lower_80"][1])


def test_a_series_in_pieces_over_chunks_is_joined_in_time_order_within_its_span():
    """MySQL's collation groups LSTM and lstm as one: their rows interleave, and a chunk
    may cut a series anywhere."""
    upper, lower = db.SeriesKey(1, "LSTM", "return", "1h"), _key(1)
    rows = [_score(1, "lstm", 0, 1), _score(1, "LSTM", 1, 0), _score(1, "lstm", 2, None),
            _score(1, "LSTM", 3, 1), _score(1, "lstm", 4, 0), _score(2, "lstm", 4, 1)]
    as_of = {lower: NEWEST + 4 * HOUR, upper: NEWEST + 3 * HOUR}
    found = _series_scores(_chunks_of(rows, SCORE_NAMES, size=2), as_of)
    assert set(found) == {lower, upper}  # pair 2's series was not asked for
    assert found[lower]["openTime_next"].tolist() == [NEWEST + h * HOUR for h in (0, 2, 4)]
    assert found[lower]["direction_hit"] == (1, None, 0)
    assert found[upper]["forecast"].tolist() == [101.0, 103.0]
    shuffled = [rows[4], rows[0], rows[2]]
    again = _series_scores(_chunks_of(shuffled, SCORE_NAMES, size=1), {lower: as_of[lower]})
    assert again[lower]["direction_hit"] == (1, None, 0)
    assert again[lower]["forecast"].tolist() == [100.0, 102.0, 104.0]


def _chunks_of(rows: list[tuple], names: tuple[str, ...], size: int):
    return (db.Tuples(names, rows[start:start + size]) for start in range(0, len(rows), size))
