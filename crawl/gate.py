"""What every request to one exchange passes, whichever of the crawl's threads sends it.

Why shared: the crawl fetches a market's pairs concurrently (crawl.crawler,
``--crawl-workers``), but an exchange's limits are on the client, not on a pair. A 429/418's
``Retry-After`` forbids *every* request until it has passed; ccxt's ``rateLimit`` spaces the
requests to the exchange, not those of one thread; Binance counts request weight per minute
over everything we send. So one :class:`RequestGate` per candle source holds the first two
rules (and the counters the crawl summary reports) for all threads, and Binance's client
adds one :class:`WeightBudget`.

The rules themselves (what a 429 is, when to give up) live once, for every source,
in crawl/retry.py; this only makes them hold across threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from coinlstm.core.config import MAX_CRAWL_WORKERS


class RequestGate:
    """Retry-After pauses, request spacing and counters, shared by every thread of a source.

    ``requests``: HTTP requests sent; ``retries``: transient failures retried;
    ``rate_limit_waits``: rate-limit replies waited out and waits for a new weight minute.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._blocked_until = 0.0  # time.monotonic() before which nothing may be sent
        self._last_spaced = float("-inf")  # start of the last request that asked for spacing
        self.requests = 0
        self.retries = 0
        self.rate_limit_waits = 0

    def wait_unblocked(self) -> None:
        """Return once no Retry-After is pending (at once when none is), and count the request
        the caller is about to send."""
        with self._cond:
            while (pause := self._blocked_until - time.monotonic()) > 0:
                self._cond.wait(pause)
            self.requests += 1

    def pause_all(self, seconds: float) -> None:
        """A rate-limit reply asked for ``seconds``: no request of any thread leaves before
        they have passed (measured from now, the reply's arrival)."""
        with self._cond:
            self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
            self.rate_limit_waits += 1

    def space(self, seconds: float) -> float:
        """Wait until ``seconds`` have passed since the previous spaced request started (of any
        thread), then mark this one's start (returned, time.monotonic()): ccxt's
        ``rateLimit`` rule, across threads."""
        with self._cond:
            while (pause := self._last_spaced + seconds - time.monotonic()) > 0:
                self._cond.wait(pause)
            self._last_spaced = time.monotonic()
            return self._last_spaced

    def count_retry(self) -> None:
        with self._cond:
            self.retries += 1

    def count_wait(self) -> None:
        with self._cond:
            self.rate_limit_waits += 1


class GateCounters:
    """The three figures a crawl summary reports (requests sent, transient failures retried,
    429/418 replies waited out), read from the object's shared ``gate``: one definition for
    the Binance client, the ccxt/CoinGecko retrier and every source that wraps either."""

    gate: RequestGate
    requests = property(attrgetter("gate.requests"))
    retries = property(attrgetter("gate.retries"))
    rate_limit_waits = property(attrgetter("gate.rate_limit_waits"))


@dataclass(frozen=True)
class Ticket:
    """One request's reserved weight; ``alone``: nothing else was in flight when it left."""

    weight: int
    number: int
    alone: bool


class WeightBudget:
    """The request weight used this minute, kept under ``ceiling`` by every thread at once.

    The exchange reports the weight it has counted (X-MBX-USED-WEIGHT-1M) on each reply, but
    with several requests in flight a reply's figure can be stale (another request arrived
    after it and was answered first) and it never includes requests still on their way. So
    a request leaves only if the last figure plus the weight of every request in flight plus
    its own stays under the ceiling; a figure is taken as it is only from a request that was
    alone from start to reply (what a single thread always is, so one worker behaves as the
    serial crawl did), otherwise the largest figure seen stands. When nothing more fits,
    one thread, once nothing is in flight, asks the exchange (``wait_for_minute``) and waits
    for its next minute while the others wait for it.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self.ceiling: int | None = None
        self.used = 0
        self.pending = 0
        self._issued = 0
        self._probing = False

    def reserve(self, weight: int, wait_for_minute: Callable[[int], None] | None) -> Ticket:
        """Block until a request of ``weight`` fits, then count it as in flight. Without
        ``wait_for_minute`` the request goes at once (the probe that learns the minute's
        weight: it may pass the ceiling by its own weight, as it always could)."""
        while True:
            with self._cond:
                while True:
                    if (wait_for_minute is None or self.ceiling is None
                            or self.used + self.pending + weight <= self.ceiling):
                        return self._issue(weight)
                    if not self._probing and self.pending == 0:
                        self._probing = True
                        break
                    self._cond.wait()
            try:
                wait_for_minute(weight)
            finally:
                with self._cond:
                    self._probing = False
                    self._cond.notify_all()

    def settle(self, ticket: Ticket, used: int | None) -> None:
        """The request of ``ticket`` is answered (or failed); ``used`` is the weight the reply
        reported, None when it carried none."""
        with self._cond:
            self.pending -= ticket.weight
            if used is not None:
                exact = ticket.alone and ticket.number == self._issued
                self.used = used if exact else max(self.used, used)
            self._cond.notify_all()

    def fits(self, weight: int) -> bool:
        with self._cond:
            return self.ceiling is None or self.used + self.pending + weight <= self.ceiling

    def _issue(self, weight: int) -> Ticket:
        self._issued += 1
        ticket = Ticket(weight, self._issued, alone=self.pending == 0)
        self.pending += weight
        return ticket


def pool_for_threads(session) -> None:
    """Let every crawl thread keep its own kept-alive connection in a requests ``session``:
    the default pool holds 10 per host, and a thread past that would open (and drop) a new
    connection for each request."""
    from requests.adapters import HTTPAdapter

    for prefix in ("http://", "https://"):
        session.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=MAX_CRAWL_WORKERS))
