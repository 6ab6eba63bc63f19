"""Bithumb through ccxt: ``fetch_ohlcv`` on Bithumb's v1 candle API (ccxt's generation 2).

Symbols are Bithumb's own market ids, ``QUOTE-BASE`` (``KRW-ETH``); markets are KRW, BTC and
USDT. A candle holds open/high/low/close (``opening_price`` ... ``trade_price``), the base
volume (``candle_acc_trade_volume``) and the quote volume (``candle_acc_trade_price``,
taken from the raw reply ccxt parsed); no trade count, no taker volumes.

Paging: Bithumb has no "since": a request returns the ``count`` (at most 200) candles
before ``to``, newest first. ccxt passes ``to`` through, so the first page asked of a pair
walks back from now until it reaches the start, and the pages the crawler stores are cut
from that walk, oldest first (a killed crawl stored whole pages, a rerun walks again).
"""

from __future__ import annotations

from datetime import UTC, datetime

from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS, klines_from_page
from crawl.sources.base import make_kline
from crawl.sources.ccxt_source import CcxtSource

#: Bithumb's most candles per request.
FETCH_COUNT = 200
#: Candles per page handed to the crawler (cut from the walk, so any size works).
PAGE_LIMIT = 1000


class BithumbSource(CcxtSource):
    name = "bithumb"
    exchange_id = "bithumb"
    facts = EXCHANGES["bithumb"]
    page_limit = PAGE_LIMIT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._walked: dict[tuple[str, str], tuple[int, list[list]]] = {}


    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        walked = self._walked.get((symbol, interval))
        if walked is None or walked[0] > start_ms:
            walked = (start_ms, self._walk_back(symbol, interval, start_ms))
            self._walked[(symbol, interval)] = walked
        return [kline for kline in walked[1] if kline[0] >= start_ms][:limit]

    def _walk_back(self, symbol: str, interval: str, start_ms: int) -> list[list]:
        """Every candle from ``start_ms`` to now, oldest first, asked newest page first."""
        interval_ms = INTERVAL_MS[interval]
        by_open: dict[int, list] = {}
        before: int | None = None
        while True:
            params = {} if before is None else {"to": _iso_utc(before)}
            page = self._fetch_ohlcv(symbol, interval, None, FETCH_COUNT, params,
                                     check=lambda rows, raw: self._checked(rows, raw,
                                                                           interval_ms))
            fresh = [kline for kline in page if kline[0] not in by_open]
            by_open.update((kline[0], kline) for kline in fresh)
            if not fresh or len(page) < FETCH_COUNT or min(by_open) <= start_ms:
                break
            before = min(by_open)
        return [by_open[open_ms] for open_ms in sorted(by_open) if open_ms >= start_ms]


    def _checked(self, rows: list[list], raw, interval_ms: int) -> list[list]:
        """One reply's candles as klines (the quote volume from the raw reply), checked by
        the kline rules (coinlstm.core.klines)."""
        quote_volumes = _quote_volumes(self.exchange, raw)
        klines = [make_kline(open_ms, interval_ms, {
            "open": open_, "high": high, "low": low, "close": close, "volume": volume,
            "quoteAssetVolume": quote_volumes.get(open_ms, "0")})
            for open_ms, open_, high, low, close, volume in rows]
        return klines_from_page(klines, klines[0][0] if klines else 0, interval_ms)


def _quote_volumes(exchange, raw) -> dict[int, object]:
    """Open ms -> ``candle_acc_trade_price`` of a raw candle reply."""
    volumes = {}
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, dict) and "candle_acc_trade_price" in entry:
            open_ms = exchange.parse8601(str(entry.get("candle_date_time_utc")))
            if open_ms is not None:
                volumes[open_ms] = entry["candle_acc_trade_price"]
    return volumes


def _iso_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
