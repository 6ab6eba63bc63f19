"""The rules of markets, symbols, intervals and klines, for every command and candle source.

A kline is Binance's 12-field candle: open time, open, high, low, close, volume, close time,
quote asset volume, number of trades, taker buy base volume, taker buy quote volume, ignore.
Every kline is checked here at the door, whether a crawl, an import or the replay server
reads it (:func:`kline_from_line`, :func:`kline_from_fields`, :func:`check_kline`); files
and dumps are read in :mod:`crawl.klinefiles`. Nothing here touches the network or the disk.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from coinlstm.core.columns import CANDLE_COLUMNS, DECIMAL_COLUMNS, IGNORE_WIDTH
from coinlstm.core.decimals import PRICE_SCALE, to_exact_decimal
from coinlstm.core.errors import BadInput

#: The candle length of every command unless --interval names another.
DEFAULT_INTERVAL = "1h"
#: Binance's fixed-length kline intervals and their length in ms, beside the kline rules
#: that check them (the schema's one candle table per interval and training read them too).
#: 1s and 1M are left out: 1s is not offered for every pair, and a month has no fixed
#: length for the gap rule.
INTERVAL_MS: dict[str, int] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
    "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000,
    "1w": 604_800_000,
}

#: Quote assets recognised at the end of a symbol, longest first so FDUSD beats USD.
KNOWN_QUOTES: tuple[str, ...] = tuple(sorted(
    ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "XRP",
     "TRX", "DOGE", "DOT", "EUR", "GBP", "TRY", "BRL", "AUD", "JPY", "RUB", "UAH", "ZAR",
     "IDRT", "BIDR", "NGN", "PLN", "RON", "ARS", "MXN", "COP", "CZK", "VAI", "PAX", "AEUR",
     "EURI", "USD1", "BFUSD"),
    key=len, reverse=True))

SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")
MARKET_PATTERN = re.compile(r"[A-Z0-9]{2,10}")
#: Binance started writing spot timestamps in microseconds on 2025-01-01; any time beyond
#: this is microseconds (1e14 ms is the year 5138).
_MICROSECOND_THRESHOLD = 10**14
KLINE_FIELDS = 12


def check_symbol(symbol: str) -> str:
    """The symbol if it is a plain Binance symbol; BadInput otherwise (no '/', '..', etc.)."""
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.fullmatch(symbol):
        raise BadInput(f"invalid symbol {symbol!r}: expected 2-20 characters A-Z or 0-9")
    return symbol


def check_market(market: str) -> str:
    """The market (a quote asset) in upper case, as the exchange spells it (``eth`` is ETH);
    BadInput unless it looks like one. crawl, run and evaluate all ask this."""
    if not isinstance(market, str) or not MARKET_PATTERN.fullmatch(market.upper()):
        raise BadInput(f"invalid market {market!r}: expected a quote asset such as ETH or USDT")
    return market.upper()


#: ``--market ALL``: every market (quote asset) with a TRADING pair on the exchange.
EVERY_MARKET = "ALL"


@dataclass(frozen=True)
class Markets:
    """The markets a command works on: ``names`` (upper case, in the order given), or every
    market of the exchange (``every``; names empty)."""

    names: tuple[str, ...] = ()
    every: bool = False

    @property
    def label(self) -> str:
        """How the job names them: ``ETH``, ``BTC,ETH`` or ``ALL``."""
        return EVERY_MARKET if self.every else ",".join(self.names)

    @property
    def single(self) -> str | None:
        """The one market asked for, or None for several or ALL."""
        return self.names[0] if not self.every and len(self.names) == 1 else None


def parse_markets(text: str) -> Markets:
    """``--market``: one market, a comma-separated list (``ETH,BTC,USDT``) or ``ALL``;
    each checked by :func:`check_market`. BadInput (one line) for an empty entry, a market
    named twice, or ALL beside another market (ALL already holds it)."""
    if not isinstance(text, str):
        raise BadInput(f"invalid market {text!r}: expected a quote asset such as ETH or USDT")
    entries = [entry.strip() for entry in text.split(",")]
    if any(not entry for entry in entries):
        raise BadInput(f"--market {text}: an empty market in the list")
    names = [check_market(entry) for entry in entries]
    if EVERY_MARKET in names:
        if len(names) > 1:
            raise BadInput(f"--market {text}: {EVERY_MARKET} already holds every market; "
                           f"give {EVERY_MARKET} alone or a list of markets")
        return Markets(every=True)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BadInput(f"--market {text}: {', '.join(twice)} named twice")
    return Markets(tuple(names))


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


def parse_kline(coin_id: int, fields: Sequence, interval: str = DEFAULT_INTERVAL) -> dict:
    """One kline (12 fields, as the API or a dump gives them) as a candle table row, with
    exact Decimals (see coinlstm.core.decimals); BadKline (a ValueError) for a broken rule."""
    kline = kline_from_fields(fields, check_interval(interval))
    row: dict = {"idCoin": coin_id}
    for index, (name, value) in enumerate(zip(CANDLE_COLUMNS[1:], kline, strict=True)):
        row[name] = Decimal(value) if index in DECIMAL_FIELDS else value
    return row


# --------------------------------------------------------------------------- the kline rules


class BadKline(ValueError):
    """A kline that breaks one of the rules below; ``rule`` names it, the message says how."""

    def __init__(self, rule: str, detail: str):
        super().__init__(f"{detail} (rule: {rule})")
        self.rule = rule
        self.detail = detail


#: The rules every kline passes before it is stored (crawl and import) or served (replay).
#: Binance's real maintenance candles close early or a few seconds late, and every candle of
#: ../shared/data passes (tests/test_kline_rules.py loads them all).
RULE_FIELDS = f"a kline has {KLINE_FIELDS} fields"
RULE_INTEGERS = "times and the trade count are integers"
RULE_DECIMALS = f"prices and volumes are finite decimals of at most {PRICE_SCALE} places"
RULE_RANGES = "times are ms (or µs) since 1970 and the trade count fits 64 bits"
RULE_IGNORE = f"the last field has at most {IGNORE_WIDTH} characters"
RULE_PRICES = "prices are positive"
RULE_LOW = "low <= min(open, close)"
RULE_HIGH = "high >= max(open, close)"
RULE_VOLUMES = "volumes are >= 0"
RULE_TAKER = "taker buy volume <= volume"
RULE_TRADES = "the trade count is >= 0"
RULE_GRID = "the open time is on the interval's grid"
RULE_CLOSE = "the close time is after the open time and at most a minute past the nominal end"
RULE_ORDER = "open times rise: one candle per open time, oldest first"
RULE_PAGE = "a klines reply is a list of klines from the time asked for"

_TIME_FIELDS = (0, 6)
_TRADES_FIELD = 8
_IGNORE_FIELD = 11
#: Where the exact decimals (prices and volumes) sit in a kline.
DECIMAL_FIELDS = tuple(CANDLE_COLUMNS[1:].index(name) for name in DECIMAL_COLUMNS)
_FIELD_NAMES = CANDLE_COLUMNS[1:]
#: Times from 1970 up to the year 5138 in ms (to_milliseconds turns larger ones from µs).
_MAX_MS = 10**14
_MAX_TRADES = 2**63
_LATE_CLOSE_MS = 60_000
_DAY_MS = INTERVAL_MS["1d"]
_WEEK_MS = INTERVAL_MS["1w"]
#: Binance's weeks start on Monday 00:00 UTC; 1970-01-05 was the first Monday.
_FIRST_MONDAY_MS = 4 * _DAY_MS
_INTERVAL_NAMES = {ms: name for name, ms in INTERVAL_MS.items()}
#: A kline line as Binance writes it: integer times and trade count, unsigned decimals that
#: DECIMAL(38, 8) holds exactly, no quotes, spaces or backslashes. ASCII digits only (Python's
#: \d and int() also take other scripts' digits). Such a line is stored as its own text; any
#: other line takes the slow way (kline_from_fields), which accepts it or names the rule.
_INTEGER = r"[0-9]{1,19}"
_DECIMAL = r"[0-9]{1,30}(?:\.[0-9]{1,8})?"
_PLAIN_LINE = re.compile(",".join(
    (_INTEGER, *[_DECIMAL] * 5, _INTEGER, _DECIMAL, _INTEGER, _DECIMAL, _DECIMAL,
     r'[^,"\\\s]{0,' + str(IGNORE_WIDTH) + "}")))
_DECIMAL_TEXT = re.compile(
    r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:nan|inf|infinity)",
    re.IGNORECASE)
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


def kline_from_line(line: str, interval_ms: int | None) -> list:
    """A kline line's 12 fields as stored, checked by every rule (``interval_ms`` None: by
    none, for text whose interval is still to be found).

    Stored form: times (ms) and trade count as int, the eight decimals as exact text, the
    last field as text. A line as Binance writes it (:func:`plain_kline`) keeps its own text
    and costs a regex and a few float comparisons (an import's hot loop); any other line is
    split as CSV and takes the slow way, which gives the same result or names the broken rule.
    """
    kline = plain_kline(line)
    if kline is not None:
        if interval_ms is None:
            return kline
        try:
            check_kline(kline, interval_ms)
            return kline
        except BadKline:
            pass  # the slow way names the rule, in the same words
    return _parsed_kline(next(csv.reader([line])), interval_ms)


def plain_kline(line: str) -> list | None:
    """The stored form of a line as Binance writes it, not yet checked by the rules; None
    for any other line (which only kline_from_line reads)."""
    return split_plain_line(line) if _PLAIN_LINE.fullmatch(line) else None


def split_plain_line(line: str) -> list:
    """plain_kline without its regex: only for the very text plain_kline accepted before
    (an import's second pass, which compares the file's SHA-256 with the first's)."""
    kline: list = line.split(",")
    open_ms, close_ms = int(kline[0]), int(kline[6])
    kline[0] = open_ms if open_ms < _MICROSECOND_THRESHOLD else open_ms // 1000
    kline[6] = close_ms if close_ms < _MICROSECOND_THRESHOLD else close_ms // 1000
    kline[8] = int(kline[8])
    return kline


def kline_from_fields(fields: Sequence, interval_ms: int | None) -> list:
    """A kline's 12 fields (a reply's JSON list, or a CSV line split) as stored, checked by
    every rule (``interval_ms`` None: parsed only); BadKline names the broken rule."""
    if (type(fields) is list and len(fields) == KLINE_FIELDS
            and all(type(value) is str or type(value) is int for value in fields)):
        line = ",".join(map(str, fields))
        if _PLAIN_LINE.fullmatch(line):
            return kline_from_line(line, interval_ms)
    return _parsed_kline(fields, interval_ms)


def _parsed_kline(fields: Sequence, interval_ms: int | None) -> list:
    """The slow way: every field parsed on its own, decimals made exact text."""
    if not isinstance(fields, list | tuple):
        raise BadKline(RULE_FIELDS, f"not a list of fields: {str(fields)[:60]!r}")
    if len(fields) != KLINE_FIELDS:
        raise BadKline(RULE_FIELDS, f"expected {KLINE_FIELDS} fields, got {len(fields)}")
    kline = [value.strip() if isinstance(value, str) else value for value in fields]
    for index in (*_TIME_FIELDS, _TRADES_FIELD):
        kline[index] = _integer(index, kline[index])
    exact = {index: _decimal_text(index, kline[index]) for index in DECIMAL_FIELDS}
    kline[_IGNORE_FIELD] = str(kline[_IGNORE_FIELD])
    if interval_ms is not None:
        # Checked as written, so that a message quotes the candle's own text.
        check_kline([str(value) if index in exact else value
                     for index, value in enumerate(kline)], interval_ms)
    for index, text in exact.items():
        kline[index] = text
    return kline


def klines_from_page(page: object, start_ms: int, interval_ms: int) -> list[list]:
    """The klines of an exchange reply asked from ``start_ms`` in stored form, each checked
    by the rules and all in rising time order from ``start_ms``; BadKline names the candle
    (its open time, or its place in the reply) and the rule."""
    if not isinstance(page, list):
        raise BadKline(RULE_PAGE, f"the reply is a {type(page).__name__}, not a list: "
                       f"{str(page)[:60]!r}")
    klines = []
    previous = start_ms - 1
    for position, fields in enumerate(page, start=1):
        try:
            kline = kline_from_fields(fields, interval_ms)
        except BadKline as exc:
            raise BadKline(exc.rule, f"candle {_candle_name(fields, position)}: "
                           f"{exc.detail}") from None
        if kline[0] <= previous:
            rule = RULE_PAGE if position == 1 else RULE_ORDER
            raise BadKline(rule, f"candle {ms_to_utc(kline[0])} UTC comes after "
                           + (f"{ms_to_utc(previous)} UTC" if position > 1
                              else f"asking from {ms_to_utc(start_ms)} UTC"))
        previous = kline[0]
        klines.append(kline)
    return klines


def _candle_name(fields: object, position: int) -> str:
    """A candle as a message names it: its open time when it has a readable one."""
    try:
        return f"{ms_to_utc(to_milliseconds(fields[0]))} UTC"  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError, OverflowError, OSError):
        return f"#{position} of the reply"


def _integer(index: int, value) -> int:
    name = _FIELD_NAMES[index]
    if type(value) is int:
        number = value
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        number = int(value)
    else:
        raise BadKline(RULE_INTEGERS, f"{name}: not an integer: {value!r}")
    return to_milliseconds(number) if index in _TIME_FIELDS else number


def _decimal_text(index: int, value) -> str:
    name = _FIELD_NAMES[index]
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise BadKline(RULE_DECIMALS, f"{name}: not a decimal number: {value!r}")
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise BadKline(RULE_DECIMALS, f"{name}: not a decimal number: {value!r}")
    try:
        return format(to_exact_decimal(value), "f")
    except ValueError as exc:
        raise BadKline(RULE_DECIMALS, f"{name}: {exc}") from None


def check_kline(kline: Sequence, interval_ms: int) -> None:
    """BadKline unless a stored-form kline keeps every rule (RULE_* above) for its interval.

    This runs for every candle of an import (an import's hot loop), so a candle that keeps
    the rules passes one expression of float comparisons: a float below another means the
    decimal is too, and equal texts are equal. Anything else (a broken rule, or two different
    texts that are equal as floats) takes :func:`_check_kline_exactly`.
    """
    open_ms, open_, high, low, close, volume, close_ms, quote_volume, trades, taker_base, \
        taker_quote, ignore = kline
    o, h, lo, c = float(open_), float(high), float(low), float(close)
    tb, v, tq, q = float(taker_base), float(volume), float(taker_quote), float(quote_volume)
    if (0 < lo and (lo < o or low == open_) and (lo < c or low == close)
            and (o < h or open_ == high) and (c < h or close == high)
            and 0 <= tb and (tb < v or taker_base == volume)
            and 0 <= tq and (tq < q or taker_quote == quote_volume)
            and 0 <= trades < _MAX_TRADES and len(ignore) <= IGNORE_WIDTH
            and 0 <= open_ms < close_ms < _MAX_MS
            and close_ms <= open_ms + interval_ms - 1 + _LATE_CLOSE_MS
            and (open_ms % interval_ms == 0 if interval_ms <= _DAY_MS
                 else (open_ms - kline_grid(interval_ms)[1]) % kline_grid(interval_ms)[0] == 0)):
        return
    _check_kline_exactly(kline, interval_ms)


def _check_kline_exactly(kline: Sequence, interval_ms: int) -> None:
    """check_kline's slow way: each rule in turn, decimals compared exactly; BadKline for the
    first broken one."""
    open_ms, close_ms, trades = kline[0], kline[6], kline[_TRADES_FIELD]
    if not (0 <= open_ms < _MAX_MS and 0 <= close_ms < _MAX_MS and trades < _MAX_TRADES):
        raise BadKline(RULE_RANGES, f"open time {open_ms}, close time {close_ms} or trade "
                       f"count {trades} out of range")
    if len(kline[_IGNORE_FIELD]) > IGNORE_WIDTH:
        raise BadKline(RULE_IGNORE, f"the last field is {len(kline[_IGNORE_FIELD])} "
                       "characters long")
    texts = [kline[index] for index in DECIMAL_FIELDS]
    numbers = [float(text) for text in texts]
    open_, high, low, close, volume, quote_volume, taker_base, taker_quote = numbers
    if not (open_ > 0 and high > 0 and low > 0 and close > 0):
        index = next(i for i in range(4) if not numbers[i] > 0)
        raise BadKline(RULE_PRICES, f"{_FIELD_NAMES[index + 1]} {texts[index]} is not "
                       "positive")
    if _above(texts[2], low, texts[0], open_) or _above(texts[2], low, texts[3], close):
        raise BadKline(RULE_LOW, f"low {texts[2]} is above min(open {texts[0]}, close "
                       f"{texts[3]})")
    if _above(texts[0], open_, texts[1], high) or _above(texts[3], close, texts[1], high):
        raise BadKline(RULE_HIGH, f"high {texts[1]} is below max(open {texts[0]}, close "
                       f"{texts[3]})")
    if volume < 0 or quote_volume < 0 or taker_base < 0 or taker_quote < 0:
        index = next(i for i in range(4, 8) if numbers[i] < 0)
        raise BadKline(RULE_VOLUMES, f"{_FIELD_NAMES[DECIMAL_FIELDS[index]]} "
                       f"{texts[index]} is negative")
    if _above(texts[6], taker_base, texts[4], volume):
        raise BadKline(RULE_TAKER, f"taker buy base volume {texts[6]} is above the volume "
                       f"{texts[4]}")
    if _above(texts[7], taker_quote, texts[5], quote_volume):
        raise BadKline(RULE_TAKER, f"taker buy quote volume {texts[7]} is above the quote "
                       f"volume {texts[5]}")
    if trades < 0:
        raise BadKline(RULE_TRADES, f"number of trades {trades} is negative")
    modulus, offset = kline_grid(interval_ms)
    if (open_ms - offset) % modulus:
        raise BadKline(RULE_GRID, f"open time {_utc_ms(open_ms)} is not on the "
                       f"{_INTERVAL_NAMES.get(interval_ms, f'{interval_ms} ms')} grid")
    if not open_ms < close_ms <= open_ms + interval_ms - 1 + _LATE_CLOSE_MS:
        raise BadKline(RULE_CLOSE, f"close time {_utc_ms(close_ms)} for the candle opening "
                       f"at {_utc_ms(open_ms)}, nominal end "
                       f"{_utc_ms(open_ms + interval_ms - 1)}")


def _above(text: str, number: float, other_text: str, other: float) -> bool:
    """Whether the decimal ``text`` is above ``other_text`` (floats given, exact answer)."""
    if number != other:
        return number > other
    return text != other_text and Decimal(text) > Decimal(other_text)


def kline_grid(interval_ms: int) -> tuple[int, int]:
    """(modulus, offset) of the open times of an interval: ``(open - offset) % modulus == 0``.

    Up to a day, candles open on multiples of their length since 1970; weeks on Mondays;
    3-day candles at midnight (Binance does not say where its 3-day cycle starts).
    """
    if interval_ms <= _DAY_MS:
        return interval_ms, 0
    if interval_ms == _WEEK_MS:
        return _WEEK_MS, _FIRST_MONDAY_MS
    return _DAY_MS, 0


def _utc_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


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
