"""The exchanges' facts and the pure parts of the candle-source seam (no server, no DB)."""

from __future__ import annotations

import json

import pytest

from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import EXCHANGES, exchange, exchange_of_symbol
from crawl.replayformats import RawNumber, dumps, split_file_symbol
from crawl.replayformats.coingecko import granularity
from crawl.sources import SOURCES, make_kline

SYMBOLS = {"binance": ["ADAETH", "BTCUSDT", "1INCHBTC"],
           "poloniex": ["BTC_USDT", "1INCH_USDT"],
           "bithumb": ["KRW-ETH", "BTC-XRP", "KRW-1INCH"],
           "coingecko": ["bitcoin-usd", "usd-coin-eur", "1inch-btc"]}


def test_every_exchange_has_a_source_and_the_default_is_binance():
    assert list(SOURCES) == list(EXCHANGES)
    assert exchange(None).name == "binance"
    assert exchange("Poloniex").name == "poloniex"
    with pytest.raises(BadInput, match="unknown exchange 'kraken'; choose one of binance"):
        exchange("kraken")


@pytest.mark.parametrize("name", list(SYMBOLS))
def test_symbol_forms_are_disjoint(name):
    """A symbol has the form of exactly one exchange: coin_info.symbol stays unique across
    exchanges without a change to its index, and another exchange's symbol is refused."""
    for symbol in SYMBOLS[name]:
        assert EXCHANGES[name].check_symbol(symbol) == symbol
        assert exchange_of_symbol(symbol) == name
        for other in EXCHANGES:
            if other != name:
                with pytest.raises(BadInput, match=f"invalid ({other} )?symbol"):
                    EXCHANGES[other].check_symbol(symbol)


@pytest.mark.parametrize("bad", ["", "a" * 21, "BTC/USDT", "btc_usdt", "KRW-", "-usd",
                                 "ADA ETH", "../x"])
def test_malformed_symbols_have_no_exchange(bad):
    assert exchange_of_symbol(bad) is None


def test_lacking_columns_are_named():
    assert EXCHANGES["binance"].lacks() == ()
    assert EXCHANGES["poloniex"].lacks() == ()
    assert EXCHANGES["bithumb"].lacks() == ("numberOfTrader", "takerBuyBaseAssetVolume",
                                            "takerBuyQuoteAssetVolume")
    assert EXCHANGES["coingecko"].lacks() == (
        "open", "high", "low", "volume", "numberOfTrader", "takerBuyBaseAssetVolume",
        "takerBuyQuoteAssetVolume")


def test_a_kline_from_some_fields():
    kline = make_kline(3_600_000, 3_600_000, {"open": "1.5", "close": "2", "high": "2",
                                              "low": "1.5", "quoteAssetVolume": "7"})
    assert kline == [3_600_000, "1.5", "2", "1.5", "2", "0", 7_199_999, "7", 0, "0", "0", "0"]


def test_raw_numbers_keep_their_digits():
    body = dumps({"a": [RawNumber("0.00001000"), "0.1", 5], "b": {"c": RawNumber("12")}})
    assert body == b'{"a":[0.00001000,"0.1",5],"b":{"c":12}}'
    assert json.loads(body, parse_float=str)["a"][0] == "0.00001000"


def test_file_symbols_split_with_the_other_exchanges_quotes():
    assert split_file_symbol("ETHKRW") == ("ETH", "KRW")
    assert split_file_symbol("BTCUSD") == ("BTC", "USD")
    assert split_file_symbol("ADABUSD") == ("ADA", "BUSD")


def test_coingecko_granularity_follows_the_range():
    day = 86_400_000
    assert granularity(day) == "5m"
    assert granularity(2 * day) == "1h"
    assert granularity(90 * day) == "1h"
    assert granularity(91 * day) == "1d"
