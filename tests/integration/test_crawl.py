"""The market crawler against the replay server: real HTTP, real python-binance, real DBs.

The candles are the SYNTHETIC set of tests/synthetic.py (SYNTHnETH), except in the one test
that crawls the newest candles of the nine real shared pairs.
"""

from __future__ import annotations

import random
import signal
import socket
import time
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS
from coinlstm.core.errors import BadInput, ExchangeUnavailable
from crawl.binance import BinanceClient
from crawl.crawler import RECHECKED, crawl_market
from crawl.replay import Faults, ReplayServer
from crawl.retry import RetryPolicy
from tests.helpers import (
    ETH_PAIRS,
    HOUR_MS,
    after_last,
    as_tuples,
    count_rows_by_name,
    import_into,
    read_csv_rows,
    text_rows,
    write_csv,
    write_market,
)
from tests.synthetic import FIVE_MINUTE, FIVE_MINUTES_MS, HOURLY, INTERVAL_SYMBOL

#: Retries that keep fault tests short: 6 attempts, 0.05 s to 0.2 s apart.
QUICK = RetryPolicy(attempts=6, first_backoff=0.05, max_backoff=0.2)


def _stored(engine, symbol: str) -> list[list[str]]:
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbol)
        return [] if coin is None else [list(row) for row in db.candle_text_rows(conn, coin.id)]


def _assert_prefix(engine, folder: Path, symbol: str) -> int:
    """The stored candles are the source's first N, all 12 fields as text; returns N."""
    stored = _stored(engine, symbol)
    source = read_csv_rows(folder / f"{symbol}.csv")
    assert stored == source[: len(stored)], f"{symbol}: stored candles are not a prefix"
    return len(stored)


def _crawl(engine, server: ReplayServer, market: str = "ETH", **kwargs):
    client = kwargs.pop("client", None) or BinanceClient(server.url, retry=QUICK, timeout=5)
    return crawl_market(engine, server.url, market, progress=False, client=client, **kwargs)


def _klines_requests(server: ReplayServer) -> int:
    return sum(entry.path.startswith("/api/v3/klines") for entry in server.request_log)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: Candles of each real pair served to the nine-pair crawl: three pages of 1,000 and a part
#: page. The files in full (19,692 candles each) are crawled and checked value for value by
#: bench/crawl.py, part (b).
NINE_PAIRS_ROWS = 2_500


def test_nine_real_pairs_every_value_equal_and_second_crawl_adds_nothing(shared_data, db_url,
                                                                        tmp_path, replay_market):
    folder = write_market(shared_data, tmp_path / "serve", ETH_PAIRS, NINE_PAIRS_ROWS,
                          tail=True)
    engine = db.open_database(db_url)
    server = replay_market(folder)
    first = _crawl(engine, server)
    second = _crawl(engine, server)
    assert sorted(first.pairs) == sorted(ETH_PAIRS)
    assert first.candles_added == dict.fromkeys(ETH_PAIRS, NINE_PAIRS_ROWS)
    assert second.total_added == 0
    for symbol in ETH_PAIRS:
        assert _stored(engine, symbol) == read_csv_rows(folder / f"{symbol}.csv")
    engine.dispose()


def test_open_candle_never_stored_and_later_crawl_adds_only_new_contiguous(synthetic_candles,
                                                                           db_url,
                                                                           tmp_path, replay_market):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH", "SYNTH3ETH"), 2500)
    opens = [int(row[0]) for row in read_csv_rows(folder / "SYNTH1ETH.csv")]
    engine = db.open_database(db_url)
    server = replay_market(folder, now=opens[1500] + 30 * 60_000)
    first = _crawl(engine, server)
    assert first.candles_added == {"SYNTH1ETH": 1500, "SYNTH3ETH": 1500}
    for symbol in ("SYNTH1ETH", "SYNTH3ETH"):
        assert _assert_prefix(engine, folder, symbol) == 1500  # candle 1500 was still open
    server = replay_market(folder, now=opens[2200] + 5 * 60_000)
    second = _crawl(engine, server)
    klines = [e.path for e in server.request_log if e.path.startswith("/api/v3/klines")]
    assert second.candles_added == {"SYNTH1ETH": 700, "SYNTH3ETH": 700}
    # Resumed at the newest stored candle, the RECHECKED before it fetched again (in the same
    # page) to repair any another crawler stored while open; nothing older refetched.
    assert all(f"startTime={opens[1499 - RECHECKED]}" in path for path in klines)
    for symbol in ("SYNTH1ETH", "SYNTH3ETH"):
        assert _assert_prefix(engine, folder, symbol) == 2200
    engine.dispose()


