"""The crawl of a wide market, several pairs at once (crawl_market ``workers``), against the
replay server: real HTTP, real python-binance and ccxt, real databases.

What concurrency must not change: every candle exact, a second crawl adds nothing, the
exchange's limits hold across all threads at once (at most N requests in flight, the weight
budget per minute, a 429's Retry-After pausing every thread, ccxt's rateLimit), and an
exchange that goes away stops the whole crawl with whole pages stored.
"""

from __future__ import annotations

import threading
import time

import pytest

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS
from coinlstm.core.errors import BadInput, ExchangeUnavailable
from crawl.binance import BinanceClient
from crawl.crawler import crawl_market
from crawl.replay import Faults
from crawl.retry import RetryPolicy
from crawl.sources import open_source
from tests.helpers import HOUR_MS, write_csv
from tests.synthetic import write_wide_market

QUICK = RetryPolicy(attempts=6, first_backoff=0.05, max_backoff=0.2)
#: The server's clock once the last synthetic candle has closed.
AFTER_LAST = END_OPEN_MS + HOUR_MS + 60_000


def _stored(engine, symbol: str) -> list[str]:
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbol)
        rows = [] if coin is None else db.candle_text_rows(conn, coin.id)
        return [",".join(row) for row in rows]


def _crawl(engine, server, workers: int, client=None, **kwargs):
    client = client or BinanceClient(server.url, retry=QUICK, timeout=5)
    return crawl_market(engine, server.url, "ETH", progress=False, client=client,
                        workers=workers, **kwargs)


def _crawl_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("crawl")]


def test_forty_pairs_at_once_every_candle_exact_at_most_n_requests_in_flight(
        db_url, tmp_path, replay_market):
    # 1100 candles a pair: two pages each, so pairs' pages interleave in the database.
    written = write_wide_market(tmp_path / "serve", pairs=40, candles=1100)
    engine = db.open_database(db_url)
    server = replay_market(tmp_path / "serve", now=AFTER_LAST, faults=Faults(delay_ms=30))
    first = _crawl(engine, server, workers=5)
    assert first.pairs == sorted(written)
    assert first.candles_added == {symbol: 1100 for symbol in written}
    assert first.line().startswith("crawled market ETH: 40 pairs, 44000 candles added, "
                                   "82 requests")
    assert first.requests == len(server.request_log) == 82  # exchangeInfo, time, 80 pages
    assert 2 <= server.most_concurrent <= 5  # concurrent, never past the worker count
    for symbol, lines in written.items():
        assert _stored(engine, symbol) == lines, symbol

    again = _crawl(engine, server, workers=5)
    assert again.total_added == 0 and again.requests == 42
    assert _crawl_threads() == []  # the pool is gone once the crawl returns
    engine.dispose()


def test_the_weight_budget_holds_across_threads(sqlite_url, tmp_path, replay_market):
    written = write_wide_market(tmp_path / "serve", pairs=40, candles=200)
    engine = db.open_database(sqlite_url)
    # 20 + 1 + 40 pages x 2 = 101 weight, the limit 40 a minute (the client's ceiling 32): at
    # least three server minutes, each lasting 5 real seconds (the clock runs 12x; at 30x, 2 s
    # a minute, a loaded machine's crawl may not fill a minute's budget, so no wait), starting
    # a second into one. Eight threads with replies 20 ms slow: were each thread to keep its
    # own count, or ignore the requests in flight, they would pass the limit and meet 429s.
    server = replay_market(tmp_path / "serve", now=AFTER_LAST + 1000, speed=12,
                           weight_limit=40, faults=Faults(delay_ms=20))
    client = BinanceClient(server.url, retry=QUICK)
    summary = _crawl(engine, server, workers=8, client=client)
    log = server.request_log
    assert summary.total_added == 40 * 200
    assert client.weight_ceiling == 32
    assert [entry.status for entry in log if entry.status != 200] == []
    # The ceiling, plus the one weight of the probe that asks the used weight when full.
    assert max(entry.used_weight for entry in log) <= client.weight_ceiling + 1
    assert summary.rate_limit_waits >= 2
    assert server.most_concurrent >= 2
    for symbol, lines in written.items():
        assert _stored(engine, symbol) == lines, symbol
    engine.dispose()


def test_one_429_pauses_every_thread_until_retry_after(sqlite_url, tmp_path, replay_market):
    written = write_wide_market(tmp_path / "serve", pairs=40, candles=300)
    engine = db.open_database(sqlite_url)
    # exchangeInfo, time, 40 pages and the retried one: only the 25th request is a 429.
    server = replay_market(tmp_path / "serve", now=AFTER_LAST,
                           faults=Faults(too_many_every=25, retry_after=2, delay_ms=50))
    workers = 8
    summary = _crawl(engine, server, workers=workers)
    log = server.request_log
    limited = [entry for entry in log if entry.status == 429]
    assert len(limited) == 1 and summary.rate_limit_waits == 1
    hit = limited[0]
    # Only the requests already on their way when the 429 came (one per other thread at
    # most) arrive before Retry-After has passed; without the shared pause the seven other
    # threads would have sent every remaining page meanwhile.
    early = [entry for entry in log if hit.time < entry.time < hit.time + 2.0]
    assert len(early) <= workers - 1, [round(entry.time - hit.time, 3) for entry in early]
    later = [entry for entry in log if entry.time >= hit.time + 2.0]
    assert len(later) >= 10  # the crawl went on after the pause, on every thread's pages
    assert len(log) == summary.requests == 43
    for symbol, lines in written.items():
        assert _stored(engine, symbol) == lines, symbol
    engine.dispose()


