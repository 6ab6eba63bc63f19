"""What every layer must know of each exchange: its symbol form, the kline columns its
candles really hold, and its intervals. The clients live in crawl/sources; the training
side reads :data:`EXCHANGES` to know which columns carry information.

Symbol forms are each exchange's own and disjoint (Binance ``ADAETH``, Poloniex
``ADA_ETH``, Bithumb ``KRW-ADA``, CoinGecko ``cardano-eth``), so a symbol names one coin of
one exchange: coin_info.symbol stays unique as it always was, and "a symbol of another
exchange" is recognised by its form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coinlstm.core.columns import CANDLE_COLUMNS
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import INTERVAL_MS, check_interval, check_symbol, split_symbol

#: The candle source of every command unless --exchange names another (crawl/sources).
DEFAULT_EXCHANGE = "binance"

#: Every kline column after the open time (Binance's order).
KLINE_COLUMNS: tuple[str, ...] = CANDLE_COLUMNS[2:]


@dataclass(frozen=True)
class Exchange:
    """One exchange's facts. ``columns``: the kline columns its candles hold (the others
    are stored as 0, a missing open/high/low as the close)."""

    name: str
    symbol_pattern: re.Pattern
    symbol_form: str
    symbol_example: str
    market_example: str
    columns: frozenset[str]
    intervals: tuple[str, ...]
    #: The real API (used when no --exchange-url points elsewhere).
    default_url: str
    #: How a (base, quote) pair is written as a symbol, and in which case.
    symbol_format: str = "{base}{quote}"
    lower_case: bool = False

    def check_symbol(self, symbol: str) -> str:
        """The symbol if it has this exchange's form; BadInput (one line) otherwise."""
        if self.name == DEFAULT_EXCHANGE:
            return check_symbol(symbol)  # Binance's rule and message, as they always were
        if (not isinstance(symbol, str) or len(symbol) > 20
                or not self.symbol_pattern.fullmatch(symbol)):
            raise BadInput(f"invalid {self.name} symbol {symbol!r}: expected {self.symbol_form}"
                           f" such as {self.symbol_example}")
        return symbol

    def check_interval(self, interval: str) -> str:
        # An interval no exchange has is refused in the words every command uses for it.
        check_interval(interval)
        if interval not in self.intervals:
            raise BadInput(f"{self.name} has no {interval!r} candles; choose one of "
                           f"{', '.join(self.intervals)}")
        return interval

    def parse_symbols(self, text: str | None) -> list[str] | None:
        """A comma-separated ``--only`` list in this exchange's form; None for no list."""
        if not text:
            return None
        return [self.check_symbol(symbol.strip()) for symbol in text.split(",")
                if symbol.strip()]

    def assets(self, symbol: str, quote: str | None = None) -> tuple[str, str]:
        """(base, quote) of a symbol of this exchange, upper case as coin_info and the crawl
        keep them (``BTC_USDT`` -> BTC, USDT; ``KRW-ETH`` -> ETH, KRW; ``bitcoin-usd`` ->
        BITCOIN, USD). Binance's symbols are the two glued together: its quote is ``quote``
        or a known quote asset at the end. BadInput when the symbol is not of this form or
        ``quote`` disagrees with the one it names."""
        if self.name == DEFAULT_EXCHANGE:
            return split_symbol(symbol, quote)
        parts = self.symbol_pattern.fullmatch(self.check_symbol(symbol))
        base, named = parts["base"].upper(), parts["quote"].upper()
        if quote is not None and quote.upper() != named:
            raise BadInput(f"{symbol} is quoted in {named}, not {quote.upper()}")
        return base, named

    def symbol_of(self, base: str, quote: str) -> str:
        """The symbol of (base, quote) in this exchange's form (:meth:`assets`' inverse)."""
        text = self.symbol_format.format(base=base, quote=quote)
        return self.check_symbol(text.lower() if self.lower_case else text.upper())

    def lacks(self) -> tuple[str, ...]:
        """The kline columns this exchange does not have (in kline order)."""
        return tuple(name for name in KLINE_COLUMNS
                     if name not in self.columns and name not in ("closeTime", "ignore"))


_EVERY_COLUMN = frozenset(KLINE_COLUMNS)
EXCHANGES: dict[str, Exchange] = {
    "binance": Exchange(
        "binance", re.compile(r"[A-Z0-9]{2,20}"), "2-20 characters A-Z or 0-9", "ADAETH",
        "ETH", _EVERY_COLUMN, tuple(INTERVAL_MS), "https://api.binance.com"),
    "poloniex": Exchange(
        "poloniex", re.compile(r"(?P<base>[A-Z0-9]{1,12})_(?P<quote>[A-Z0-9]{2,10})"),
        "BASE_QUOTE", "BTC_USDT", "USDT", _EVERY_COLUMN,
        ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "3d", "1w"),
        "https://api.poloniex.com", "{base}_{quote}"),
    "bithumb": Exchange(
        "bithumb", re.compile(r"(?P<quote>[A-Z][A-Z0-9]{1,9})-(?P<base>[A-Z0-9]{1,12})"),
        "QUOTE-BASE", "KRW-ETH", "KRW",
        frozenset({"open", "high", "low", "close", "volume", "closeTime", "quoteAssetVolume"}),
        ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"), "https://api.bithumb.com",
        "{quote}-{base}"),
    "coingecko": Exchange(
        "coingecko", re.compile(
            r"(?=[a-z0-9-]*[a-z])(?P<base>[a-z0-9][a-z0-9-]*)-(?P<quote>[a-z0-9]{2,10})"),
        "COINID-VS in lower case", "bitcoin-usd", "USD",
        frozenset({"close", "closeTime", "quoteAssetVolume"}), ("1h", "1d"),
        "https://api.coingecko.com", "{base}-{quote}", lower_case=True),
}


def exchange(name: str | None) -> Exchange:
    """The exchange called ``name`` (the default for None); BadInput for one we do not read."""
    found = EXCHANGES.get((name or DEFAULT_EXCHANGE).lower())
    if found is None:
        raise BadInput(f"unknown exchange {name!r}; choose one of {', '.join(EXCHANGES)}")
    return found


def exchange_of_symbol(symbol: str) -> str | None:
    """The exchange whose form ``symbol`` has (None: no exchange's)."""
    for candidate in EXCHANGES.values():
        if isinstance(symbol, str) and len(symbol) <= 20 \
                and candidate.symbol_pattern.fullmatch(symbol):
            return candidate.name
    return None


def job_name(exchange_name: str, market: str) -> str:
    """The market job's name for (exchange, market): its lock, its job_runs.market and the
    start of its run ids. Binance's is the market alone, as it always was; another
    exchange's is ``exchange-market``. The dashboard finds a market's runs by it."""
    if exchange_name == DEFAULT_EXCHANGE:
        return market
    return f"{exchange_name}-{market}"


def split_job_name(name: str) -> tuple[str, str]:
    """(exchange, market) of a job's name (:func:`job_name`'s inverse)."""
    prefix, _, market = name.partition("-")
    if market and prefix in EXCHANGES and prefix != DEFAULT_EXCHANGE:
        return prefix, market
    return DEFAULT_EXCHANGE, name


def add_exchange_argument(parser) -> None:
    """``--exchange NAME``: the commands that read candles (crawl, run, train, evaluate)."""
    parser.add_argument("--exchange", default=None, choices=tuple(EXCHANGES), type=str.lower,
                        help=f"where the candles come from (default {DEFAULT_EXCHANGE}); "
                             "see docs/exchanges.md for what each source's candles hold")
