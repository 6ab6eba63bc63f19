"""What every candle source built on the shared retry rules has in common: its counters and
its symbol check (:class:`CountedSource`), and the clock of exchanges without a time endpoint.

The retry rules themselves live in :mod:`crawl.retry`.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from crawl.gate import GateCounters, RequestGate


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
    date = (headers or {}).get("Date")
    try:
        return int(parsedate_to_datetime(date).timestamp() * 1000) if date else None
    except (TypeError, ValueError):
        return None
