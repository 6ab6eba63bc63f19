"""Bithumb's v1 API as ccxt's ``load_markets`` and ``fetch_ohlcv`` call it (generation 2).

``GET /v1/market/all?isDetails=true`` lists the markets (``KRW-BTC``: quote first);
``GET /v1/candles/minutes/{unit}``, ``/v1/candles/days`` and ``/v1/candles/weeks`` take
``market``, ``count`` (at most 200) and ``to`` (exclusive end, ISO 8601; without a zone it
is Korean time) and answer the ``count`` candles before ``to``, newest first, the current
one included. Prices and volumes are JSON numbers (written here with the file's digits).
Errors are ``{"error": {"name": ..., "message": ...}}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from coinlstm.core.klines import INTERVAL_MS
from crawl.replayformats.base import RawNumber, ReplyError, Series, one
from crawl.replayformats.coarser import series_at

MAX_COUNT = 200
KST = timezone(timedelta(hours=9))
_MINUTES = re.compile(r"/v1/candles/minutes/(?P<unit>[0-9]+)")
_PATH_INTERVALS = {"/v1/candles/days": "1d", "/v1/candles/weeks": "1w"}
_INTERVALS_BY_MS = {ms: interval for interval, ms in INTERVAL_MS.items()}


class BithumbReplies:
    name = "bithumb"

    def __init__(self, series: list[Series]):
        self.by_id = {f"{s.quote}-{s.base}": s for s in series}

    def error_body(self, status: int, message: str) -> object:
        return {"error": {"name": status, "message": message}}

    def answer(self, path: str, query: dict[str, list[str]], now_ms: int) -> object:
        if path == "/v1/market/all":
            return [{"market": market, "korean_name": series.base,
                     "english_name": series.base, "market_warning": "NONE"}
                    for market, series in sorted(self.by_id.items())]
        minutes = _MINUTES.fullmatch(path)
        if minutes:
            interval_ms = int(minutes["unit"]) * 60_000
        elif path in _PATH_INTERVALS:
            interval_ms = INTERVAL_MS[_PATH_INTERVALS[path]]
        else:
            raise ReplyError(404, self.error_body(404, f"Not found: {path}"))
        return self._candles(interval_ms, query, now_ms)

    def _candles(self, interval_ms: int, query: dict[str, list[str]], now_ms: int) -> list:
        market = one(query, "market")
        series = self.by_id.get(market)
        if series is None:
            raise ReplyError(404, self.error_body(404, "Code not found"))
        series = series_at(series, _INTERVALS_BY_MS.get(interval_ms))
        if series is None:
            raise ReplyError(400, self.error_body(400, "Invalid unit"))
        try:
            count = int(one(query, "count") or 1)
            end = _parse_to(one(query, "to")) if one(query, "to") else None
        except ValueError:
            raise ReplyError(400, self.error_body(
                400, "Missing request parameter error. Check the required parameters!"
            )) from None
        count = max(1, min(count, MAX_COUNT))
        last = series.visible(now_ms)
        if end is not None:
            last = min(last, series.window(None, end - 1, now_ms)[1])
        rows = series.klines[max(0, last - count):last]
        return [_candle(market, kline, interval_ms) for kline in reversed(rows)]


def _parse_to(text: str) -> int:
    """``to`` in ms: ISO 8601 with a zone, or Korean time without one."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    return int(moment.timestamp() * 1000)


def _candle(market: str, kline: list, interval_ms: int) -> dict:
    opened = datetime.fromtimestamp(kline[0] / 1000, UTC)
    candle = {
        "market": market,
        "candle_date_time_utc": opened.strftime("%Y-%m-%dT%H:%M:%S"),
        "candle_date_time_kst": opened.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S"),
        "opening_price": RawNumber(kline[1]),
        "high_price": RawNumber(kline[2]),
        "low_price": RawNumber(kline[3]),
        "trade_price": RawNumber(kline[4]),
        "timestamp": kline[6],
        "candle_acc_trade_price": RawNumber(kline[7]),
        "candle_acc_trade_volume": RawNumber(kline[5]),
    }
    if interval_ms < INTERVAL_MS["1d"]:
        candle["unit"] = interval_ms // 60_000
    return candle
