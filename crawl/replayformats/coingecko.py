"""CoinGecko's public API as crawl/sources/coingecko.py calls it.

``/api/v3/ping``, ``/api/v3/simple/supported_vs_currencies``, ``/api/v3/coins/markets``
(``vs_currency``, ``per_page``, ``page``), ``/api/v3/coins/{id}/market_chart/range``
(``vs_currency``, ``from``, ``to`` in seconds) and ``/api/v3/coins/{id}/ohlc``
(``vs_currency``, ``days``). A file ``ADAETH.csv`` is the coin ``ada`` in ``eth``. A price
point is a candle's open time and its close; ``total_volumes`` its quote volume;
``market_caps`` 0. CoinGecko picks the granularity from the range (2-90 days hourly, above
daily): a range whose granularity is not the file's interval is refused with a message
(the real API would send other points). Errors are ``{"error": ...}``, a 429
``{"status": {"error_code": 429, "error_message": ...}}``.
"""

from __future__ import annotations

import re

from coinlstm.core.klines import INTERVAL_MS
from crawl.replayformats.base import RawNumber, ReplyError, Series, one
from crawl.replayformats.coarser import series_at

API = "/api/v3"
DAY_MS = INTERVAL_MS["1d"]
_RANGE = re.compile(API + r"/coins/(?P<coin>[^/]+)/market_chart/range")
_OHLC = re.compile(API + r"/coins/(?P<coin>[^/]+)/ohlc")


def granularity(span_ms: int) -> str:
    """The points CoinGecko sends for a range of ``span_ms`` (its documented rule)."""
    if span_ms <= DAY_MS:
        return "5m"
    return "1h" if span_ms <= 90 * DAY_MS else "1d"


class CoinGeckoReplies:
    name = "coingecko"

    def __init__(self, series: list[Series]):
        self.by_pair = {(s.base.lower(), s.quote.lower()): s for s in series}

    def error_body(self, status: int, message: str) -> object:
        if status == 429:
            return {"status": {"error_code": 429, "error_message": message}}
        return {"error": message}

    def answer(self, path: str, query: dict[str, list[str]], now_ms: int) -> object:
        if path == API + "/ping":
            return {"gecko_says": "(V3) To the Moon!"}
        if path == API + "/simple/supported_vs_currencies":
            return sorted({vs for _, vs in self.by_pair})
        if path == API + "/coins/markets":
            return self._markets(query, now_ms)
        for pattern, answer in ((_RANGE, self._range), (_OHLC, self._ohlc)):
            match = pattern.fullmatch(path)
            if match:
                return answer(self._series(match["coin"], query), query, now_ms)
        raise ReplyError(404, {"error": f"Not found: {path}"})

    def _series(self, coin: str, query: dict[str, list[str]]) -> Series:
        vs = one(query, "vs_currency")
        series = self.by_pair.get((coin, vs))
        if series is None:
            if all(c != coin for c, _ in self.by_pair):
                raise ReplyError(404, {"error": "coin not found"})
            raise ReplyError(400, {"error": "invalid vs_currency"})
        return series

    def _markets(self, query: dict[str, list[str]], now_ms: int) -> list:
        vs = one(query, "vs_currency")
        if not vs:
            raise ReplyError(400, {"error": "Missing parameter vs_currency"})
        try:
            per_page = max(1, min(int(one(query, "per_page") or 100), 250))
            page = max(1, int(one(query, "page") or 1))
        except ValueError:
            raise ReplyError(400, {"error": "invalid per_page or page"}) from None
        coins = []
        for (coin, pair_vs), series in sorted(self.by_pair.items()):
            if pair_vs != vs:
                continue
            visible = series.visible(now_ms)
            price = series.klines[visible - 1][4] if visible else "0"
            coins.append({"id": coin, "symbol": coin, "name": series.base,
                          "current_price": RawNumber(price)})
        return coins[(page - 1) * per_page: page * per_page]

    def _range(self, series: Series, query: dict[str, list[str]], now_ms: int) -> dict:
        try:
            start = int(float(one(query, "from")) * 1000)
            end = int(float(one(query, "to")) * 1000)
        except ValueError:
            raise ReplyError(400, {"error": "invalid from or to"}) from None
        wanted = granularity(end - start)
        served = series_at(series, wanted)
        if served is None:
            raise ReplyError(400, {"error": f"replay: a range of {(end - start) / DAY_MS:g} "
                                   f"days has {wanted} points; this file is {series.interval}"})
        first, last = served.window(start, end, now_ms)
        rows = served.klines[first:last]
        return {
            "prices": [[kline[0], RawNumber(kline[4])] for kline in rows],
            "market_caps": [[kline[0], 0] for kline in rows],
            "total_volumes": [[kline[0], RawNumber(kline[7])] for kline in rows],
        }

    def _ohlc(self, series: Series, query: dict[str, list[str]], now_ms: int) -> list:
        try:
            days = float(one(query, "days"))
        except ValueError:
            raise ReplyError(400, {"error": "invalid days"}) from None
        first, last = series.window(int(now_ms - days * DAY_MS), None, now_ms)
        # CoinGecko stamps an OHLC candle with its close time.
        return [[kline[6] + 1, RawNumber(kline[1]), RawNumber(kline[2]), RawNumber(kline[3]),
                 RawNumber(kline[4])] for kline in series.klines[first:last]]
