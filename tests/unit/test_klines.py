"""The rules of coinlstm.core.klines on their own (no database, no server, no files): every
kline a crawl, an import or the replay server reads passes them (the real candles of
../shared/data all do: tests/integration/test_bad_klines.py loads every one), the import's
fast path agrees with the slow way, and symbols, markets and intervals."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from coinlstm.core import klines
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import (
    BadKline,
    check_market,
    kline_from_fields,
    kline_from_line,
    klines_from_page,
    parse_kline,
)

HOUR = 3_600_000
#: 2021-04-01 00:00 UTC, a real ADAETH candle.
GOOD = ("1617235200000,0.03267400,0.03290100,0.03253100,0.03262900,14855.07000000,"
        "1617238799999,485.45091769,14880,7772.11100000,253.94687421,0")
OPEN = 1617235200000


def with_field(index: int, value: str, line: str = GOOD) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


def test_a_good_kline_keeps_its_text_and_gets_integer_times():
    kline = kline_from_line(GOOD, HOUR)
    assert kline == [OPEN, "0.03267400", "0.03290100", "0.03253100", "0.03262900",
                     "14855.07000000", OPEN + HOUR - 1, "485.45091769", 14880, "7772.11100000",
                     "253.94687421", "0"]
    assert kline_from_fields(GOOD.split(","), HOUR) == kline
    row = parse_kline(7, GOOD.split(","))
    assert row["idCoin"] == 7 and row["low"] == Decimal("0.03253100")
    assert row["numberOfTrader"] == 14880 and row["ignore"] == "0"


BROKEN = {  # line -> the rule it breaks
    with_field(4, "abc"): klines.RULE_DECIMALS,
    with_field(4, "NaN"): klines.RULE_DECIMALS,
    with_field(2, "Infinity"): klines.RULE_DECIMALS,
    with_field(1, "0.123456789"): klines.RULE_DECIMALS,
    with_field(4, "-0.00010000"): klines.RULE_PRICES,
    with_field(3, "0"): klines.RULE_PRICES,
    with_field(3, "0.03300000"): klines.RULE_LOW,  # low above high
    with_field(3, "0.03263000"): klines.RULE_LOW,  # low above the close
    with_field(4, "0.03300000"): klines.RULE_HIGH,  # close above high
    with_field(1, "0.03250000"): klines.RULE_LOW,  # open below low
    with_field(5, "-1.00000000"): klines.RULE_VOLUMES,
    with_field(7, "-485.45091769"): klines.RULE_VOLUMES,
    with_field(9, "14855.07000001"): klines.RULE_TAKER,
    with_field(10, "485.45091770"): klines.RULE_TAKER,
    with_field(8, "-1"): klines.RULE_TRADES,
    with_field(8, "1.5"): klines.RULE_INTEGERS,
    with_field(0, str(OPEN + 1000)): klines.RULE_GRID,
    with_field(6, str(OPEN)): klines.RULE_CLOSE,  # not after the open
    with_field(6, str(OPEN + HOUR - 1 + 60_001)): klines.RULE_CLOSE,  # over a minute late
    with_field(0, str(10**15 * 1000)): klines.RULE_RANGES,
    with_field(11, "x" * 41): klines.RULE_IGNORE,
    GOOD.rsplit(",", 1)[0]: klines.RULE_FIELDS,
    GOOD + ",0": klines.RULE_FIELDS,
}


@pytest.mark.parametrize("line", BROKEN)
def test_each_rule_refuses_its_kline_and_says_so(line):
    with pytest.raises(BadKline) as refused:
        kline_from_line(line, HOUR)
    assert refused.value.rule == BROKEN[line]
    assert str(refused.value).endswith(f"(rule: {BROKEN[line]})")
    with pytest.raises(BadKline) as refused_as_fields:
        kline_from_fields(line.split(","), HOUR)
    assert str(refused_as_fields.value) == str(refused.value)


def test_messages_quote_the_candle_as_written():
    with pytest.raises(BadKline, match=r"^low 0\.033 is above min\(open 0\.03267400, close "
                       r"0\.03262900\)"):
        kline_from_line(with_field(3, "0.033"), HOUR)
    with pytest.raises(BadKline, match=r"^close -0\.00010000 is not positive"):
        kline_from_line(with_field(4, "-0.00010000"), HOUR)


def test_maintenance_candles_close_early_or_seconds_late_and_load():
    """The four irregular close times of ../shared/data/binance-1h/README.md."""
    early = 1619323200000  # 2021-04-25 04:00, closed about a minute in
    ms_part = 1628816400000  # 2021-08-13 01:00, closed at 01:59:59.000
    late = 1640318400000  # 2021-12-24 04:00, closed at 05:00:02.091
    cut = 1679659200000  # 2023-03-24 12:00, closed at 12:39:48.265
    for open_ms, close_ms in ((early, early + 62_753), (ms_part, ms_part + HOUR - 1000),
                              (late, late + HOUR + 2_091), (cut, cut + 39 * 60_000 + 48_265)):
        line = with_field(6, str(close_ms), with_field(0, str(open_ms)))
        assert kline_from_line(line, HOUR)[6] == close_ms


def test_zero_trade_candle_with_equal_prices_and_zero_volumes_loads():
    line = "1617235200000,0.00019980,0.00019980,0.00019980,0.00019980,0.00000000," \
           "1617238799999,0.00000000,0,0.00000000,0.00000000,0"
    assert kline_from_line(line, HOUR)[8] == 0


def test_equal_values_written_differently_are_equal():
    # 0.0326290 and 0.03262900 are one price: high == close holds.
    line = with_field(2, "0.0326290", with_field(4, "0.03262900", with_field(1, "0.0326")))
    assert kline_from_line(line, HOUR)[2] == "0.0326290"
    # Decimals that differ beyond a float's precision are compared exactly.
    big = "123456789012345678.00000001"
    below = "123456789012345678.00000000"
    line = with_field(2, below, with_field(4, big, with_field(3, "1", with_field(1, "1"))))
    with pytest.raises(BadKline, match="rule: high >= max"):
        kline_from_line(line, HOUR)


@pytest.mark.parametrize("interval, open_ms, ok", [
    ("5m", OPEN + 5 * 60_000, True),
    ("5m", OPEN + 60_000, False),
    ("4h", OPEN, True),
    ("4h", OPEN + HOUR, False),
    ("1d", 1617235200000, True),  # 2021-04-01 00:00
    ("1w", 1617580800000, True),  # Monday 2021-04-05
    ("1w", 1617235200000, False),  # a Thursday
])
def test_open_times_sit_on_the_interval_grid(interval, open_ms, ok):
    step = klines.INTERVAL_MS[interval]
    line = with_field(6, str(open_ms + step - 1), with_field(0, str(open_ms)))
    if ok:
        assert kline_from_line(line, step)[0] == open_ms
    else:
        with pytest.raises(BadKline, match=f"not on the {interval} grid"):
            kline_from_line(line, step)


def test_microsecond_times_become_milliseconds():
    line = with_field(6, str((OPEN + HOUR) * 1000 - 1), with_field(0, str(OPEN * 1000)))
    kline = kline_from_line(line, HOUR)
    assert (kline[0], kline[6]) == (OPEN, OPEN + HOUR - 1)


def test_a_reply_page_is_a_list_of_rising_klines_from_the_time_asked():
    rows = [json_row(OPEN + i * HOUR) for i in range(3)]
    assert [k[0] for k in klines_from_page(rows, OPEN, HOUR)] == [OPEN, OPEN + HOUR,
                                                                  OPEN + 2 * HOUR]
    cases = {
        "not a list": ({"code": -1}, klines.RULE_PAGE),
        "swapped": ([rows[0], rows[2], rows[1]], klines.RULE_ORDER),
        "duplicated": ([rows[0], rows[1], rows[1], rows[2]], klines.RULE_ORDER),
        "before the start": (rows, klines.RULE_PAGE),
        "short row": ([rows[0], rows[1][:11]], klines.RULE_FIELDS),
        "bool trades": ([rows[0][:8] + [True] + rows[0][9:]], klines.RULE_INTEGERS),
    }
    for case, (page, rule) in cases.items():
        start = OPEN + HOUR if case == "before the start" else OPEN
        with pytest.raises(BadKline) as refused:
            klines_from_page(page, start, HOUR)
        assert refused.value.rule == rule, case
    with pytest.raises(BadKline, match=r"^candle 2021-04-01 01:00 UTC: low"):
        klines_from_page([rows[0], [*rows[1][:3], "1", *rows[1][4:]]], OPEN, HOUR)


def json_row(open_ms: int) -> list:
    """A kline as the API's JSON has it: integer times and trades, decimal strings."""
    fields = with_field(6, str(open_ms + HOUR - 1), with_field(0, str(open_ms))).split(",")
    return [int(v) if i in (0, 6, 8) else v for i, v in enumerate(fields)]


