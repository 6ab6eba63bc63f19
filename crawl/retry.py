"""The retry rules every candle source obeys: what a rate limit, a transient failure and a
refusal are, how long to back off, and when to give up in one line.

Why one place: every source must behave the same under trouble (tests assert it once per
source): a 429/418 is not a failure, its ``Retry-After`` is waited out (measured from the
reply, so no request leaves earlier), up to a count and a length; a 5xx, a network error, a
cut-off or malformed reply is retried with a capped exponential backoff; a refusal (4xx) is
one line at once. A source turns its library's errors into :class:`RateLimited`,
:class:`Transient` or :class:`Refused` and lets :class:`Retrier` decide.

One Retrier serves every thread of a concurrent crawl: its :class:`crawl.gate.RequestGate`
makes a ``Retry-After`` pause every thread, and spaces requests for ccxt's ``rateLimit``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from coinlstm.core.errors import ExchangeUnavailable
from crawl.gate import GateCounters, RequestGate

log = logging.getLogger(__name__)


class BadReply(ExchangeUnavailable):
    """The exchange answered, every time, with klines that break a rule: that pair's data
    cannot be trusted now, but the exchange itself is up (the crawl goes on with the next
    pair)."""


def given_up(label: str, failures: int, reason: str, bad_reply: bool) -> ExchangeUnavailable:
    """The one-line failure once every attempt at ``label`` failed: BadReply when the last
    reply broke the kline rules, else ExchangeUnavailable."""
    if bad_reply:
        return BadReply(f"{label} sent a bad reply {failures} times, giving up; last: {reason}")
    return ExchangeUnavailable(f"{label} failed {failures} times, giving up; last: {reason}")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults: 5 attempts with 0.5+1+2+4 s of backoff in between.

    Rate-limit replies (429/418) are not failures: their ``Retry-After`` is waited out, up to
    ``max_rate_limit_waits`` times per call, unless it asks for more than
    ``max_retry_after`` seconds (a long ban is better reported than slept through).
    """

    attempts: int = 5
    first_backoff: float = 0.5
    max_backoff: float = 8.0
    max_rate_limit_waits: int = 20
    max_retry_after: float = 300.0
    #: Share of the announced REQUEST_WEIGHT limit the client allows itself.
    weight_share: float = 0.8

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based)."""
        return min(self.first_backoff * 2 ** (failures - 1), self.max_backoff)


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


def error_of_status(status: int, headers, refusal: str) -> Exception:
    """An HTTP error reply in the rules' terms, for every source: 429/418 a rate limit (with
    its ``Retry-After``), a 5xx a transient failure, another status a refusal (``refusal``:
    the source's own words for it)."""
    if status in (429, 418):
        return RateLimited(status, retry_after_seconds(headers))
    if status >= 500:
        return Transient(f"HTTP {status}")
    return Refused(refusal)


class Retrier(GateCounters):
    """Runs requests under the rules, from any number of threads; counts what the crawl
    summary reports (in its shared ``gate``)."""

    def __init__(self, retry: RetryPolicy | None = None):
        self.retry = retry or RetryPolicy()
        self.gate = RequestGate()

    def call(self, label: str, send: Callable, check: Callable | None = None,
             gated: bool = True):
        """``send()`` until it returns, under the rules; ``label`` names it in messages.

        With ``check``, the reply goes through it (the kline rules: a ValueError is one more
        failure, retried like a cut-off reply) and its value is what the call returns; when
        every attempt broke the rules, :class:`BadReply` says so (the crawl
        skips that pair and goes on).

        With ``gated=False`` the caller's ``send`` passes the gate itself
        (``gate.wait_unblocked()``), at the moment it chooses: Binance's client reserves
        request weight first, so that a Retry-After arriving meanwhile still holds."""
        failures = rate_limited = 0
        bad_reply = False
        while True:
            if gated:
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
