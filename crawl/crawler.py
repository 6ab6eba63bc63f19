"""``coinlstm crawl``: fetch a quote market's new candles from Binance, incrementally.

Why it is built this way: the job runs every hour and may be killed at any moment (cron
overlap guard, a reboot, OOM). Each page of klines is stored in its own transaction, pairs
and pages in time order, so the database always holds a prefix of every pair's history
without holes, and the next run resumes from the newest stored candle. Every input is
checked against the exchange before anything is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict, dataclass, field

from coinlstm import db
from coinlstm.core.config import DEFAULT_INTERVAL, DEFAULT_MARKET
from coinlstm.core.errors import EXIT_FAILURE, BadInput
from coinlstm.core.klines import (
    check_interval,
    check_market,
    check_symbol,
    ms_to_utc,
    parse_symbols,
    parse_time,
)

log = logging.getLogger(__name__)

#: Where a new pair's backfill starts: Binance spot opened in July 2017.
DEFAULT_SINCE = "2017-07-01"
PAGE_LIMIT = 1000
TRADING = "TRADING"


@dataclass
class CrawlSummary:
    """What one crawl did: the pairs crawled, candles added per symbol, requests, seconds."""

    market: str
    pairs: list[str] = field(default_factory=list)
    candles_added: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0
    #: Pairs of the market the exchange no longer lists (their candles stay).
    delisted: list[str] = field(default_factory=list)
    #: Transient failures retried, and waits for rate limits (Retry-After, weight).
    retries: int = 0
    rate_limit_waits: int = 0
    #: Pairs skipped because the exchange kept sending klines that break a rule, and why
    #: (the candle and the rule); their earlier pages stay, nothing of the bad one is stored.
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total_added(self) -> int:
        return sum(self.candles_added.values())

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        trouble = ""
        if self.retries or self.rate_limit_waits:
            trouble = f" ({self.retries} retries, {self.rate_limit_waits} rate-limit waits)"
        failed = f", {len(self.failed)} failed ({', '.join(self.failed)})" if self.failed else ""
        return (f"crawled market {self.market}: {len(self.pairs)} pairs{failed}, "
                f"{self.total_added} candles added, {self.requests} requests{trouble}, "
                f"{self.seconds:.1f} s")


@dataclass(frozen=True)
class MarketPair:
    symbol: str
    base_asset: str
    status: str


def crawl_market(engine, binance_url: str, market: str, interval: str = DEFAULT_INTERVAL,
                 since_ms: int | None = None, only: list[str] | None = None,
                 progress: bool = True, client=None) -> CrawlSummary:
    """Register the market's pairs and store every closed candle newer than the stored ones.

    Candles go to ``interval``'s own table (:func:`coinlstm.db.candles_table`), and each
    pair resumes from its newest candle of that interval: a 5m crawl neither touches nor
    continues the hourly series.

    A pair whose replies keep breaking the kline rules is skipped (``failed`` says why) and
    the next pair crawled; an exchange that cannot be reached stops the crawl.

    ``client`` is a :class:`crawl.binance.BinanceClient` (built for ``binance_url`` when
    None). Raises BadInput for a market without pairs, a ``since_ms`` in the future, a bad
    interval or an ``only`` symbol that is not a trading pair of the market, before writing.
    """
    started = time.monotonic()
    market = check_market(market)
    interval_ms = check_interval(interval)
    only = [check_symbol(symbol) for symbol in only] if only else None
    from crawl.binance import BadReply, BinanceClient

    if client is None:
        client = BinanceClient(binance_url)
    counters_before = (client.requests, client.retries, client.rate_limit_waits)

    pairs = _market_pairs(client.exchange_info(), market)
    server_ms = client.server_time()
    trading = [pair for pair in pairs if pair.status == TRADING]
    chosen = _choose(trading, only, market)
    if since_ms is None:
        since_ms = parse_time(DEFAULT_SINCE)
    if since_ms >= server_ms:
        raise BadInput(f"--since {ms_to_utc(since_ms)} UTC is not in the past (the exchange's "
                       f"clock says {ms_to_utc(server_ms)} UTC)")

    summary = CrawlSummary(market=market)
    with db.transaction(engine) as conn:
        coin_ids = _register(conn, market, pairs)
        summary.delisted = db.mark_missing_coins(conn, market, [p.symbol for p in pairs])
    bars = _Progress(len(chosen), enabled=progress)
    try:
        for pair in chosen:
            bars.pair(pair.symbol)
            summary.pairs.append(pair.symbol)
            summary.candles_added[pair.symbol] = 0
            try:
                _crawl_pair(engine, client, coin_ids[pair.symbol], pair.symbol, interval,
                            interval_ms, since_ms, server_ms, bars, summary.candles_added)
            except BadReply as exc:
                summary.failed[pair.symbol] = str(exc)
    finally:
        bars.close()
        summary.requests = client.requests - counters_before[0]
        summary.retries = client.retries - counters_before[1]
        summary.rate_limit_waits = client.rate_limit_waits - counters_before[2]
        summary.seconds = time.monotonic() - started
    return summary


def _market_pairs(info: dict, market: str) -> list[MarketPair]:
    """The exchange's pairs quoted in ``market`` (any status); BadInput if there are none."""
    pairs = []
    for entry in info["symbols"]:
        if not isinstance(entry, dict) or entry.get("quoteAsset") != market:
            continue
        try:
            symbol = check_symbol(entry["symbol"])
            pairs.append(MarketPair(symbol, str(entry["baseAsset"]), str(entry["status"])))
        except (KeyError, BadInput):
            log.warning("skipping a malformed exchangeInfo entry: %r", entry)
    if not pairs:
        raise BadInput(f"unknown market {market!r}: the exchange lists no pair quoted in it")
    return pairs


