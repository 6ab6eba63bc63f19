"""What the ccxt sources (Poloniex, Bithumb) share: the exchange object pointed at a base
URL, exact decimals, and ccxt's errors turned into the crawl's retry rules.

Why these overrides of a ccxt exchange: ccxt parses every reply with a JSON parser that makes
floats of numbers and every value it returns a float, which would round prices on their
way into DECIMAL(38, 8); here a reply's numbers are kept as their JSON text (ccxt's
``safe_string`` passes text through) and ``fetch_ohlcv`` returns the values as text
(``exchange.number = str``). ccxt raises on a
429 but does not wait for its ``Retry-After`` and takes a cut-off reply for an empty one;
here the reply's status and headers are noted (``on_rest_response``), a body that is not
complete JSON is a failure to retry, and :class:`crawl.retry.Retrier` applies
the Binance crawl's rules. ccxt's own rate limiter (``rateLimit`` ms between requests)
stays on.

Threads: a ccxt exchange object is not safe to share (it keeps the last reply, and the
number type is switched around each candle call), so each crawl thread gets its own, made
like the first and sharing its loaded markets; their ``throttle`` (ccxt's rateLimit wait)
is the source's one :meth:`crawl.gate.RequestGate.space`, so the spacing holds across all of
them, as if one object sent every request.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlsplit

from coinlstm.core.errors import BadInput, ExchangeUnavailable
from crawl.retry import (
    Retrier,
    RetryPolicy,
    Transient,
    error_of_status,
)
from crawl.sources.base import TRADING, SourcePair
from crawl.sources.retrying import CountedSource, date_header_ms

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class CutOffReply(Exception):
    """A reply body that starts like JSON but does not parse: cut off on its way."""


def exact_json(text: str):
    """JSON with decimal numbers as their own text (exact); CutOffReply for a body that does
    not parse."""
    try:
        return json.loads(text, parse_float=str)
    except ValueError:
        raise CutOffReply("invalid JSON in the reply (cut off?)") from None


class CcxtSource(CountedSource):
    """A ccxt exchange as a candle source; subclasses say which and how candles map."""

    name = ""
    exchange_id = ""

    def __init__(self, url: str, retry: RetryPolicy | None = None, timeout: float = 10.0):
        self.base_url = url.rstrip("/")
        self.timeout = timeout
        self.retrier = self.counter = Retrier(retry)
        self._local = threading.local()
        self._first = self._new_exchange()
        self._local.exchange = self._first
        self._server_ms: int | None = None
        self._markets: dict | None = None
        self._markets_lock = threading.RLock()

    @property
    def exchange(self):
        """This thread's ccxt exchange object (the first one for the thread that made the
        source; others get their own, with the markets already loaded)."""
        exchange = getattr(self._local, "exchange", None)
        if exchange is None:
            exchange = self._local.exchange = self._new_exchange()
        if exchange.markets is None and self._first.markets is not None:
            exchange.set_markets_from_exchange(self._first)
        return exchange

    def _new_exchange(self):
        import ccxt

        exchange = getattr(ccxt, self.exchange_id)({
            "timeout": int(self.timeout * 1000), "enableRateLimit": True})
        # Every API of the exchange (spot, swap, public, ...) goes to the one base URL.
        exchange.urls["api"] = {key: self.base_url for key in exchange.urls["api"]}
        exchange.enableLastJsonResponse = True
        exchange.on_json_response = exact_json
        exchange.on_rest_response = self._note_reply
        if urlsplit(self.base_url).hostname in _LOOPBACK:
            exchange.session.trust_env = False  # no proxy ever sees loopback traffic
        def throttle(cost=None) -> None:
            # ccxt's own rule (rateLimit ms x the call's cost since the last request), kept
            # across every thread's exchange object; the first object's rateLimit is the
            # source's.
            self.retrier.gate.space(self._first.rateLimit * (1 if cost is None else cost)
                                    / 1000)

        exchange.throttle = throttle
        return exchange

    # -- the seam -------------------------------------------------------------------------

    def pairs(self, market: str) -> list[SourcePair]:
        found = [pair for pair in self._load_markets().values() if pair.quote_asset == market]
        if not found:
            raise BadInput(f"unknown market {market!r}: {self.name} lists no pair quoted in it")
        return found

    def all_pairs(self) -> list[SourcePair]:
        """Every spot pair the exchange lists, of every market."""
        return list(self._load_markets().values())

    def server_time(self) -> int:
        """The time of the exchange's last reply (its ``Date`` header), asking for the
        markets if nothing was asked yet. Subclasses with a clock endpoint use it instead."""
        if self._server_ms is None:
            self._load_markets()
        if self._server_ms is None:
            raise ExchangeUnavailable(f"{self.base_url} sent no Date header: {self.name} has "
                                      "no clock endpoint, its replies' Date is the clock")
        return self._server_ms

    # -- machinery --------------------------------------------------------------------------

    def _load_markets(self) -> dict[str, SourcePair]:
        """Symbol -> pair of every spot market (one load per source object)."""
        with self._markets_lock:
            if self._markets is None:
                # ccxt's load_markets in its steps, each retried on its own (a failure in the
                # second step does not send the first again).
                exchange = self.exchange
                currencies = None
                if exchange.has.get("fetchCurrencies") is True:
                    currencies = self._call("currencies", exchange.fetch_currencies)
                markets = self._call("markets", exchange.fetch_markets)
                exchange.set_markets(markets, currencies)
                if exchange is not self._first:  # the other threads' objects copy the first
                    self._first.set_markets_from_exchange(exchange)
                found = {}
                for market in exchange.markets.values():
                    pair = self._pair(market)
                    if pair is not None:
                        found[pair.symbol] = pair
                self._markets = found
            return self._markets

    def _pair(self, market: dict) -> SourcePair | None:
        if not market.get("spot"):
            return None
        try:
            symbol = self.check_symbol(str(market["id"]))
        except BadInput:
            return None
        status = TRADING if market.get("active", True) is not False else "BREAK"
        return SourcePair(symbol, str(market["baseId"]).upper(), str(market["quoteId"]).upper(),
                          status)

    def _market(self, symbol: str) -> dict:
        self._load_markets()
        market = self.exchange.markets_by_id.get(symbol)
        if not market:
            raise BadInput(f"{symbol} is not a pair of {self.name}")
        return market[0] if isinstance(market, list) else market

    def _fetch_ohlcv(self, symbol: str, interval: str, since: int | None, limit: int,
                     params: dict | None = None, check=None):
        """ccxt's fetch_ohlcv (values as exact text) and the raw reply it parsed, through
        ``check(rows, raw)`` (the page's klines, checked by the kline rules) when given."""
        market = self._market(symbol)

        def send():
            self.exchange.number = str
            try:
                rows = self.exchange.fetch_ohlcv(market["symbol"], interval, since, limit,
                                                 dict(params or {}))
            finally:
                self.exchange.number = float
            return rows, self.exchange.last_json_response

        return self._call("candles", send,
                          None if check is None else (lambda reply: check(*reply)))

    def _call(self, what: str, send, check=None):
        label = f"{self.base_url} ({self.name} {what})"
        return self.retrier.call(label, lambda: self._translated(send), check)

    def _translated(self, send):
        """Run one ccxt call, its outcome in the Retrier's terms."""
        import ccxt

        self._local.status = None
        self.exchange.last_json_response = None
        try:
            return send()
        except CutOffReply as exc:
            raise Transient(str(exc)) from None
        except ccxt.BaseError as exc:
            status = getattr(self._local, "status", None)
            if status is None and isinstance(exc, ccxt.DDoSProtection):
                status = 429
            elif status is None and isinstance(exc, ccxt.NetworkError):
                raise Transient(_first_line(exc)) from None
            raise error_of_status(status or 0, self.exchange.last_response_headers,
                                  f"HTTP {status}: {_first_line(exc)}") from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # ccxt choking on a reply of the wrong shape: as bad as a cut-off one.
            raise Transient(f"malformed reply: {type(exc).__name__}: {_first_line(exc)}") from None

    def _note_reply(self, code, reason, url, method, headers, body, *request):
        """ccxt's hook on every reply: keep its status (this thread's) and the server's clock."""
        self._local.status = int(code)
        self._server_ms = date_header_ms(headers) or self._server_ms
        return body


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]
