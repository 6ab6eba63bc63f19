"""``coinlstm crawl``: fetch a quote market's new candles from an exchange, incrementally.

Why it is built this way: the job runs every hour and may be killed at any moment (cron
overlap guard, a reboot, OOM). Each page of klines is stored whole in one transaction, pairs
and pages in time order, so the database always holds a prefix of every pair's history
without holes, and the next run resumes from the newest stored candle. Every input is
checked against the exchange before anything is written.

The exchange is a candle source (crawl/sources: Binance by default, Poloniex, Bithumb,
CoinGecko); the crawl is the same for each.

Pairs are fetched concurrently, ``workers`` at a time (``--crawl-workers``): an hourly crawl
of a 400-pair market is 400 small requests, and one after another they cost 400 round trips.
The threads share the source, so its limits hold for all of them at once (crawl/gate.py:
one weight budget, one Retry-After pause, one ccxt rateLimit). Each pair is still crawled
by one thread, page after page in time order, each page written whole before the thread
asks for the next, so the prefix rule above holds pair by pair. The pages of all threads are
committed in groups (:class:`coinlstm.db.GroupCommit`): on SQLite one writer at a time,
which it demands anyway, and one disk sync for every page that was waiting instead of one
each (docs/benchmarks.md); MySQL's run side by side (its server syncs concurrent commits
together itself).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from tqdm import tqdm

from coinlstm import db
from coinlstm.core.config import DEFAULT_CRAWL_WORKERS, DEFAULT_MARKET, MAX_CRAWL_WORKERS
from coinlstm.core.errors import EXIT_FAILURE, BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, add_exchange_argument, exchange
from coinlstm.core.klines import (
    DEFAULT_INTERVAL,
    EVERY_MARKET,
    Markets,
    check_interval,
    check_market,
    ms_to_utc,
    parse_markets,
    parse_time,
)
from crawl.binance import BinanceClient
from crawl.retry import BadReply, RetryPolicy
from crawl.sources import SourcePair, open_source
from crawl.sources.binance_source import BinanceSource
from crawl.verify import report_repairs, verify_market

log = logging.getLogger(__name__)

#: Where a new pair's backfill starts: Binance spot opened in July 2017.
DEFAULT_SINCE = "2017-07-01"
#: Stored candles before the newest that every crawl fetches again and repairs if they differ.
RECHECKED = 2
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
    #: Pairs this crawl registered in coin_info and kept, and their ids (symbol -> id).
    new_pairs: dict[str, int] = field(default_factory=dict)

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


def crawl_market(engine, binance_url: str, market: str | Markets,
                 interval: str = DEFAULT_INTERVAL, since_ms: int | None = None,
                 only: list[str] | None = None, progress: bool = True, client=None,
                 exchange_name: str = DEFAULT_EXCHANGE,
                 workers: int = DEFAULT_CRAWL_WORKERS) -> CrawlSummary:
    """Register the pairs of the market (or markets: a :class:`Markets`, ``ALL`` included)
    and store every closed candle newer than the stored ones: one crawl of all their pairs.

    Candles go to ``interval``'s own table (:func:`coinlstm.db.candles_table`), and each
    pair resumes from its newest candle of that interval: a 5m crawl neither touches nor
    continues the hourly series.

    Up to ``workers`` pairs are crawled at once, sharing ``client`` (its weight budget and
    Retry-After pause hold across them). A pair whose replies keep breaking the kline rules
    is skipped (``failed`` says why) and the other pairs are crawled; an exchange that cannot
    be reached (or any other error) stops the crawl: no further pair starts, the running
    ones stop after their current page, and the first error is raised.

    ``client`` is a candle source (crawl/sources) or a :class:`crawl.binance.BinanceClient`;
    when None, the source of ``exchange_name`` is built for ``binance_url`` (the exchange's
    base URL). Raises BadInput for a market without pairs (named; of several markets, also
    one without a TRADING pair), a ``since_ms`` in the future, a bad interval, or an
    ``only`` symbol of another form or not a trading pair of the markets, before writing.
    """
    started = time.monotonic()
    check_crawl_workers(workers)
    markets = market if isinstance(market, Markets) else Markets((check_market(market),))
    interval_ms = check_interval(interval)
    client = _source(client, exchange_name, binance_url)
    client.facts.check_interval(interval)
    only = [client.facts.check_symbol(symbol) for symbol in only] if only else None
    counters_before = (client.requests, client.retries, client.rate_limit_waits)

    listed = market_pairs(client, markets)
    server_ms = client.server_time()
    trading = [pair for pairs in listed.values() for pair in pairs if pair.status == TRADING]
    chosen = _choose(trading, only, ", ".join(listed))
    if since_ms is None:
        since_ms = parse_time(DEFAULT_SINCE)
    if since_ms >= server_ms:
        raise BadInput(f"--since {ms_to_utc(since_ms)} UTC is not in the past (the exchange's "
                       f"clock says {ms_to_utc(server_ms)} UTC)")

    summary = CrawlSummary(market=",".join(listed))
    coin_ids: dict[str, int] = {}
    with db.transaction(engine) as conn:
        for name, pairs in listed.items():
            ids, new = _register(conn, name, pairs, client.name)
            coin_ids.update(ids)
            summary.new_pairs.update(new)
            summary.delisted += db.mark_missing_coins(conn, name, [p.symbol for p in pairs],
                                                      exchange=client.name)
    summary.pairs = [pair.symbol for pair in chosen]
    summary.candles_added = dict.fromkeys(summary.pairs, 0)
    bars = _Progress(len(chosen), enabled=progress)
    crawl = _PairCrawl(engine, client, interval, interval_ms, since_ms, server_ms, bars,
                       summary.candles_added)
    try:
        summary.failed = _crawl_pairs(crawl, [(pair.symbol, coin_ids[pair.symbol])
                                              for pair in chosen], workers)
    except BaseException:
        try:
            _forget_empty(engine, summary, everything=True)
        except Exception:  # noqa: BLE001 - the crawl's own error is the one to report
            log.debug("could not remove the pairs of a failed crawl", exc_info=True)
        raise
    else:
        if summary.failed:
            _forget_empty(engine, summary)
    finally:
        bars.close()
        summary.requests = client.requests - counters_before[0]
        summary.retries = client.retries - counters_before[1]
        summary.rate_limit_waits = client.rate_limit_waits - counters_before[2]
        summary.seconds = time.monotonic() - started
    return summary


def market_pairs(client, markets: Markets) -> dict[str, list[SourcePair]]:
    """Market -> every pair the source lists in it (any status), in the order asked (ALL:
    every market with a TRADING pair, alphabetically). BadInput names a market the source
    lists no pair of and, when several are asked, one without a TRADING pair; ALL on a
    source that cannot list every pair is BadInput too. Reads only, writes nothing."""
    if markets.every or len(markets.names) > 1:
        every = getattr(client, "all_pairs", None)
        if every is None:
            if markets.every:
                raise BadInput(f"--market {EVERY_MARKET}: {client.name} cannot list every "
                               "pair; name the markets")
            listed = {name: client.pairs(name) for name in markets.names}
        else:
            grouped: dict[str, list[SourcePair]] = {}
            for pair in every():
                grouped.setdefault(pair.quote_asset, []).append(pair)
            names = sorted(grouped) if markets.every else markets.names
            unknown = [name for name in names if name not in grouped]
            if unknown:
                raise BadInput(f"unknown market {unknown[0]!r}: the exchange lists no pair "
                               "quoted in it")
            listed = {name: grouped[name] for name in names}
        idle = [name for name, pairs in listed.items()
                if not any(pair.status == TRADING for pair in pairs)]
        if markets.every:
            listed = {name: pairs for name, pairs in listed.items() if name not in idle}
        elif idle:
            raise BadInput(f"market {idle[0]} has no TRADING pair on {client.name}")
        return listed
    return {markets.names[0]: client.pairs(markets.names[0])}


def check_market_listed(binance_url: str, markets: Markets, only: list[str] | None,
                        exchange_name: str = DEFAULT_EXCHANGE) -> None:
    """BadInput (one line) when the exchange lists no pair of a market asked for (or, of
    several, no TRADING one), or ``only`` names a pair it does not trade there: the checks a
    crawl makes before it writes, made by a driver before it starts anything (the exchange's
    pair list, not retried)."""
    source = open_source(exchange_name, binance_url, retry=RetryPolicy(attempts=1))
    listed = market_pairs(source, markets)
    if markets.single is not None:
        _choose([pair for pair in listed[markets.single] if pair.status == TRADING],
                only, markets.single)


def _source(client, exchange_name: str, url: str):
    """The candle source the crawl reads: ``client`` itself, a BinanceClient wrapped, or a
    new source of ``exchange_name`` for ``url``."""
    if client is None:
        return open_source(exchange_name, url)
    if isinstance(client, BinanceClient):
        return BinanceSource(url, client=client)
    return client


def _choose(trading: list[SourcePair], only: list[str] | None, market: str) -> list[SourcePair]:
    if not only:
        return trading
    by_symbol = {pair.symbol: pair for pair in trading}
    unknown = [symbol for symbol in only if symbol not in by_symbol]
    if unknown:
        raise BadInput(f"not trading pairs of market {market} on the exchange: "
                       f"{', '.join(unknown)}")
    return [by_symbol[symbol] for symbol in dict.fromkeys(only)]


def _register(conn, market: str, pairs: list[SourcePair], exchange_name: str
              ) -> tuple[dict[str, int], dict[str, int]]:
    """Ids of the trading pairs (new ones registered), and those of the new ones; statuses
    of known pairs updated."""
    coin_ids, new = {}, {}
    for pair in pairs:
        if pair.status == TRADING:
            if db.coin_by_symbol(conn, pair.symbol) is None:
                new[pair.symbol] = db.ensure_coin(conn, pair.symbol, pair.base_asset, market,
                                                  status=pair.status, exchange=exchange_name)
            coin_ids[pair.symbol] = db.ensure_coin(conn, pair.symbol, pair.base_asset, market,
                                                   status=pair.status, exchange=exchange_name)
        elif db.coin_by_symbol(conn, pair.symbol) is not None:
            db.ensure_coin(conn, pair.symbol, pair.base_asset, market, status=pair.status,
                           exchange=exchange_name)
    return coin_ids, new


def _forget_empty(engine, summary: CrawlSummary, everything: bool = False) -> None:
    """A crawl that failed (``everything``: it stopped; else some pairs failed) removes the
    pairs it registered and stored no candle of: a failed crawl adds no coin_info row. A
    new pair that got candles stays (the crawl keeps whole pages, and resumes there)."""
    empty = {symbol: coin_id for symbol, coin_id in summary.new_pairs.items()
             if not summary.candles_added.get(symbol)
             and (everything or symbol in summary.failed or symbol not in summary.pairs)}
    if empty:
        with db.transaction(engine) as conn:
            db.forget_new_coins(conn, empty.values())
        summary.new_pairs = {s: i for s, i in summary.new_pairs.items() if s not in empty}


def check_crawl_workers(workers: int) -> None:
    """BadInput (one line) unless 1 <= ``workers`` <= MAX_CRAWL_WORKERS."""
    if not 1 <= workers <= MAX_CRAWL_WORKERS:
        raise BadInput(f"--crawl-workers must be from 1 to {MAX_CRAWL_WORKERS}, got {workers}")


def _crawl_pairs(crawl: _PairCrawl, pairs: list[tuple[str, int]], workers: int
                 ) -> dict[str, str]:
    """Crawl ``pairs`` (symbol, coin id), ``workers`` at a time; the pairs skipped for bad
    replies and why, in the pairs' order. Any other error stops the crawl and is raised once
    the running pairs have stopped (a signal's exception in the waiting thread too)."""
    if not pairs:
        return {}
    failed: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=min(workers, len(pairs)),
                            thread_name_prefix="crawl") as pool:
        futures = {pool.submit(crawl.pair, symbol, coin_id): symbol for symbol, coin_id in pairs}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if isinstance(error, BadReply):
                        failed[futures[future]] = str(error)
                    elif error is not None:
                        raise error
        except BaseException:
            crawl.stop.set()  # running pairs stop after their page; queued ones never start
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return {symbol: failed[symbol] for symbol, _ in pairs if symbol in failed}


