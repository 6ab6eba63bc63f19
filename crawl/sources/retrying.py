"""The retry, Retry-After and bad-reply rules of the Binance crawl, for the other sources.

Why shared: every source must behave the same under trouble (tests assert it once per
source): a 429/418 is not a failure, its ``Retry-After`` is waited out (measured from the
reply, so no request leaves earlier), up to a count and a length; a 5xx, a network error, a
cut-off or malformed reply is retried with the capped exponential backoff of
:class:`crawl.binance.RetryPolicy`; a refusal (4xx) is one line at once. A source turns its
library's errors into the three outcomes below and lets :class:`Retrier` decide.

One Retrier serves every thread of a concurrent crawl: its :class:`crawl.gate.RequestGate`
makes a ``Retry-After`` pause every thread, and spaces requests for ccxt's ``rateLimit``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from coinlstm.core.errors import ExchangeUnavailable
from crawl.binance import RetryPolicy
from crawl.gate import GateCounters, RequestGate

log = logging.getLogger(__name__)


class RateLimited(Exception):
    """The source said "too many requests" (HTTP 429/418); ``retry_after`` in seconds, or
    None when it did not say."""

    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class Transient(Exception):
    """A failure worth another try: 5xx, network, timeout, a cut-off or malformed reply."""


class Refused(Exception):
    """The source refused the request (4xx other than rate limits): no retry helps."""


def retry_after_seconds(headers) -> float | None:
    """The ``Retry-After`` header in seconds (its number form), None when absent or odd."""
    value = (headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class Retrier(GateCounters):
    """Runs requests under the rules, from any number of threads; counts what the crawl
    summary reports (in its shared ``gate``)."""

    def __init__(self, retry: RetryPolicy | None = None):
        self.retry = retry or RetryPolicy()
        self.gate = RequestGate()

    def call(self, label: str, send: Callable, check: Callable | None = None):
        """``send()`` until it returns, under the rules; ``label`` names it in messages.

        With ``check``, the reply goes through it (the kline rules: a ValueError is one more
        failure, retried like a cut-off reply) and its value is what the call returns; when
        every attempt broke the rules, :class:`crawl.binance.BadReply` says so (the crawl
        skips that pair and goes on)."""
        from crawl.binance import given_up

        failures = rate_limited = 0
        bad_reply = False
        while True:
            self.gate.wait_unblocked()
            try:
                reply = send()
            except RateLimited as exc:
                rate_limited += 1
                self._obey(label, exc, rate_limited)
                continue
            except Refused as exc:
                raise ExchangeUnavailable(f"{label} refused the request: {exc}") from None
            except Transient as exc:
                reason, bad_reply = str(exc), False
            else:
                if check is None:
                    return reply
                try:
                    return check(reply)
                except ValueError as exc:
                    reason, bad_reply = str(exc), True
            failures += 1
            if failures >= self.retry.attempts:
                raise given_up(label, failures, reason, bad_reply) from None
            self.gate.count_retry()
            pause = self.retry.backoff(failures)
            log.debug("%s: %s; retry %d/%d in %.1f s", label, reason, failures,
                      self.retry.attempts - 1, pause)
            time.sleep(pause)

    def _obey(self, label: str, exc: RateLimited, times: int) -> None:
        wait = exc.retry_after if exc.retry_after is not None else self.retry.backoff(times)
        if wait > self.retry.max_retry_after:
            raise ExchangeUnavailable(
                f"{label} answered HTTP {exc.status} and asks to wait {wait:.0f} s (over "
                f"{self.retry.max_retry_after:.0f} s); try later") from None
        if times > self.retry.max_rate_limit_waits:
            raise ExchangeUnavailable(
                f"{label} answered HTTP {exc.status} {times} times in a row; giving up") from None
        log.debug("%s: HTTP %d, waiting %.1f s as Retry-After asks", label, exc.status, wait)
        self.gate.pause_all(wait)  # from the reply's arrival, for every thread


class CountedSource(GateCounters):
    """What every source shares: its counters (read from ``self.counter``: a Retrier, or the
    wrapped Binance client, which counts the same three things) and its symbol check (its
    exchange's form, ``self.facts``)."""

    counter: GateCounters
    facts: object

    @property
    def gate(self) -> RequestGate:
        return self.counter.gate

    def check_symbol(self, symbol: str) -> str:
        return self.facts.check_symbol(symbol)


def date_header_ms(headers) -> int | None:
    """A reply's ``Date`` header in ms (the clock of exchanges without a time endpoint)."""
    from email.utils import parsedate_to_datetime

    date = (headers or {}).get("Date")
    try:
        return int(parsedate_to_datetime(date).timestamp() * 1000) if date else None
    except (TypeError, ValueError):
        return None