def test_an_exchange_gone_mid_crawl_stops_every_thread_and_a_rerun_completes(
        db_url, tmp_path, replay_market):
    written = write_wide_market(tmp_path / "serve", pairs=24, candles=1100)
    engine = db.open_database(db_url)
    server = replay_market(tmp_path / "serve", now=AFTER_LAST, faults=Faults(delay_ms=30))

    def stop_after_pages() -> None:
        deadline = time.monotonic() + 60
        while len(server.request_log) < 2 + 12 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.stop()

    stopper = threading.Thread(target=stop_after_pages)
    stopper.start()
    started = time.monotonic()
    with pytest.raises(ExchangeUnavailable, match="giving up"):
        _crawl(engine, server, workers=6)
    stopper.join()
    # Stopped, not hung on retries (a generous bound: 4 pytest-xdist workers share 2 cores).
    assert time.monotonic() - started < 60
    assert _crawl_threads() == []  # every thread stopped before the error was raised
    stored = 0
    for symbol, lines in written.items():
        rows = _stored(engine, symbol)
        assert rows == lines[: len(rows)] and len(rows) in (0, 1000, 1100), symbol
        stored += len(rows)
    assert 0 < stored < 24 * 1100

    server = replay_market(tmp_path / "serve", now=AFTER_LAST)
    rerun = _crawl(engine, server, workers=6)
    assert rerun.total_added == 24 * 1100 - stored
    for symbol, lines in written.items():
        assert _stored(engine, symbol) == lines, symbol
    engine.dispose()


def test_ccxt_rate_limit_holds_across_threads(sqlite_url, tmp_path, replay_market):
    """Poloniex through ccxt, four threads: one rateLimit spaces every thread's requests (as
    one exchange object would), while slow replies still overlap."""
    from coinlstm.app.demo import synthetic_klines

    written = {}
    for number in range(1, 13):
        lines = synthetic_klines(100, seed=700 + number, start_price=0.0002 * number)
        write_csv(tmp_path / "serve", f"SYN{number:03d}USDT", lines)
        written[f"SYN{number:03d}_USDT"] = lines
    server = replay_market(tmp_path / "serve", now=AFTER_LAST, exchange="poloniex",
                           faults=Faults(delay_ms=250))
    source = open_source("poloniex", server.url, retry=QUICK)
    source.exchange.rateLimit = 100  # ms between requests (ccxt's default for it is 5)
    engine = db.open_database(sqlite_url)
    summary = crawl_market(engine, server.url, "USDT", progress=False, client=source,
                           exchange_name="poloniex", workers=4)
    assert summary.total_added == 12 * 100
    candles = [entry.time for entry in server.request_log if "/candles" in entry.path]
    assert len(candles) == 12
    # Spaced by the rateLimit whichever thread sent them. Each thread spacing its own
    # requests alone, four would arrive at once (and the twelve within about three 250 ms
    # replies). Checked on arrival, which a loaded machine delays by up to a tenth of a second
    # or more (one gap 0.22 s, the next 0.04 s, seen at load 8 on 2 cores): so any four in a
    # row span at least one rateLimit (0.3 s when spaced, ~0 when not), and the twelve 0.8 s
    # (1.1 s when spaced).
    gaps = [later - earlier for earlier, later in zip(candles, candles[1:], strict=False)]
    assert min(later - earlier for earlier, later in zip(candles, candles[3:], strict=False)) \
        >= 0.1, gaps
    assert candles[-1] - candles[0] >= 0.8, gaps
    assert server.most_concurrent >= 2  # 250 ms replies, 100 ms apart: they overlap
    with engine.connect() as conn:
        coins = {symbol: db.coin_by_symbol(conn, symbol) for symbol in written}
        assert all(db.count_candles(conn, coin.id) == 100 for coin in coins.values())
    engine.dispose()


@pytest.mark.parametrize("workers", [0, 33])
def test_a_worker_count_out_of_range_is_refused_before_anything(workers, sqlite_url, tmp_path,
                                                                replay_market):
    write_wide_market(tmp_path / "serve", pairs=2, candles=10)
    server = replay_market(tmp_path / "serve", now=AFTER_LAST)
    engine = db.open_database(sqlite_url)
    with pytest.raises(BadInput, match="--crawl-workers must be from 1 to 32"):
        _crawl(engine, server, workers=workers)
    assert server.request_log == []
    engine.dispose()


@pytest.mark.parametrize("command, workers", [("crawl", "0"), ("run", "33")])
def test_the_flag_out_of_range_is_one_line_exit_2(command, workers, sqlite_url, tmp_path,
                                                  replay_market, cli):
    write_wide_market(tmp_path / "serve", pairs=2, candles=10)
    server = replay_market(tmp_path / "serve", now=AFTER_LAST)
    done = cli(command, "--market", "ETH", "--db", sqlite_url, "--binance-url", server.url,
               "--crawl-workers", workers, "--no-progress", "--artifacts", str(tmp_path / "a"))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"coinlstm {command}: error: --crawl-workers must be from 1 to 32, "
                     f"got {workers}"], done.stderr
    assert server.request_log == []
    assert not (tmp_path / "coinlstm.sqlite").exists()  # refused before the database too