def test_statuses_delisting_only_and_stable_ids(synthetic_candles, db_url, tmp_path, replay_market):
    pairs = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH")
    folder = write_market(synthetic_candles, tmp_path / "serve", pairs, 300)
    engine = db.open_database(db_url)
    server = replay_market(folder)
    only = _crawl(engine, server, only=["SYNTH3ETH"])
    assert only.pairs == ["SYNTH3ETH"] and only.candles_added == {"SYNTH3ETH": 300}
    with engine.connect() as conn:
        ids = {row.symbol: row.id for row in db.coins_of_market(conn, "ETH")}
        assert set(ids) == set(pairs)  # every trading pair registered
        assert db.count_candles(conn, ids["SYNTH1ETH"]) == 0
    server = replay_market(folder)
    _crawl(engine, server)
    (folder / "SYNTH2ETH.csv").unlink()  # no longer listed
    server = replay_market(folder, statuses={"SYNTH3ETH": "BREAK"})
    later = _crawl(engine, server)
    assert later.pairs == ["SYNTH1ETH"] and later.delisted == ["SYNTH2ETH"]
    with engine.connect() as conn:
        coins = {row.symbol: row for row in db.coins_of_market(conn, "ETH")}
        assert {s: c.id for s, c in coins.items()} == ids
        assert {s: c.status for s, c in coins.items()} == {
            "SYNTH1ETH": "TRADING", "SYNTH2ETH": "DELISTED", "SYNTH3ETH": "BREAK"}
        assert all(db.count_candles(conn, ids[symbol]) == 300 for symbol in pairs)
    engine.dispose()


def test_requests_go_to_the_configured_url_only(synthetic_candles, sqlite_url, tmp_path,
                                                replay_market):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",), 1200)
    engine = db.open_database(sqlite_url)
    server = replay_market(folder)
    client = BinanceClient(server.url)
    assert server.request_log == []  # building the client contacts nobody
    assert client.client.API_URL == server.url + "/api"
    sent = []
    client.client.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.url))
    summary = _crawl(engine, server, client=client)
    log = server.request_log
    assert summary.requests == client.requests == len(sent) == len(log) == 4
    assert all(url.startswith(server.url + "/api/v3/") for url in sent)
    assert [url[len(server.url):] for url in sent] == [entry.path for entry in log]
    engine.dispose()


def test_survives_429_every_10th_and_waits_retry_after(synthetic_candles, sqlite_url, tmp_path,
                                                       replay_market):
    pairs = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH4ETH", "SYNTH3ETH")
    folder = write_market(synthetic_candles, tmp_path / "serve", pairs, 3000)
    engine = db.open_database(sqlite_url)
    faults = Faults(too_many_every=10, retry_after=2)
    server = replay_market(folder, faults=faults)
    summary = _crawl(engine, server)
    log = server.request_log
    assert summary.total_added == 4 * 3000
    limited = [i for i, entry in enumerate(log) if entry.status == 429]
    assert limited == [9]  # exchangeInfo, time, 12 pages: the 10th request
    for i in limited:
        # The four pairs are crawled at once: the requests of the other three threads that
        # were already on their way may arrive after it, none sent later.
        early = [entry for entry in log[i + 1:] if entry.time - log[i].time < 2.0]
        assert len(early) <= 3, "called again before Retry-After passed"
        assert log[i + 1 + len(early)].time - log[i].time >= 2.0
    assert summary.rate_limit_waits == len(limited)
    for symbol in pairs:
        assert _assert_prefix(engine, folder, symbol) == 3000
    engine.dispose()


