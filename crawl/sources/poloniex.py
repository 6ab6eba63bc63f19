"""Poloniex through ccxt: ``fetch_ohlcv`` on ``/markets/{symbol}/candles``.

Symbols are Poloniex's own ids, ``BASE_QUOTE`` (``BTC_USDT``); a market is a quote asset
(USDT, USDC, BTC, ...). Poloniex's candle reply carries every column a Binance kline has:
ccxt's ``fetch_ohlcv`` keeps open/high/low/close and the base volume, and the raw reply it
parsed gives the rest (quote volume ``amount``, ``tradeCount``, taker buy base
``buyTakerQuantity`` and quote ``buyTakerAmount``), matched by open time. Paging is
Poloniex's: ``startTime`` and ``limit`` (at most 500), oldest first.
"""

from __future__ import annotations

from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS, klines_from_page
from crawl.sources.base import make_kline
from crawl.sources.ccxt_source import CcxtSource

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
    facts = EXCHANGES["poloniex"]
    page_limit = PAGE_LIMIT


    def server_time(self) -> int:
        """Poloniex's clock (``/timestamp``, what ccxt's fetch_time reads)."""
        return int(self._call("clock", self.exchange.fetch_time))

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        interval_ms = INTERVAL_MS[interval]

        def checked(rows, raw) -> list[list]:
            return klines_from_page(self._klines(rows, raw, interval_ms), start_ms, interval_ms)

        return self._fetch_ohlcv(symbol, interval, start_ms, min(limit, PAGE_LIMIT),
                                 check=checked)

    def _klines(self, rows: list[list], raw, interval_ms: int) -> list[list]:
        """ccxt's OHLCV rows with the reply's other columns, matched by open time."""
        extra = {}
        for fields in raw if isinstance(raw, list) else []:
            if isinstance(fields, list) and len(fields) == len(RAW_FIELDS):
                extra[int(fields[_RAW["startTime"]])] = fields
        klines = []
        for open_ms, open_, high, low, close, volume in rows:
            fields = extra.get(open_ms)
            if fields is None:
                raise ValueError(f"candle {open_ms} is not in the reply ccxt parsed")
            klines.append(make_kline(open_ms, interval_ms, {
                "open": open_, "high": high, "low": low, "close": close, "volume": volume,
                "quoteAssetVolume": fields[_RAW["amount"]],
                "numberOfTrader": fields[_RAW["tradeCount"]],
                "takerBuyBaseAssetVolume": fields[_RAW["buyTakerQuantity"]],
                "takerBuyQuoteAssetVolume": fields[_RAW["buyTakerAmount"]],
            }))
        return klines
