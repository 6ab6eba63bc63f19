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


def test_the_retry_rules_of_the_other_sources():
    from coinlstm.core.errors import ExchangeUnavailable
    from crawl.retry import BadReply, RateLimited, Refused, Retrier, RetryPolicy, Transient

    quick = RetryPolicy(attempts=3, first_backoff=0.0, max_backoff=0.0)
    replies = iter([Transient("HTTP 502"), RateLimited(429, 0.0), [1, 2]])

    def send():
        reply = next(replies)
        if isinstance(reply, Exception):
            raise reply
        return reply

    retrier = Retrier(quick)
    assert retrier.call("x", send) == [1, 2]
    assert (retrier.requests, retrier.retries, retrier.rate_limit_waits) == (3, 1, 1)

    def broken(page):
        raise ValueError("candle 2025-01-01 00:00 UTC: low above open (rule: low <= ...)")

    with pytest.raises(BadReply, match="sent a bad reply 3 times, giving up; last: candle"):
        Retrier(quick).call("x", lambda: [1], check=broken)
    with pytest.raises(ExchangeUnavailable, match="refused the request: HTTP 400"):
        Retrier(quick).call("x", lambda: (_ for _ in ()).throw(Refused("HTTP 400")))
    with pytest.raises(ExchangeUnavailable, match="asks to wait 900 s"):
        Retrier(quick).call("x", lambda: (_ for _ in ()).throw(RateLimited(429, 900.0)))


@pytest.mark.parametrize("name", list(SYMBOLS))
def test_a_symbol_names_its_assets_and_back(name):
    """What import registers for a file's symbol, and what the synthetic history writes:
    (base, quote) from the symbol and the symbol from them, in the exchange's form."""
    facts = EXCHANGES[name]
    for symbol in SYMBOLS[name]:
        base, quote = facts.assets(symbol)
        assert base == base.upper() and quote == quote.upper()
        assert facts.symbol_of(base, quote) == symbol
    expected = {"binance": ("ADAETH", ("ADA", "ETH")), "poloniex": ("ADA_ETH", ("ADA", "ETH")),
                "bithumb": ("ETH-ADA", ("ADA", "ETH")),
                "coingecko": ("ada-eth", ("ADA", "ETH"))}[name]
    assert facts.symbol_of("ADA", "ETH") == expected[0]
    assert facts.assets(expected[0]) == expected[1]


def test_assets_refuse_another_form_and_another_quote():
    assert EXCHANGES["coingecko"].assets("usd-coin-eur") == ("USD-COIN", "EUR")
    assert EXCHANGES["binance"].assets("ADAQQQ", "QQQ") == ("ADA", "QQQ")
    with pytest.raises(BadInput, match="invalid poloniex symbol 'ADAETH'"):
        EXCHANGES["poloniex"].assets("ADAETH")
    with pytest.raises(BadInput, match="BTC_USDT is quoted in USDT, not ETH"):
        EXCHANGES["poloniex"].assets("BTC_USDT", "ETH")
    with pytest.raises(BadInput, match="cannot tell the quote asset"):
        EXCHANGES["binance"].assets("ADAQQQ")


def test_job_names_per_exchange_and_back():
    from coinlstm.core.exchanges import job_name, split_job_name

    assert job_name("binance", "ETH") == "ETH"  # as it always was
    assert job_name("poloniex", "USDT") == "poloniex-USDT"
    for name in EXCHANGES:
        assert split_job_name(job_name(name, "KRW")) == (name, "KRW")
    assert split_job_name("odd-name") == ("binance", "odd-name")
