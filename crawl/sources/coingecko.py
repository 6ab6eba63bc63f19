"""CoinGecko's public API as a candle source (not a ccxt exchange: its own small client).

What CoinGecko has: not trades but aggregated prices. ``/coins/{id}/market_chart/range``
gives, for a time range, price points and the 24-hour volume in the quote currency, at a
granularity CoinGecko picks from the range's length: hourly points for ranges of 2 to 90
days, daily points (00:00 UTC) beyond. So this source offers 1h and 1d candles whose
open, high, low and close are all the price at the candle's open time and whose quote
volume is CoinGecko's ``total_volumes``; no base volume, trade count or taker volumes.
Points are put on the interval's grid (the first point of each slot counts); prices with
more than 8 decimals are rounded half-even to 8 (CoinGecko's are floats, not trade prices).

Symbols are ``{coin id}-{vs currency}`` in lower case (``bitcoin-usd``, at most 20
characters); a market is a vs currency (USD, EUR, BTC, ...) and its pairs are the first
250 coins of ``/coins/markets`` (by market cap). The clock is the replies' ``Date``.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from urllib.parse import urlsplit

from coinlstm.core.decimals import PRICE_SCALE
from coinlstm.core.errors import BadInput, ExchangeUnavailable
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS, klines_from_page
from crawl import retry as retrying
from crawl.gate import pool_for_threads
from crawl.retry import Retrier, RetryPolicy
from crawl.sources.base import TRADING, SourcePair, make_kline
from crawl.sources.retrying import CountedSource, date_header_ms

API = "/api/v3"
DAY_MS = INTERVAL_MS["1d"]
#: Range lengths that make CoinGecko send points of each interval (its documented rule:
#: 2-90 days hourly, above 90 days daily), a little inside the limits.
RANGE_MS = {"1h": 89 * DAY_MS, "1d": 365 * DAY_MS}
#: Pairs of a market: the first page of /coins/markets.
MARKET_PAGE = 250
#: Seconds between requests to the real API (its public limit is about 30 a minute). A
#: loopback server sets its own pace with 429 and Retry-After.
PUBLIC_PACE = 2.5
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_QUANTUM = Decimal(1).scaleb(-PRICE_SCALE)


class CoinGeckoSource(CountedSource):
    name = "coingecko"
    facts = EXCHANGES["coingecko"]
    page_limit = 1000

    def __init__(self, url: str, retry: RetryPolicy | None = None, timeout: float = 10.0,
                 pace: float | None = None):
        import requests

        self.base_url = url.rstrip("/")
        self.timeout = timeout
        # One session for every crawl thread (requests' Session is safe to share for plain
        # GETs); the pace between requests is kept across threads by the Retrier's gate.
        self.session = requests.Session()
        pool_for_threads(self.session)
        loopback = urlsplit(self.base_url).hostname in _LOOPBACK
        if loopback:
            self.session.trust_env = False
        self.pace = (0.0 if loopback else PUBLIC_PACE) if pace is None else pace
        self.retrier = self.counter = Retrier(retry)
        self._server_ms: int | None = None
        self._coins: dict[str, dict[str, SourcePair]] = {}


    def pairs(self, market: str) -> list[SourcePair]:
        vs = market.lower()
        if vs not in self._coins:
            supported = self._get("/simple/supported_vs_currencies", {})
            if not isinstance(supported, list):
                raise ExchangeUnavailable(f"{self.base_url}: coingecko sent no currency list")
            if vs not in supported:
                raise BadInput(f"unknown market {market!r}: coingecko has no vs currency {vs}")
            coins = self._get("/coins/markets", {"vs_currency": vs, "order": "market_cap_desc",
                                                 "per_page": MARKET_PAGE, "page": 1})
            if not isinstance(coins, list):
                raise ExchangeUnavailable(f"{self.base_url}: coingecko sent no coin list")
            found = {}
            for coin in coins:
                coin_id = coin.get("id") if isinstance(coin, dict) else None
                symbol = f"{coin_id}-{vs}"
                if isinstance(coin_id, str) and _has_form(self.facts, symbol):
                    found[symbol] = SourcePair(symbol, coin_id.upper(), market, TRADING)
            self._coins[vs] = found
        if not self._coins[vs]:
            raise BadInput(f"unknown market {market!r}: coingecko lists no coin priced in it")
        return list(self._coins[vs].values())

    def server_time(self) -> int:
        if self._server_ms is None:
            self._get("/ping", {})
        if self._server_ms is None:
            raise ExchangeUnavailable(f"{self.base_url} sent no Date header (coingecko's "
                                      "clock is its replies' Date)")
        return self._server_ms

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        """Candles from ``start_ms``: ranges of the interval's length, one after another,
        until ``limit`` candles or the present."""
        coin, vs = self.check_symbol(symbol).rsplit("-", 1)
        interval_ms = INTERVAL_MS[interval]
        span = RANGE_MS[interval]
        now = self.server_time()
        found: dict[int, list] = {}
        begin = start_ms
        while begin <= now and len(found) < limit:
            end = begin + span
            page = self._get(f"/coins/{coin}/market_chart/range", {
                "vs_currency": vs, "from": begin // 1000, "to": end // 1000},
                check=lambda reply, first=begin: klines_from_page(
                    [kline for kline in _candles(reply, interval_ms) if kline[0] >= first],
                    first, interval_ms))
            for kline in page:
                if kline[0] >= start_ms:
                    found.setdefault(kline[0], kline)
            begin = end + 1000
            now = self._server_ms or now
        return [found[open_ms] for open_ms in sorted(found)][:limit]

    # -- machinery --------------------------------------------------------------------------

    def _get(self, path: str, params: dict, check=None):
        label = f"{self.base_url}{API}{path}"
        return self.retrier.call(label, lambda: self._send(label, params), check)

    def _send(self, url: str, params: dict):
        from requests import RequestException

        if self.pace:
            self.retrier.gate.space(self.pace)
        try:
            reply = self.session.get(url, params=params, timeout=self.timeout)
        except RequestException as exc:
            first_line = (str(exc).splitlines() or [""])[0][:160]
            raise retrying.Transient(f"{type(exc).__name__}: {first_line}") from None
        self._server_ms = date_header_ms(reply.headers) or self._server_ms
        if reply.status_code == 404:
            raise BadInput(f"coingecko does not know {urlsplit(url).path}: {reply.text[:120]}")
        if reply.status_code >= 400:
            raise retrying.error_of_status(reply.status_code, reply.headers,
                                           f"HTTP {reply.status_code}: {reply.text[:160]}")
        try:
            return json.loads(reply.text, parse_float=Decimal)
        except ValueError:
            raise retrying.Transient("invalid JSON in the reply (cut off?)") from None



def _has_form(facts, symbol: str) -> bool:
    try:
        facts.check_symbol(symbol)
    except BadInput:
        return False
    return True


def _candles(reply, interval_ms: int) -> list[list]:
    """A market_chart reply's points as klines on the interval's grid."""
    if not isinstance(reply, dict) or not isinstance(reply.get("prices"), list):
        raise ValueError("a market_chart reply without prices")
    volumes = {}
    for point in reply.get("total_volumes") or []:
        if isinstance(point, list) and len(point) == 2:
            volumes.setdefault(int(point[0]) // interval_ms, point[1])
    klines: dict[int, list] = {}
    for point in reply["prices"]:
        if not (isinstance(point, list) and len(point) == 2) or point[1] is None:
            raise ValueError(f"a market_chart price point of the wrong shape: {str(point)[:60]}")
        slot = int(point[0]) // interval_ms
        if slot in klines:
            continue
        price = _eight_places(point[1])
        volume = volumes.get(slot)
        klines[slot] = make_kline(slot * interval_ms, interval_ms, {
            "open": price, "high": price, "low": price, "close": price,
            "quoteAssetVolume": _eight_places(volume) if volume is not None else "0"})
    return [klines[slot] for slot in sorted(klines)]


def _eight_places(value) -> Decimal:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number.as_tuple().exponent < -PRICE_SCALE:  # type: ignore[operator]
        number = number.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    return number