@pytest.mark.parametrize("faults, timeout, status", [
    (Faults(banned_every=6, retry_after=1), 5, 418),
    (Faults(error_every=4), 5, 500),
    (Faults(truncate_every=3), 5, 200),
    (Faults(delay_ms=1500, delay_every=4), 0.7, 200),
], ids=["418", "500", "truncated-json", "slow-replies"])
def test_survives_faults(synthetic_candles, sqlite_url, tmp_path, faults, timeout, status,
                         replay_market):
    pairs = ("SYNTH1ETH", "SYNTH3ETH", "SYNTH5ETH")
    folder = write_market(synthetic_candles, tmp_path / "serve", pairs, 2500)
    engine = db.open_database(sqlite_url)
    server = replay_market(folder, faults=faults)
    client = BinanceClient(server.url, retry=QUICK, timeout=timeout)
    summary = _crawl(engine, server, client=client)
    log = server.request_log
    assert summary.total_added == 3 * 2500
    assert summary.retries + summary.rate_limit_waits >= 1
    assert status in {entry.status for entry in log}
    for symbol in pairs:
        assert _assert_prefix(engine, folder, symbol) == 2500
    engine.dispose()


def test_keeps_used_weight_under_the_limit(synthetic_candles, sqlite_url, tmp_path, replay_market):
    pairs = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH", "SYNTH5ETH")
    folder = write_market(synthetic_candles, tmp_path / "serve", pairs, 2500)
    engine = db.open_database(sqlite_url)
    # 20 + 1 + 12 pages x 2 = 45 > 40: one minute cannot hold this crawl. The clock starts a
    # second into a minute and runs 20x (a server minute lasts 3 real seconds), so the
    # ceiling (32) is reached long before the minute ends: the client must wait for it.
    server = replay_market(folder, now=after_last(folder) + 1000, speed=20,
                           weight_limit=40)
    client = BinanceClient(server.url, retry=QUICK)
    summary = _crawl(engine, server, client=client)
    log = server.request_log
    assert summary.total_added == 4 * 2500
    assert client.weight_ceiling == 32
    assert [entry.status for entry in log if entry.status != 200] == []
    used = [entry.used_weight for entry in log]
    assert max(used) <= 40
    assert any(later < earlier for earlier, later in pairwise(used))  # a new minute
    assert summary.rate_limit_waits >= 1
    engine.dispose()


def test_unavailable_exchange_raises_quickly_and_writes_nothing(synthetic_candles, db_url,
                                                                tmp_path, replay_market):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",), 100)
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        before = db.table_fingerprint(conn)
    started = time.monotonic()
    refused = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ExchangeUnavailable, match="connection refused") as caught:
        crawl_market(engine, refused, "ETH", progress=False,
                     client=BinanceClient(refused, retry=QUICK))
    assert refused in str(caught.value) and "6 times" in str(caught.value)
    server = replay_market(folder, faults=Faults(error_every=1))
    with pytest.raises(ExchangeUnavailable, match="HTTP 500"):
        _crawl(engine, server)
    server = replay_market(folder, faults=Faults(banned_every=1, retry_after=3600))
    with pytest.raises(ExchangeUnavailable, match="asks to wait 3600 s"):
        _crawl(engine, server)
    # Quickly: no 3600 s Retry-After slept through, no long backoff (QUICK: under a second
    # a crawl; the bound is generous because 4 pytest-xdist workers share 2 cores).
    assert time.monotonic() - started < 30
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == before
    engine.dispose()


def test_bad_input_raises_before_writing(synthetic_candles, sqlite_url, tmp_path, replay_market):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",), 100)
    engine = db.open_database(sqlite_url)
    server = replay_market(folder, now=after_last(folder))
    with pytest.raises(BadInput, match="unknown market 'BTC'"):
        _crawl(engine, server, market="BTC")
    with pytest.raises(BadInput, match="not in the past"):
        _crawl(engine, server, since_ms=after_last(folder) + HOUR_MS)
    with pytest.raises(BadInput, match="not trading pairs of market ETH.*SYNTH5ETH"):
        _crawl(engine, server, only=["SYNTH5ETH"])
    with pytest.raises(BadInput, match="unknown interval"):
        _crawl(engine, server, interval="7h")
    with engine.connect() as conn:
        assert set(db.table_fingerprint(conn).values()) == {0}
    engine.dispose()


