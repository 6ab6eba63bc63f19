"""What every candle source is and says: the :class:`CandleSource` protocol, a market's
:class:`SourcePair`, and a kline in Binance's reply form from the fields a source has."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from coinlstm.core.exchanges import KLINE_COLUMNS, Exchange

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


def make_kline(open_ms: int, interval_ms: int, values: dict[str, object]) -> list:
    """A 12-field kline in Binance's reply form from the fields a source has: times as int
    ms (the close one ms before the next open), the trade count as int, decimals as their
    exact text; every field the source lacks is ``"0"`` (the count: 0)."""
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