class _PairCrawl:
    """What every pair's crawl shares: the database, the source, the times, the progress
    bars, the count of candles added per symbol, and the stop signal."""

    def __init__(self, engine, client, interval: str, interval_ms: int, since_ms: int,
                 server_ms: int, bars: _Progress, added: dict[str, int]):
        self.engine, self.client, self.bars, self.added = engine, client, bars, added
        self.interval, self.interval_ms = interval, interval_ms
        self.since_ms, self.server_ms = since_ms, server_ms
        self.stop = threading.Event()
        # The pages of every thread, committed in groups (see the module's docstring).
        self.writes = db.GroupCommit(engine, what="crawled candles",
                                     writers=1 if engine.dialect.name == "sqlite"
                                     else MAX_CRAWL_WORKERS)

    def pair(self, symbol: str, coin_id: int) -> None:
        """Fetch and store one pair's closed candles page by page, counting them in
        ``added``.

        Every page comes checked by the kline rules (the source's klines); one that keeps
        breaking them raises BadReply before any of it is stored.
        """
        client, interval, interval_ms = self.client, self.interval, self.interval_ms
        with self.engine.connect() as conn:
            newest = db.newest_open_time(conn, coin_id, interval=interval)
        # The newest stored candles are fetched again (same page, no extra request) and
        # repaired where they differ: another crawler (the original system's, beside this one)
        # may have stored them while they were still open.
        start_ms = self.since_ms if newest is None else newest - RECHECKED * interval_ms
        newest = -1 if newest is None else newest
        while start_ms < self.server_ms and not self.stop.is_set():
            page = client.klines(symbol, interval, start_ms, client.page_limit)
            closed = _until_open(page, self.server_ms)
            if closed:
                # A page is written whole or not at all (with the other threads' pages of
                # its group): a kill leaves whole pages, so no hole, ever. A deadlock (an
                # adopted table's secondary unique key takes gap locks across coins) is
                # retried, the group whole.
                self.added[symbol] += self.writes.write(
                    _page_writer(coin_id, closed, newest, interval))
                self.bars.candles(len(closed))
                start_ms = closed[-1][0] + interval_ms
            if len(closed) < len(page) or len(page) < client.page_limit:
                break  # reached the open candle, or the exchange has nothing newer
        self.bars.pair_done(symbol)


