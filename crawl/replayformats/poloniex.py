"""Poloniex's spot API as ccxt's ``load_markets`` and ``fetch_ohlcv`` call it.

``GET /v2/currencies`` and ``GET /markets`` (spot), ``GET /v3/market/allInstruments`` (swap:
none here), ``GET /timestamp``, ``GET /markets/{symbol}/candles?interval&startTime&endTime
&limit`` (default 100, at most 500, oldest first). A candle is Poloniex's 14-field array:
low, high, open, close, amount (quote volume), quantity (base volume), buyTakerAmount,
buyTakerQuantity, tradeCount, ts, weightedAverage, interval, startTime, closeTime; decimals
as strings. Errors are ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

import re
from decimal import Decimal, DivisionByZero, InvalidOperation

from crawl.replayformats.base import ReplyError, Series, one
from crawl.replayformats.coarser import series_at

#: ccxt's names of Poloniex's intervals.
INTERVAL_NAMES = {"1m": "MINUTE_1", "5m": "MINUTE_5", "10m": "MINUTE_10",
                  "15m": "MINUTE_15", "30m": "MINUTE_30", "1h": "HOUR_1", "2h": "HOUR_2",
                  "4h": "HOUR_4", "6h": "HOUR_6", "12h": "HOUR_12", "1d": "DAY_1",
                  "3d": "DAY_3", "1w": "WEEK_1"}
_INTERVALS_BY_NAME = {name: interval for interval, name in INTERVAL_NAMES.items()}
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_CANDLES = re.compile(r"/markets/(?P<symbol>[^/]+)/candles")
#: Poloniex's error codes for what the replay refuses.
_INVALID_SYMBOL = 21110
_INVALID_PARAMETER = 24101


class PoloniexReplies:
    name = "poloniex"

    def __init__(self, series: list[Series]):
        self.by_id = {f"{s.base}_{s.quote}": s for s in series}

    def error_body(self, status: int, message: str) -> object:
        return {"code": status, "message": message}

    def answer(self, path: str, query: dict[str, list[str]], now_ms: int) -> object:
        if path == "/timestamp":
            return {"serverTime": now_ms}
        if path == "/markets":
            return [self._market(symbol, s) for symbol, s in sorted(self.by_id.items())]
        if path == "/v2/currencies":
            coins = sorted({c for s in self.by_id.values() for c in (s.base, s.quote)})
            return [{"id": number, "coin": coin, "delisted": False, "tradeEnable": True,
                     "name": coin, "networkList": [], "supportCollateral": False,
                     "supportBorrow": False} for number, coin in enumerate(coins, start=1)]
        if path == "/v3/market/allInstruments":
            return {"code": "200", "msg": "Success", "data": []}
        match = _CANDLES.fullmatch(path)
        if match:
            return self._candles(match["symbol"], query, now_ms)
        raise ReplyError(404, {"code": 404, "message": f"Not found: {path}"})

    def _market(self, symbol: str, series: Series) -> dict:
        return {
            "symbol": symbol, "baseCurrencyName": series.base,
            "quoteCurrencyName": series.quote, "displayName": f"{series.base}/{series.quote}",
            "state": "NORMAL", "visibleStartTime": series.open_times[0],
            "tradableStartTime": series.open_times[0],
            "symbolTradeLimit": {"symbol": symbol, "priceScale": 8, "quantityScale": 8,
                                 "amountScale": 8, "minQuantity": "0.00000001",
                                 "minAmount": "0.00000001", "highestBid": "0",
                                 "lowestAsk": "0"},
        }

    def _candles(self, symbol: str, query: dict[str, list[str]], now_ms: int) -> list:
        series = self.by_id.get(symbol)
        if series is None:
            raise ReplyError(400, {"code": _INVALID_SYMBOL, "message": "Invalid symbol!"})
        series = series_at(series, _INTERVALS_BY_NAME.get(one(query, "interval")))
        if series is None:
            raise ReplyError(400, {"code": _INVALID_PARAMETER, "message": "Invalid interval"})
        try:
            limit = int(one(query, "limit") or DEFAULT_LIMIT)
            start = int(one(query, "startTime")) if one(query, "startTime") else None
            end = int(one(query, "endTime")) if one(query, "endTime") else None
        except ValueError:
            raise ReplyError(400, {"code": _INVALID_PARAMETER,
                                   "message": "Invalid parameter"}) from None
        limit = max(1, min(limit, MAX_LIMIT))
        first, last = series.window(start, end, now_ms)
        if start is None:
            first = max(first, last - limit)
        return [_candle(kline, series.interval)
                for kline in series.klines[first:min(last, first + limit)]]


def _candle(kline: list, interval: str) -> list:
    volume, quote_volume = kline[5], kline[7]
    try:
        average = format(Decimal(quote_volume) / Decimal(volume), "f")
    except (DivisionByZero, InvalidOperation):
        average = "0"
    return [kline[3], kline[2], kline[1], kline[4], quote_volume, volume, kline[10], kline[9],
            kline[8], 0, average, INTERVAL_NAMES[interval], kline[0], kline[6]]
