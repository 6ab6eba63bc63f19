"""Pure kline helpers shared by the crawler, the importer and the replay server.

A kline is Binance's 12-field candle: open time, open, high, low, close, volume, close time,
quote asset volume, number of trades, taker buy base volume, taker buy quote volume, ignore.
Nothing here touches the network or the disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from coinlstm.core.columns import CANDLE_COLUMNS
from coinlstm.core.config import INTERVAL_MS
from coinlstm.core.decimals import to_exact_decimal
from coinlstm.core.errors import BadInput

#: Quote assets recognised at the end of a symbol, longest first so FDUSD beats USD.
KNOWN_QUOTES: tuple[str, ...] = tuple(sorted(
    ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "XRP",
     "TRX", "DOGE", "DOT", "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "ZAR",
     "IDRT", "BIDR", "NGN", "PLN", "RON", "ARS", "MXN", "COP", "CZK", "VAI", "PAX", "AEUR",
     "EURI", "USD1", "BFUSD"),
    key=len, reverse=True))

SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
#: Binance started writing spot timestamps in microseconds on 2025-01-01; any time beyond
#: this is microseconds (1e14 ms is the year 5138).
_MICROSECOND_THRESHOLD = 10**14
KLINE_FIELDS = 12


def check_symbol(symbol: str) -> str:
    """The symbol if it is a plain Binance symbol; BadInput otherwise (no '/', '..', etc.)."""
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
        raise BadInput(f"invalid symbol {symbol!r}: expected 2-20 characters A-Z or 0-9")
    return symbol


def parse_symbols(text: str | None) -> list[str] | None:
    """A comma-separated ``--only`` list, each symbol checked; None for no list."""
    if not text:
        return None
    return [check_symbol(symbol.strip()) for symbol in text.split(",") if symbol.strip()]


def check_interval(interval: str) -> int:
    """The interval's length in ms; BadInput for an interval Binance does not have."""
    if interval not in INTERVAL_MS:
        raise BadInput(f"unknown interval {interval!r}; choose one of {', '.join(INTERVAL_MS)}")
    return INTERVAL_MS[interval]


def split_symbol(symbol: str, quote: str | None = None) -> tuple[str, str]:
    """(base, quote) of a symbol, from the given quote or the known quote assets."""
    check_symbol(symbol)
    candidates = (quote,) if quote else KNOWN_QUOTES
    for candidate in candidates:
        if symbol.endswith(candidate) and len(symbol) > len(candidate):
            return symbol[: -len(candidate)], candidate
    hint = f"it does not end in {quote}" if quote else "pass its quote asset with --quote"
    raise BadInput(f"cannot tell the quote asset of {symbol!r}: {hint}")


def to_milliseconds(value: int | str) -> int:
    """A kline time in ms, whether Binance wrote it in ms or (dumps since 2025) in µs."""
    number = int(value)
    return number // 1000 if number >= _MICROSECOND_THRESHOLD else number


def parse_kline(coin_id: int, fields: Sequence) -> dict:
    """One kline (12 fields, as the API or a dump gives them) as a candlestick_data row.

    Decimal fields stay exact (see coinlstm.db.ExactDecimal). Raises ValueError saying what
    is wrong: a wrong field count, a non-numeric or non-finite value, a low above a high.
    """
    if len(fields) != KLINE_FIELDS:
        raise ValueError(f"expected {KLINE_FIELDS} fields, got {len(fields)}")
    row: dict = {"idCoin": coin_id}
    for name, value in zip(CANDLE_COLUMNS[1:], fields, strict=True):
        text = value.strip() if isinstance(value, str) else value
        if name in ("openTime", "closeTime"):
            row[name] = _integer(name, text, to_milliseconds)
        elif name == "numberOfTrader":
            row[name] = _integer(name, text, int)
        elif name == "ignore":
            row[name] = str(text)
        else:
            try:
                row[name] = to_exact_decimal(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    if row["low"] > row["high"]:
        raise ValueError(f"low {row['low']} above high {row['high']}")
    return row


def _integer(name: str, text, convert) -> int:
    try:
        return convert(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not an integer: {text!r}") from None


def ms_to_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def parse_time(text: str) -> int:
    """A user's time (``2021-01-01``, ``2021-01-01T05:00``, ISO with zone) as UTC ms."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"malformed time {text!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