def _page_writer(coin_id: int, closed: list[list], newest: int, interval: str):
    """One page's writes: the stored candles repaired, the new ones inserted; how many new."""
    def write(conn) -> int:
        db.repair_candles(conn, coin_id, [k for k in closed if k[0] <= newest],
                          interval=interval)
        return db.insert_klines(conn, coin_id, [k for k in closed if k[0] > newest],
                                interval=interval)
    return write


def _until_open(page: list[list], server_ms: int) -> list[list]:
    """The page's klines before the first one still open at ``server_ms`` (its values are not
    final yet: it and later ones wait for the next crawl)."""
    for index, kline in enumerate(page):
        if kline[6] >= server_ms:
            return page[:index]
    return page


class _Progress:
    """Two tqdm bars on stderr (pairs done, candles); nothing at all when disabled. Updated
    from every crawl thread."""

    def __init__(self, pairs: int, enabled: bool):
        self._pairs = self._candles = None
        self._lock = threading.Lock()
        if enabled:
            self._pairs = tqdm(total=pairs, desc="pairs", unit="pair", file=sys.stderr,
                               position=0)
            self._candles = tqdm(desc="candles", unit="candle", file=sys.stderr, position=1)

    def pair_done(self, symbol: str) -> None:
        if self._pairs is not None:
            with self._lock:
                self._pairs.update(1)
                self._pairs.set_postfix_str(symbol)

    def candles(self, count: int) -> None:
        if self._candles is not None:
            with self._lock:
                self._candles.update(count)

    def close(self) -> None:
        if self._pairs is not None:
            self._pairs.close()
            self._candles.close()


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", default=DEFAULT_MARKET,
                        help=f"quote asset whose pairs are crawled: one, a list (ETH,BTC) or "
                             f"{EVERY_MARKET} (every market of the exchange; default "
                             f"{DEFAULT_MARKET})")
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
    add_crawl_workers_argument(parser)
    parser.add_argument("--verify", action="store_true",
                        help="fetch the market's stored candles (from --since; default all) "
                             "again and repair every one that differs from the exchange's "
                             "final values; no new candles")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_exchange_argument(parser)


