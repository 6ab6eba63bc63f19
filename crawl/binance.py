"""The exchange as the crawler sees it: python-binance, made to survive Binance.

Why a wrapper: the plain client raises on the first 429, 418, 5xx, timeout or cut-off reply,
and knows nothing of the per-minute request weight. :class:`BinanceClient` keeps the used
weight (``X-MBX-USED-WEIGHT-1M``) under a share of the limit that exchangeInfo announces,
honours every ``Retry-After`` (no request leaves before it has passed), retries transient
failures with a capped exponential backoff, and then gives up with a one-line
:class:`~coinlstm.core.errors.ExchangeUnavailable`: the rules of every source
(:class:`crawl.retry.Retrier`), fed by this client's translation of python-binance's
errors. Every request goes to the configured base URL
(real Binance by default, the replay server in tests), never elsewhere.

One client serves every thread of a concurrent crawl: the weight budget and the
``Retry-After`` pause are shared (crawl/gate.py), so the rules hold for all the requests in
flight, not for each thread's alone.

python-binance is imported when a client is built, so importing this module stays light.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

from coinlstm.core.errors import ExchangeUnavailable
from coinlstm.core.klines import check_interval, klines_from_page
from crawl.gate import GateCounters, WeightBudget, pool_for_threads
from crawl.retry import (
    Retrier,
    RetryPolicy,
    Transient,
    error_of_status,
)

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
#: Weights of the calls we make (spot API): checked against the ceiling before each call.
CALL_WEIGHTS = {"ping": 1, "time": 1, "exchangeInfo": 20, "klines": 2}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: While the server's clock rate is unknown, sleep at most this long between clock checks.
_CLOCK_PROBE_SECONDS = 2.0


class BinanceClient(GateCounters):
    """python-binance's ``Client`` against ``base_url``, with rate limits and retries.

    ``requests`` counts every HTTP request sent (a test compares it with the server's log).
    """

    def __init__(self, base_url: str, retry: RetryPolicy | None = None, timeout: float = 10.0):
        from binance.client import Client

        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        # ping=False: the constructor would otherwise contact api.binance.com at once.
        self.client = Client(api_key=None, api_secret=None, ping=False,
                             requests_params={"timeout": timeout})
        self.client.API_URL = self.base_url + "/api"
        if urlsplit(self.base_url).hostname in _LOOPBACK:
            # A proxy from the environment must never see (or reroute) loopback traffic.
            self.client.session.trust_env = False
        pool_for_threads(self.client.session)
        # python-binance keeps the last reply in ``client.response``, which another thread
        # may overwrite: each thread's own last reply is noted here, by a session hook.
        self._local = threading.local()
        self.client.session.hooks["response"].append(self._note_response)
        #: The shared retry rules; its gate holds the Retry-After pauses and the counters
        #: (requests sent, transient failures retried, 429/418 replies waited out and waits
        #: for a new minute), for every thread.
        self.retrier = Retrier(self.retry)
        self.gate = self.retrier.gate
        self.budget = WeightBudget()
        self.weight_limit: int | None = None
        self._clock_lock = threading.Lock()
        self._clock: tuple[float, int] | None = None  # (monotonic, server ms) of last sync
        self._clock_rate: float | None = None  # server ms per real ms, once measured

    @property
    def used_weight(self) -> int:
        """The weight the exchange last reported used this minute (as the budget holds it)."""
        return self.budget.used

    # -- the calls the crawler makes --------------------------------------------------

    def exchange_info(self) -> dict:
        """exchangeInfo; also learns the REQUEST_WEIGHT limit per minute from it."""
        info = self._call("exchangeInfo", lambda: self.client.get_exchange_info())
        if not isinstance(info, dict) or not isinstance(info.get("symbols"), list):
            raise ExchangeUnavailable(f"{self._url('exchangeInfo')} sent no symbol list")
        for limit in info.get("rateLimits") or []:
            if (limit.get("rateLimitType") == "REQUEST_WEIGHT"
                    and limit.get("interval") == "MINUTE" and limit.get("intervalNum") == 1):
                self.weight_limit = int(limit["limit"])
                self.budget.ceiling = self.weight_ceiling
        if "serverTime" in info:
            self._note_server_time(int(info["serverTime"]))
        return info

    def server_time(self) -> int:
        """The exchange's clock in ms (the crawler's notion of "now")."""
        reply = self._call("time", lambda: self.client.get_server_time())
        return self._server_ms(reply)

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int = 1000) -> list[list]:
        """Up to ``limit`` klines of ``symbol`` opening at or after ``start_ms``, oldest first,
        in stored form and checked by the kline rules (coinlstm.core.klines).

        A reply that breaks a rule is retried like a cut-off one; if every attempt does,
        :class:`BadReply` names the candle and the rule of the last one.
        """
        interval_ms = check_interval(interval)
        return self._call("klines", lambda: self.client.get_klines(
            symbol=symbol, interval=interval, startTime=start_ms, limit=limit),
            check=lambda page: klines_from_page(page, start_ms, interval_ms))

    # -- machinery --------------------------------------------------------------------

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/api/v3/{endpoint}"

    @property
    def weight_ceiling(self) -> int | None:
        """The used weight this client stays under (a share of the limit, a few below it)."""
        if self.weight_limit is None:
            return None
        share = int(self.weight_limit * self.retry.weight_share)
        return max(1, min(share, self.weight_limit - 3))

    def _call(self, endpoint: str, send, check_weight: bool = True, check=None):
        """Send one API call under the shared retry rules; with ``check``, a reply it refuses
        (ValueError) is one more transient failure, and its value is what the call returns."""
        return self.retrier.call(self._url(endpoint),
                                 lambda: self._send(endpoint, send, check_weight),
                                 check=check, gated=False)

    def _send(self, endpoint: str, send, check_weight: bool):
        """One request: its weight reserved in the shared budget before it leaves (waiting for
        room, then for any Retry-After), settled with the weight its reply reports, and
        python-binance's errors told in the retry rules' terms."""
        from binance.exceptions import BinanceAPIException, BinanceRequestException
        from requests import RequestException

        ticket = self.budget.reserve(CALL_WEIGHTS[endpoint],
                                     self._wait_for_minute if check_weight else None)
        self._local.response = None
        try:
            self.gate.wait_unblocked()
            return send()
        except BinanceAPIException as exc:
            raise _told(exc) from None
        except BinanceRequestException:
            raise Transient("invalid JSON in the reply (cut off?)") from None
        except RequestException as exc:
            raise Transient(_network_reason(exc, self.timeout)) from None
        finally:
            self.budget.settle(ticket, _used_weight(self._local.response))

    def _note_response(self, response, *args, **kwargs):
        self._local.response = response

    def _wait_for_minute(self, weight: int) -> None:
        """The budget has no room for a request of ``weight`` and nothing is in flight: ask
        the used weight (a ``time`` call, weight 1) and, if it is still too much, wait for
        the server's next minute (its counter then starts over).

        The wait is checked against the server's clock rather than ours: the replay server's
        clock may run faster than real time, and the used weight the server reports after
        that call is the truth either way.
        """
        server_ms = self._server_ms(self._call("time", lambda: self.client.get_server_time(),
                                               check_weight=False))
        if self.budget.fits(weight):
            return
        to_next_minute = MINUTE_MS - server_ms % MINUTE_MS + 50
        with self._clock_lock:
            rate = self._clock_rate
        if rate is None:
            pause = min(to_next_minute / 1000, _CLOCK_PROBE_SECONDS)
        else:
            pause = to_next_minute / 1000 / rate
        self.gate.count_wait()
        log.debug("used weight %d of %d: waiting %.1f s for the next minute",
                  self.budget.used, self.weight_limit, pause)
        time.sleep(pause)

    def _server_ms(self, reply) -> int:
        try:
            server_ms = int(reply["serverTime"])
        except (TypeError, KeyError, ValueError):
            raise ExchangeUnavailable(f"{self._url('time')} sent no serverTime") from None
        self._note_server_time(server_ms)
        return server_ms

    def _note_server_time(self, server_ms: int) -> None:
        # Two readings a second or more apart give the server clock's rate (1 for Binance).
        with self._clock_lock:
            now = time.monotonic()
            if self._clock is not None:
                real_ms = (now - self._clock[0]) * 1000
                if real_ms >= 1000:
                    self._clock_rate = max(0.5, (server_ms - self._clock[1]) / real_ms)
            self._clock = (now, server_ms)


def _told(exc) -> Exception:
    """A python-binance API error in the retry rules' terms: 429/418 a rate limit, another
    4xx a refusal, a 5xx a transient failure."""
    status = exc.status_code
    return error_of_status(status, getattr(exc.response, "headers", None),
                           f"HTTP {status}, code {exc.code}: {exc.message}")


def _used_weight(response) -> int | None:
    """The X-MBX-USED-WEIGHT-1M of a reply (None: no reply, or no such header)."""
    value = getattr(response, "headers", {}).get(WEIGHT_HEADER) if response is not None \
        else None
    return int(value) if value is not None and str(value).isdigit() else None


def _network_reason(exc: Exception, timeout: float) -> str:
    """A short reason for a requests failure (its own text is a paragraph)."""
    from requests import ConnectionError as RequestsConnectionError
    from requests import Timeout

    text = str(exc)
    if isinstance(exc, Timeout):
        return f"no reply within {timeout:g} s"
    if "Connection refused" in text:
        return "connection refused"
    if isinstance(exc, RequestsConnectionError):
        if "Name or service not known" in text or "NameResolutionError" in text:
            return "host name not found"
        return "connection failed or cut off"
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
