"""Poloniex through ccxt: ``fetch_ohlcv`` on ``/markets/{symbol}/candles``.

Symbols are Poloniex's own ids, ``BASE_QUOTE`` (``BTC_USDT``); a market is a quote asset
(USDT, USDC, BTC, ...). Poloniex's candle reply carries every column a Binance kline has:
ccxt's ``fetch_ohlcv`` keeps open/high/low/close and the base volume, and the raw reply it
parsed gives the rest (quote volume ``amount``, ``tradeCount``, taker buy base
``buyTakerQuantity`` and quote ``buyTakerAmount``), matched by open time. Paging is
Poloniex's: ``startTime`` and ``limit`` (at most 500), oldest first.
"""

from __future__ import annotations

import re

from coinlstm.core.columns import CANDLE_COLUMNS
from coinlstm.core.config import INTERVAL_MS
from coinlstm.core.errors import BadInput, ExchangeUnavailable
from crawl.sources import make_kline
from crawl.sources.ccxt_source import CcxtSource

SYMBOL = re.compile(r"[A-Z0-9]{1,12}_[A-Z0-9]{2,10}")
#: Poloniex's most candles per request.
PAGE_LIMIT = 500
#: The 14 fields of a spot candle, in reply order (api-docs.poloniex.com, "Candles").
RAW_FIELDS = ("low", "high", "open", "close", "amount", "quantity", "buyTakerAmount",
              "buyTakerQuantity", "tradeCount", "ts", "weightedAverage", "interval",
              "startTime", "closeTime")
_RAW = {name: index for index, name in enumerate(RAW_FIELDS)}


class PoloniexSource(CcxtSource):
    name = "poloniex"
    exchange_id = "poloniex"
    columns = frozenset(CANDLE_COLUMNS[2:])
    #: ccxt's timeframes of Poloniex that have a fixed length here (1M has none).
    intervals = ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "3d", "1w")
    page_limit = PAGE_LIMIT

    def check_symbol(self, symbol: str) -> str:
        if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol) or len(symbol) > 20:
            raise BadInput(f"invalid poloniex symbol {symbol!r}: expected BASE_QUOTE such as "
                           "BTC_USDT")
        return symbol

    def server_time(self) -> int:
        """Poloniex's clock (``/timestamp``, what ccxt's fetch_time reads)."""
        return int(self._call("clock", self.exchange.fetch_time))

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        interval_ms = INTERVAL_MS[interval]
        rows, raw = self._fetch_ohlcv(symbol, interval, start_ms, min(limit, PAGE_LIMIT))
        extra = {}
        for fields in raw if isinstance(raw, list) else []:
            if isinstance(fields, list) and len(fields) == len(RAW_FIELDS):
                extra[int(fields[_RAW["startTime"]])] = fields
        klines = []
        for open_ms, open_, high, low, close, volume in rows:
            fields = extra.get(open_ms)
            if fields is None:
                raise ExchangeUnavailable(f"{self.base_url}: poloniex candle {open_ms} of "
                                          f"{symbol} lost on its way through ccxt")
            klines.append(make_kline(open_ms, interval_ms, {
                "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                "quoteAssetVolume": fields[_RAW["amount"]],
                "numberOfTrader": fields[_RAW["tradeCount"]],
                "takerBuyBaseAssetVolume": fields[_RAW["buyTakerQuantity"]],
                "takerBuyQuoteAssetVolume": fields[_RAW["buyTakerAmount"]],
            }))
        return klines