def add_crawl_workers_argument(parser) -> None:
    """``--crawl-workers N``: of ``crawl``, and of ``run`` for its crawl step."""
    parser.add_argument("--crawl-workers", type=int, default=DEFAULT_CRAWL_WORKERS,
                        metavar="N",
                        help=f"pairs fetched at once, within the exchange's one weight budget "
                             f"and Retry-After pause (default {DEFAULT_CRAWL_WORKERS}, at most "
                             f"{MAX_CRAWL_WORKERS})")


def run(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before the database or the exchange is touched.
    check_interval(args.interval)
    since_ms = parse_time(args.since) if args.since is not None else None
    source = exchange(args.settings.exchange)
    only = source.parse_symbols(args.only)
    if args.only is not None and not only:
        raise BadInput("--only names no symbol")
    if args.attempts < 1:
        raise BadInput("--attempts must be at least 1")
    check_crawl_workers(args.crawl_workers)
    markets = parse_markets(args.market)
    market = markets.single or markets
    source.check_interval(args.interval)

    client = open_source(source.name, args.settings.exchange_url,
                         retry=RetryPolicy(attempts=args.attempts))
    engine = db.open_database(args.settings.db_url)
    if args.verify:
        try:
            return report_repairs(verify_market(engine, client, interval=args.interval,
                                                since_ms=since_ms, market=market))
        finally:
            engine.dispose()
    try:
        summary = crawl_market(engine, args.settings.exchange_url, market,
                               interval=args.interval, since_ms=since_ms, only=only,
                               progress=not args.no_progress, client=client,
                               exchange_name=source.name, workers=args.crawl_workers)
    finally:
        engine.dispose()
    print(summary.line())
    if summary.new_pairs:
        print("new pairs (id symbol; 'coinlstm pairs' lists every pair): "
              + ", ".join(f"{coin_id} {symbol}" for symbol, coin_id
                          in sorted(summary.new_pairs.items(), key=lambda item: item[1])))
    if summary.delisted:
        print(f"no longer listed (candles kept): {', '.join(summary.delisted)}")
    for symbol, reason in summary.failed.items():
        print(f"coinlstm crawl: error: {symbol} skipped: {reason}", file=sys.stderr)
    return EXIT_FAILURE if summary.failed else 0
