"""Reply formats of the replay server: the same candle files, each exchange's own replies.

Why a seam: the replay server (crawl/replay.py) owns what every exchange shares (loading
the 12-column ``SYMBOL.csv`` files or dumps once, the clock that can stand anywhere in the
data and run fast, the request log, the fault flags: 429/418 with Retry-After, 5xx, cut-off
and slow replies); a format owns only the paths, the names and the JSON of one exchange.
Binance's format is the server's own (unchanged); the others are one small module each,
built from the endpoints ccxt's ``load_markets``/``fetch_ohlcv`` (Poloniex, Bithumb) and
the CoinGecko client call, with the reply shapes those libraries and docs show.

A file's symbol (``ADAETH``, ``ETHKRW``) is split into base and quote by the known quote
assets (KRW added here) and renamed to the exchange's own form (``ADA_ETH``, ``KRW-ETH``,
``ada-eth``).
"""

from __future__ import annotations

from coinlstm.core.errors import BadInput
from crawl.replayformats.base import (
    EXTRA_QUOTES,
    RawNumber,
    ReplyError,
    ReplyFormat,
    Series,
    dumps,
    one,
    series_of,
    split_file_symbol,
)
from crawl.replayformats.bithumb import BithumbReplies
from crawl.replayformats.coingecko import CoinGeckoReplies
from crawl.replayformats.poloniex import PoloniexReplies

__all__ = ["EXTRA_QUOTES", "FORMATS", "REPLAY_EXCHANGES", "RawNumber", "ReplyError",
           "ReplyFormat", "Series", "dumps", "one", "reply_format", "series_of",
           "split_file_symbol"]

#: name -> builder(series). Binance is the server's own format (no entry needed).
FORMATS = {"poloniex": PoloniexReplies, "bithumb": BithumbReplies,
           "coingecko": CoinGeckoReplies}
REPLAY_EXCHANGES = ("binance", *FORMATS)


def reply_format(name: str, symbols: dict) -> ReplyFormat | None:
    """The format of ``name`` over the server's symbols; None for Binance (built in)."""
    if name == "binance":
        return None
    if name not in FORMATS:
        raise BadInput(f"unknown exchange {name!r}; the replay server speaks "
                       f"{', '.join(REPLAY_EXCHANGES)}")
    return FORMATS[name](series_of(symbols))
