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

from coinlstm.core.exchanges import exchange
from crawl.sources.base import TRADING, CandleSource, SourcePair, make_kline
from crawl.sources.binance_source import BinanceSource
from crawl.sources.bithumb import BithumbSource
from crawl.sources.coingecko import CoinGeckoSource
from crawl.sources.poloniex import PoloniexSource

__all__ = ["SOURCES", "TRADING", "CandleSource", "SourcePair", "make_kline", "open_source"]

#: exchange name -> builder(url, retry, timeout); the facts of each are in
#: coinlstm.core.exchanges.EXCHANGES (a test keeps the two lists equal).
SOURCES: dict[str, Callable[..., CandleSource]] = {
    "binance": BinanceSource, "poloniex": PoloniexSource, "bithumb": BithumbSource,
    "coingecko": CoinGeckoSource}


def open_source(name: str | None, url: str | None = None, retry=None, timeout: float = 10.0
                ) -> CandleSource:
    """A source of exchange ``name`` (the default for None) against ``url`` (its real API
    when None); BadInput (one line) for an exchange we do not read."""
    facts = exchange(name)
    return SOURCES[facts.name]((url or facts.default_url).rstrip("/"), retry=retry,
                               timeout=timeout)