def _choose(trading: list[MarketPair], only: list[str] | None, market: str) -> list[MarketPair]:
    if not only:
        return trading
    by_symbol = {pair.symbol: pair for pair in trading}
    unknown = [symbol for symbol in only if symbol not in by_symbol]
    if unknown:
        raise BadInput(f"not trading pairs of market {market} on the exchange: "
                       f"{', '.join(unknown)}")
    return [by_symbol[symbol] for symbol in dict.fromkeys(only)]


def _register(conn, market: str, pairs: list[MarketPair]) -> dict[str, int]:
    """Ids of the trading pairs (new ones registered); statuses of known pairs updated."""
    coin_ids = {}
    for pair in pairs:
        if pair.status == TRADING:
            coin_ids[pair.symbol] = db.ensure_coin(conn, pair.symbol, pair.base_asset, market,
                                                   status=pair.status)
        elif db.coin_by_symbol(conn, pair.symbol) is not None:
            db.ensure_coin(conn, pair.symbol, pair.base_asset, market, status=pair.status)
    return coin_ids


def _crawl_pair(engine, client, coin_id: int, symbol: str, interval: str, interval_ms: int,
                since_ms: int, server_ms: int, bars: _Progress, added: dict[str, int]) -> None:
    """Fetch and store one pair's closed candles page by page, counting them in ``added``.

    Every page comes checked by the kline rules (BinanceClient.klines); one that keeps
    breaking them raises BadReply before any of it is stored.
    """
    with engine.connect() as conn:
        newest = db.newest_open_time(conn, coin_id, interval=interval)
    start_ms = since_ms if newest is None else newest + interval_ms
    while start_ms < server_ms:
        page = client.klines(symbol, interval, start_ms, limit=PAGE_LIMIT)
        closed = _until_open(page, server_ms)
        if closed:
            # One transaction per page: a kill leaves whole pages, so no hole, ever.
            with db.transaction(engine) as conn:
                added[symbol] += db.insert_klines(conn, coin_id, closed, interval=interval)
            bars.candles(len(closed))
            start_ms = closed[-1][0] + interval_ms
        if len(closed) < len(page) or len(page) < PAGE_LIMIT:
            break  # reached the open candle, or the exchange has nothing newer


def _until_open(page: list[list], server_ms: int) -> list[list]:
    """The page's klines before the first one still open at ``server_ms`` (its values are not
    final yet: it and later ones wait for the next crawl)."""
    for index, kline in enumerate(page):
        if kline[6] >= server_ms:
            return page[:index]
    return page


class _Progress:
    """Two tqdm bars on stderr (pairs, candles); nothing at all when disabled."""

    def __init__(self, pairs: int, enabled: bool):
        self._pairs = self._candles = None
        if enabled:
            from tqdm import tqdm

            self._pairs = tqdm(total=pairs, desc="pairs", unit="pair", file=sys.stderr,
                               position=0)
            self._candles = tqdm(desc="candles", unit="candle", file=sys.stderr, position=1)
        self._started = False

    def pair(self, symbol: str) -> None:
        if self._pairs is not None:
            if self._started:
                self._pairs.update(1)
            self._started = True
            self._pairs.set_postfix_str(symbol)

    def candles(self, count: int) -> None:
        if self._candles is not None:
            self._candles.update(count)

    def close(self) -> None:
        if self._pairs is not None:
            if self._started:
                self._pairs.update(1)
            self._pairs.close()
            self._candles.close()


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", default=DEFAULT_MARKET,
                        help=f"quote asset whose pairs are crawled (default {DEFAULT_MARKET})")
    parser.add_argument("--interval", default=DEFAULT_INTERVAL,
                        help=f"kline interval (default {DEFAULT_INTERVAL}); each interval's "
                             "candles have their own table (candlestick_data for 1h, "
                             "candlestick_data_5m for 5m, ...)")
    parser.add_argument("--since", default=None, metavar="DATE",
                        help=f"where a new pair's history starts (UTC; default {DEFAULT_SINCE})")
    parser.add_argument("--only", default=None, metavar="SYM,SYM",
                        help="crawl only these pairs of the market")
    parser.add_argument("--attempts", type=int, default=5,
                        help="tries per request before the exchange counts as unavailable "
                             "(default 5, with 0.5, 1, 2, 4 s between them)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before the database or the exchange is touched.
    check_interval(args.interval)
    since_ms = parse_time(args.since) if args.since is not None else None
    only = parse_symbols(args.only)
    if args.only is not None and not only:
        raise BadInput("--only names no symbol")
    if args.attempts < 1:
        raise BadInput("--attempts must be at least 1")
    market = check_market(args.market)

    from crawl.binance import BinanceClient, RetryPolicy

    client = BinanceClient(args.settings.binance_url, retry=RetryPolicy(attempts=args.attempts))
    engine = db.open_database(args.settings.db_url)
    try:
        summary = crawl_market(engine, args.settings.binance_url, market,
                               interval=args.interval, since_ms=since_ms, only=only,
                               progress=not args.no_progress, client=client)
    finally:
        engine.dispose()
    print(summary.line())
    if summary.delisted:
        print(f"no longer listed (candles kept): {', '.join(summary.delisted)}")
    for symbol, reason in summary.failed.items():
        print(f"coinlstm crawl: error: {symbol} skipped: {reason}", file=sys.stderr)
    return EXIT_FAILURE if summary.failed else 0
