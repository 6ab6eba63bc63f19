"""The groups and parts a scoring pass reads its series' last 30 days in
(predict/recent_history.py)."""

from __future__ import annotations

from coinlstm import db
from predict.recent_history import LOOKBACK_MS, columns_of, in_parts, within_a_window


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