# --------------------------------------------------------------------------- as a user runs it


@pytest.mark.slow
def test_command_bad_input_one_line_nonzero_database_unchanged(synthetic_candles, db_url,
                                                               tmp_path, replay_market, cli):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH", "SYNTH3ETH"), 300)
    engine = db.open_database(db_url)
    server = replay_market(folder, now=after_last(folder) - 100 * HOUR_MS)
    _crawl(engine, server, only=["SYNTH1ETH"])
    with engine.connect() as conn:
        before = db.table_fingerprint(conn)
        statuses = [tuple(row) for row in conn.execute(sa.select(db.coin_info))]
    base = ["--db", db_url, "--binance-url", server.url, "--no-progress"]
    cases = {  # arguments -> (exit code, text in the one line)
        ("--market", "XYZ"): (2, "unknown market 'XYZ'"),
        ("--market", "ET/H"): (2, "invalid market"),
        ("--since", "2099-01-01"): (2, "is not in the past"),
        ("--since", "last tuesday"): (2, "malformed time 'last tuesday'"),
        ("--interval", "7h"): (2, "unknown interval '7h'"),
        ("--only", "ADA/ETH"): (2, "invalid symbol 'ADA/ETH'"),
        ("--only", "BTCUSDT"): (2, "not trading pairs of market ETH"),
    }
    if db_url.startswith("mysql"):  # the checks do not depend on the database: fewer
        cases = {args: cases[args] for args in list(cases)[::3]}
    running = {args: cli.start("crawl", *base, *args) for args in cases}
    refused = cli.start("crawl", "--db", db_url, "--binance-url",
                        f"http://127.0.0.1:{_free_port()}",
                   "--attempts", "2", "--no-progress")
    outcomes = {args: process.communicate(timeout=120) + (process.returncode,)
                for args, process in running.items()}
    refused_out, refused_err = refused.communicate(timeout=120)
    for args, (code, text) in cases.items():
        stdout, stderr, returncode = outcomes[args]
        assert returncode == code, (args, stderr)
        assert len(stderr.strip().splitlines()) == 1 and text in stderr, (args, stderr)
        assert stdout == ""
    assert refused.returncode == 1
    assert refused_err.strip().splitlines() == [refused_err.strip()]
    assert "connection refused" in refused_err and "2 times" in refused_err
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == before
        assert [tuple(row) for row in conn.execute(sa.select(db.coin_info))] == statuses
    engine.dispose()


@pytest.mark.parametrize("url, code, text", [
    ("mysql+mysqlconnector://root@127.0.0.1:1/coinlstm", 1, "cannot use database"),
    ("mysql+mysqlconnector://root@127.0.0.1:3306/coinlstm_no_such_db_x", 1, "Unknown database"),
    ("nosuchdialect://x/y", 2, "unusable database URL"),
], ids=["unreachable", "missing-database", "wrong-scheme"])
def test_command_unusable_database_is_one_line(synthetic_candles, tmp_path, url, code, text,
                                               replay_market, cli):
    folder = write_market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",), 50)
    server = replay_market(folder)
    stdout, stderr = (process := cli.start("crawl", "--db", url, "--binance-url", server.url,
                                      "--no-progress")).communicate(timeout=120)
    assert server.request_log == []  # the exchange is not asked before the DB answers
    assert process.returncode == code, stderr
    assert len(stderr.strip().splitlines()) == 1 and text in stderr, stderr


