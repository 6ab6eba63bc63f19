"""The synthetic candle set the tests run on without ../shared: deterministic, valid klines,
gaps where it says, one clock for every pair."""

from __future__ import annotations

from itertools import pairwise

from coinlstm.core.klines import parse_kline
from tests import synthetic
from tests.helpers import HOUR_MS, read_csv_rows


def test_the_set_is_written_the_same_every_time(synthetic_candles, tmp_path):
    assert synthetic.main([str(tmp_path / "again")]) == 0
    for symbol in synthetic.PAIRS:
        name = f"{symbol}.csv"
        assert (tmp_path / "again" / name).read_bytes() == (synthetic_candles / name).read_bytes()
    assert "SYNTHETIC" in (synthetic_candles / "README.txt").read_text()


def test_every_pair_has_the_same_open_times_and_the_documented_gaps(synthetic_candles):
    times = {symbol: [int(row[0]) for row in read_csv_rows(synthetic_candles / f"{symbol}.csv")]
             for symbol in synthetic.PAIRS}
    first = times[synthetic.PAIRS[0]]
    assert all(other == first for other in times.values())
    assert len(first) == synthetic.ROWS and first[0] == synthetic.FIRST_OPEN_MS
    gaps = {index: (later - earlier) // HOUR_MS - 1
            for index, (earlier, later) in enumerate(pairwise(first), start=1)
            if later - earlier != HOUR_MS}
    assert gaps == synthetic.GAPS


def test_every_line_is_a_valid_kline(synthetic_candles):
    rows = read_csv_rows(synthetic_candles / f"{synthetic.PAIRS[-1]}.csv")
    parsed = [parse_kline(1, row) for row in rows]
    assert all(candle["low"] <= min(candle["open"], candle["close"])
               and candle["high"] >= max(candle["open"], candle["close"]) for candle in parsed)
    assert all(candle["closeTime"] == candle["openTime"] + HOUR_MS - 1 for candle in parsed)
