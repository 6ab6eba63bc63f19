"""Kline parsing: the import's fast path accepts exactly what ``parse_kline`` accepts."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from coinlstm import db
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import parse_kline
from crawl import vision

TRICKY_LINES = [
    "1617235200000,0.03267400,0.03290100,0.03253100,0.03262900,14855.07000000,1617238799999,"
    "485.45091769,14880,7772.11100000,253.94687421,0",
    "1735689600000000,1.5,2,1,1.5,0,1735693199999999,0,0,0,0,0",
    " 1617235200000 , 0.1 ,0.2,0.1,0.1,1,1617238799999,1,1,1,1, 0 ",
    '"1617235200000","0.1","0.2","0.1","0.1","1","1617238799999","1","1","1","1","0"',
    "1617235200000,1e-5,0.2,0.00001,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.123456780,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.123456789,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,NaN,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.1,inf,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.1,0.2,0.3,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.1,0.2,0.2,0.1,1,1617238799999,1,1,1,1,",
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1,1,1,1",
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0,0",
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1.5,1,1,1,0",
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1,1.5,1,1,0",
    "1617235200000,-0.1,0.2,-0.2,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1,\u0661\u0662,1,1,0",
    "1617235200000,0.1,0.2,0.1,0.1,1_000,1617238799999,1,1,1,1,0",
    "1617235200000," + "9" * 31 + ",0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "1617235200000,0.1,0.2,0.1,0.1," + "1" * 30 + ",1617238799999,1,1,1,1,0",
    "1617235200000,,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
    "abc,0.1,0.2,0.1,0.1,1,1617238799999,1,1,1,1,0",
]


@pytest.mark.parametrize("line", TRICKY_LINES)
def test_fast_path_agrees_with_parse_kline(line):
    """stored_kline's shortcut must accept exactly what parse_kline accepts, as it stores it."""
    try:
        row = parse_kline(0, next(csv.reader([line])))
    except ValueError as exc:
        with pytest.raises(ValueError) as refused:
            vision.stored_kline(line)
        assert str(refused.value) == str(exc)
        return
    expected = [format(value, "f") if isinstance(value, Decimal) else value
                for value in (row[name] for name in db.CANDLE_COLUMNS[1:])]
    stored = vision.stored_kline(line)
    assert [db.to_exact_decimal(v) if isinstance(v, str) and i not in (11,) else v
            for i, v in enumerate(stored)] == \
        [db.to_exact_decimal(v) if isinstance(v, str) and i not in (11,) else v
         for i, v in enumerate(expected)]
    assert [type(v) for v in stored] == [type(v) for v in expected]


def test_symbols_split_on_the_longest_known_quote():
    from coinlstm.core.klines import split_symbol

    assert split_symbol("ADAETH") == ("ADA", "ETH")
    assert split_symbol("ETHUSDT") == ("ETH", "USDT")
    assert split_symbol("BTCFDUSD") == ("BTC", "FDUSD")
    assert split_symbol("BTCAEUR") == ("BTC", "AEUR")  # not BTCA + EUR
    assert split_symbol("SYNTH1ETH") == ("SYNTH1", "ETH")
    assert split_symbol("ADAQQQ", quote="QQQ") == ("ADA", "QQQ")
    with pytest.raises(BadInput, match="pass its quote asset with --quote"):
        split_symbol("ADAQQQ")
    with pytest.raises(BadInput, match="it does not end in ETH"):
        split_symbol("ADAQQQ", quote="ETH")


@pytest.mark.parametrize("symbol", ["ADA/ETH", "..ADAETH", "adaeth", "A", "X" * 21, ""])
def test_invalid_symbols_are_bad_input(symbol):
    from coinlstm.core.klines import check_symbol

    with pytest.raises(BadInput, match="invalid symbol"):
        check_symbol(symbol)


def test_only_lists_and_intervals():
    from coinlstm.core.klines import check_interval, parse_symbols, to_milliseconds

    assert parse_symbols(" ADAETH, TRXETH ,") == ["ADAETH", "TRXETH"]
    assert parse_symbols(None) is None and parse_symbols("") is None
    with pytest.raises(BadInput, match="invalid symbol 'ada'"):
        parse_symbols("ADAETH,ada")
    assert check_interval("1h") == 3_600_000 and check_interval("5m") == 300_000
    with pytest.raises(BadInput, match="unknown interval '7h'"):
        check_interval("7h")
    # Dumps since 2025 write microseconds; both forms give the same milliseconds.
    assert to_milliseconds("1735689600000000") == to_milliseconds(1735689600000) == 1735689600000