def _stored_count(engine) -> int:
    """Hourly candles stored so far, over every pair (what a kill has to wait past)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(db.candlestick_data))
                   .scalar_one())


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_exactly_the_source(synthetic_candles, db_url,
                                                                     tmp_path, replay_market, cli):
    # Two pairs crawled at once of four (so kills land with two pairs' pages in flight and
    # others not started), 24 pages in all: enough for five kills at different points.
    pairs = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH", "SYNTH4ETH")
    folder = write_market(synthetic_candles, tmp_path / "serve", pairs, 6000)
    db.open_database(db_url).dispose()  # the schema exists before the first kill
    chance = random.Random(20240601)
    engine = db.open_database(db_url)
    kills = 0
    seen_after_kills = set()  # total candles stored when each kill landed
    server = replay_market(folder, faults=Faults(delay_ms=100))
    args = ["--db", db_url, "--binance-url", server.url, "--no-progress", "--crawl-workers", "2"]
    stored = 0
    for _ in range(12):
        # Kill once the run has committed at least one page of its own (so every kill lands
        # at a new point, however slowly a loaded machine starts the process), then after a
        # random number of further page requests plus a random instant: during a request, a
        # parse or a page's transaction.
        process = cli.start("crawl", *args)
        deadline = time.monotonic() + 120
        while (_stored_count(engine) <= stored and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        wanted = _klines_requests(server) + chance.randint(0, 2)
        while (_klines_requests(server) < wanted and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        time.sleep(chance.uniform(0.0, 0.15))
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=120)
        # After every kill: each pair holds a prefix of its source (no hole, no stray).
        stored = sum(_assert_prefix(engine, folder, symbol) for symbol in pairs)
        if killed:
            seen_after_kills.add(stored)
        if kills >= 5:
            break
    final = cli.start("crawl", *args)
    stdout, stderr = final.communicate(timeout=300)
    assert kills >= 5
    assert len(seen_after_kills - {0, 4 * 6000}) >= 3  # killed mid-crawl, at different points
    assert final.returncode == 0, stderr
    assert "crawled market ETH: 4 pairs" in stdout
    for symbol in pairs:
        assert _stored(engine, symbol) == read_csv_rows(folder / f"{symbol}.csv")
    engine.dispose()


def test_crawl_5m_beside_the_stored_hourly_series(db_url, tmp_path, replay_market):
    """A 5m crawl of a pair whose hourly candles are stored: both series whole and apart."""
    import_into(db_url, [write_csv(tmp_path / "hourly", INTERVAL_SYMBOL, HOURLY)])
    served = write_csv(tmp_path / "serve", INTERVAL_SYMBOL, FIVE_MINUTE)
    engine = db.open_database(db_url)
    try:
        server = replay_market(served.parent, now=END_OPEN_MS + FIVE_MINUTES_MS + 60_000)
        client = BinanceClient(server.url, retry=QUICK, timeout=5)
        first = crawl_market(engine, server.url, "ETH", interval="5m", progress=False,
                             client=client)
        again = crawl_market(engine, server.url, "ETH", interval="5m", progress=False,
                             client=client)
        with engine.connect() as conn:
            coin_id = db.coin_by_symbol(conn, INTERVAL_SYMBOL).id
            newest = {interval: db.newest_open_time(conn, coin_id, interval=interval)
                      for interval in ("1h", "5m")}
            counts = {interval: db.candle_counts_by_coin(conn, interval=interval)
                      for interval in ("1h", "5m", "15m")}
    finally:
        engine.dispose()

    # Had the crawl resumed from the hourly series' newest candle, it would have added none.
    assert first.candles_added == {INTERVAL_SYMBOL: len(FIVE_MINUTE)}
    assert again.candles_added == {INTERVAL_SYMBOL: 0}
    assert text_rows(db_url, INTERVAL_SYMBOL, "5m") == as_tuples(FIVE_MINUTE)
    assert text_rows(db_url, INTERVAL_SYMBOL, "1h") == as_tuples(HOURLY)
    assert newest == {"1h": END_OPEN_MS, "5m": END_OPEN_MS}
    assert counts == {"1h": {coin_id: len(HOURLY)}, "5m": {coin_id: len(FIVE_MINUTE)},
                      "15m": {}}
    assert count_rows_by_name(db_url, "candlestick_data") == len(HOURLY)
    assert count_rows_by_name(db_url, "candlestick_data_5m") == len(FIVE_MINUTE)
