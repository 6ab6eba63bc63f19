"""What every reply format shares: the served :class:`Series`, the :class:`ReplyFormat`
protocol, error replies and JSON with the files' own digits."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Protocol

from coinlstm.core.errors import BadInput
from coinlstm.core.klines import split_symbol

#: Quote assets of the other exchanges that Binance's list lacks.
EXTRA_QUOTES = ("KRW", "USD")


class ReplyError(Exception):
    """An error reply: HTTP status and the exchange's own JSON body."""

    def __init__(self, status: int, body: object):
        super().__init__(str(body))
        self.status = status
        self.body = body


@dataclass
class Series:
    """One served symbol: its candles as Binance kline fields (exact text), oldest first."""

    file_symbol: str
    base: str
    quote: str
    interval: str
    open_times: list[int]
    klines: list[list]

    def visible(self, now_ms: int) -> int:
        """How many candles have opened by ``now_ms`` (the newest may still be open)."""
        return bisect_right(self.open_times, now_ms)

    def window(self, start_ms: int | None, end_ms: int | None, now_ms: int) -> tuple[int, int]:
        """Index range of the candles opening in [start, end] that exist at ``now_ms``."""
        last = self.visible(now_ms)
        if end_ms is not None:
            last = min(last, bisect_right(self.open_times, end_ms))
        first = 0 if start_ms is None else bisect_left(self.open_times, start_ms)
        return first, max(first, last)


def split_file_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a served file's symbol."""
    try:
        return split_symbol(symbol)
    except BadInput:
        for quote in EXTRA_QUOTES:
            if symbol.endswith(quote) and len(symbol) > len(quote):
                return symbol[: -len(quote)], quote
        raise


def series_of(symbols: dict) -> list[Series]:
    """The replay server's loaded symbols (crawl.replay.SymbolCandles) as Series."""
    found = []
    for symbol, candles in symbols.items():
        try:
            base, quote = split_file_symbol(symbol)
        except BadInput:
            raise BadInput(f"{symbol}.csv: cannot tell its quote asset, so not its name on "
                           "this exchange") from None
        klines = [json.loads(text) for text in candles.rendered]
        found.append(Series(symbol, base, quote, candles.interval, list(candles.open_times),
                            klines))
    return found


class ReplyFormat(Protocol):
    """One exchange's replies. ``answer`` gets the path and query of a GET and the server's
    clock; it returns the JSON value of a 200 reply, or raises ReplyError."""

    name: str

    def answer(self, path: str, query: dict[str, list[str]], now_ms: int) -> object:
        ...

    def error_body(self, status: int, message: str) -> object:
        """The body of an error reply (injected faults use it too)."""
        ...


def one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


class RawNumber(str):
    """A decimal that :func:`dumps` writes as a bare JSON number with the file's own digits
    (exchanges that send numbers, not strings, still round-trip exactly)."""


def dumps(value: object) -> bytes:
    """JSON of a reply, RawNumber values as bare numbers (json.dumps would quote them)."""
    if isinstance(value, RawNumber):
        return str(value).encode()
    if isinstance(value, list):
        return b"[" + b",".join(dumps(item) for item in value) + b"]"
    if isinstance(value, dict):
        return b"{" + b",".join(json.dumps(str(key)).encode() + b":" + dumps(item)
                                for key, item in value.items()) + b"}"
    return json.dumps(value).encode()
