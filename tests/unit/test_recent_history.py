"""The groups a scoring pass reads its series' last 30 days in (predict/recent_history.py)."""

from __future__ import annotations

from coinlstm import db
from predict.recent_history import LOOKBACK_MS, columns_of, within_a_window


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
    assert columns_of([]) == {}
