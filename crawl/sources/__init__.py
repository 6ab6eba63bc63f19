"""Candle sources: one seam for every exchange the crawler reads.

Why a seam: the crawler's job (register a market's pairs, store every closed candle page by
page, resume from the newest) is the same whatever the exchange; what differs is how a
market's pairs are listed, how a page of candles since T is asked for, what the reply looks
like, and how the exchange says "slow down". A :class:`CandleSource` hides exactly that. The
crawler sees Binance's 12-field klines from every source; a field the source does not have
is sent as ``"0"`` (a missing open, high or low as the close, so the kline rules hold) and
``source.facts.columns`` says which fields are real.

One class per source, one registry (:data:`SOURCES`; each exchange's symbol form, columns
and intervals are facts of coinlstm.core.exchanges): ``binance`` wraps the existing
python-binance client unchanged; ``poloniex`` and ``bithumb`` go through ccxt's
``fetch_ohlcv``; ``coingecko`` has its own small client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from coinlstm.core.exchanges import KLINE_COLUMNS, Exchange, exchange

#: The status a pair has when it can be crawled (Binance's word, used for every source).
TRADING = "TRADING"


@dataclass(frozen=True)
class SourcePair:
    """One pair of a market as the source lists it; ``symbol`` in the source's canonical form."""

    symbol: str
    base_asset: str
    quote_asset: str
    status: str = TRADING


class CandleSource(Protocol):
    """What the crawler asks of an exchange. Implementations count every HTTP request sent
    (``requests``), transient failures retried (``retries``) and rate-limit waits
    (``rate_limit_waits``, a ``Retry-After`` waited out), and raise
    :class:`~coinlstm.core.errors.ExchangeUnavailable` with one line when they give up."""

    #: The registry name (``binance``, ``poloniex``, ...).
    name: str
    #: Its symbol form, columns and intervals (coinlstm.core.exchanges).
    facts: Exchange
    #: The most candles one page may hold: a shorter page means "nothing newer yet".
    page_limit: int
    requests: int
    retries: int
    rate_limit_waits: int

    def check_symbol(self, symbol: str) -> str:
        """The symbol if it is in this source's canonical form; BadInput (one line) if not."""

    def pairs(self, market: str) -> list[SourcePair]:
        """Every pair quoted in ``market`` (any status); BadInput if the market has none."""

    def server_time(self) -> int:
        """The source's clock in ms (what "now" is for the open candle)."""

    def klines(self, symbol: str, interval: str, start_ms: int, limit: int) -> list[list]:
        """Up to ``limit`` 12-field klines opening at or after ``start_ms``, oldest first."""


def _binance(url, retry=None, timeout=10.0):
    from crawl.sources.binance_source import BinanceSource

    return BinanceSource(url, retry=retry, timeout=timeout)


def _poloniex(url, retry=None, timeout=10.0):
    from crawl.sources.poloniex import PoloniexSource

    return PoloniexSource(url, retry=retry, timeout=timeout)


def _bithumb(url, retry=None, timeout=10.0):
    from crawl.sources.bithumb import BithumbSource

    return BithumbSource(url, retry=retry, timeout=timeout)


def _coingecko(url, retry=None, timeout=10.0):
    from crawl.sources.coingecko import CoinGeckoSource

    return CoinGeckoSource(url, retry=retry, timeout=timeout)


#: exchange name -> builder(url, retry, timeout); the facts of each are in
#: coinlstm.core.exchanges.EXCHANGES (a test keeps the two lists equal).
SOURCES: dict[str, Callable[..., CandleSource]] = {
    "binance": _binance, "poloniex": _poloniex, "bithumb": _bithumb, "coingecko": _coingecko}


def open_source(name: str | None, url: str | None = None, retry=None, timeout: float = 10.0
                ) -> CandleSource:
    """A source of exchange ``name`` (the default for None) against ``url`` (its real API
    when None); BadInput (one line) for an exchange we do not read."""
    facts = exchange(name)
    return SOURCES[facts.name]((url or facts.default_url).rstrip("/"), retry=retry,
                               timeout=timeout)


def make_kline(open_ms: int, interval_ms: int, values: dict[str, object]) -> list:
    """A 12-field kline in Binance's reply form from the fields a source has: times as int
    ms (the close one ms before the next open), the trade count as int, decimals as their
    exact text; every field the source lacks is ``"0"`` (the count: 0)."""
    from decimal import Decimal

    kline: list = [int(open_ms)]
    for name in KLINE_COLUMNS:
        if name == "closeTime":
            kline.append(int(open_ms) + interval_ms - 1)
        elif name == "numberOfTrader":
            kline.append(int(values.get(name, 0)))
        elif name == "ignore":
            kline.append("0")
        else:
            value = values.get(name, "0")
            kline.append(format(value, "f") if isinstance(value, Decimal) else str(value))
    return kline
