"""Binance as a candle source: the existing :class:`crawl.binance.BinanceClient`, wrapped.

Nothing of the client changes (its weight ceiling, Retry-After and retries stay as they
are); this only answers the seam's questions in its words.
"""

from __future__ import annotations

import logging

from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import check_symbol
from crawl.binance import BinanceClient
from crawl.retry import RetryPolicy
from crawl.sources.base import SourcePair
from crawl.sources.retrying import CountedSource

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000


class BinanceSource(CountedSource):
    name = "binance"
    facts = EXCHANGES["binance"]
    page_limit = PAGE_LIMIT

    def __init__(self, url: str, retry: RetryPolicy | None = None, timeout: float = 10.0,
                 client: BinanceClient | None = None):
        self.client = client or BinanceClient(url, retry=retry, timeout=timeout)
        self.counter = self.client


    def check_symbol(self, symbol: str) -> str:
        return check_symbol(symbol)  # Binance's own rule (facts.check_symbol calls it too)

    def pairs(self, market: str) -> list[SourcePair]:
        found = [pair for pair in self.all_pairs() if pair.quote_asset == market]
        if not found:
            raise BadInput(f"unknown market {market!r}: the exchange lists no pair quoted in it")
        return found

    def all_pairs(self) -> list[SourcePair]:
        """Every pair the exchange lists, of every market (one exchangeInfo)."""
        found = []
        for entry in self.client.exchange_info()["symbols"]:
            if not isinstance(entry, dict):
                continue
            try:
                found.append(SourcePair(check_symbol(entry["symbol"]), str(entry["baseAsset"]),
                                        str(entry["quoteAsset"]), str(entry["status"])))
            except (KeyError, BadInput):
                log.warning("skipping a malformed exchangeInfo entry: %r", entry)
        return found

    def server_time(self) -> int:
        return self.client.server_time()

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        return self.client.klines(symbol, interval, start_ms, limit=limit)