@pytest.mark.parametrize("typed, expected", [("ETH", "ETH"), ("eth", "ETH"), ("usdt", "USDT")])
def test_a_market_is_its_quote_asset_in_upper_case(typed, expected):
    assert check_market(typed) == expected


@pytest.mark.parametrize("typed", ["ET/H", "e", "", "ETHETHETHETH", "ÉTH", None])
def test_a_market_that_is_no_quote_asset_is_bad_input(typed):
    with pytest.raises(BadInput, match="invalid market"):
        check_market(typed)


# --------------------------------------------------------------------------- fast path
# (the import's shortcut for lines as Binance writes them)

TRICKY_LINES = [
    GOOD,
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
    "1617235200000,0.1,0.2,0.1,0.1,1,1617238799999,1,1,1,1,a\\b",
]


@pytest.mark.parametrize("line", TRICKY_LINES)
def test_fast_path_agrees_with_the_slow_way(line):
    """kline_from_line's shortcut must accept exactly what the field-by-field way accepts,
    with equal values, and refuse the rest with the same message."""
    fields = next(csv.reader([line]))
    try:
        expected = klines._parsed_kline(fields, HOUR)
    except BadKline as exc:
        with pytest.raises(BadKline) as refused:
            kline_from_line(line, HOUR)
        assert str(refused.value) == str(exc)
        return
    stored = kline_from_line(line, HOUR)
    exact = [Decimal(v) if i in klines.DECIMAL_FIELDS else v for i, v in enumerate(stored)]
    assert exact == [Decimal(v) if i in klines.DECIMAL_FIELDS else v
                     for i, v in enumerate(expected)]
    assert [type(v) for v in stored] == [type(v) for v in expected]


# --------------------------------------------------------------------------- symbols


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
