"""The market crawler against the replay server: real HTTP, real python-binance, real DBs."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.errors import BadInput, ExchangeUnavailable
from crawl.binance import BinanceClient, RetryPolicy
from crawl.crawler import crawl_market
from crawl.replay import Faults, ReplayServer
from tests.conftest import ETH_PAIRS, REPO, read_csv_rows, write_sample

HOUR_MS = 3_600_000
#: Retries that keep fault tests short: 6 attempts, 0.05 s to 0.2 s apart.
QUICK = RetryPolicy(attempts=6, first_backoff=0.05, max_backoff=0.2)


def _serve(shared_data: Path, folder: Path, pairs, rows: int) -> Path:
    for symbol in pairs:
        write_sample(shared_data / f"{symbol}.csv", folder, rows)
    return folder


def _after_last(folder: Path) -> int:
    """A server time just after every candle in the folder has closed."""
    last = max(int(read_csv_rows(path)[-1][0]) for path in folder.glob("*.csv"))
    return last + HOUR_MS + 60_000


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


@pytest.mark.slow
def test_full_nine_pairs_every_value_equal_and_second_crawl_adds_nothing(shared_data, db_url,
                                                                         tmp_path):
    folder = tmp_path / "serve"
    folder.mkdir()
    for symbol in ETH_PAIRS:
        (folder / f"{symbol}.csv").symlink_to(shared_data / f"{symbol}.csv")
    engine = db.open_database(db_url)
    with ReplayServer(folder) as server:
        first = _crawl(engine, server)
        second = _crawl(engine, server)
    assert sorted(first.pairs) == sorted(ETH_PAIRS)
    assert first.candles_added == {symbol: 19_692 for symbol in ETH_PAIRS}
    assert second.total_added == 0
    for symbol in ETH_PAIRS:
        assert _stored(engine, symbol) == read_csv_rows(shared_data / f"{symbol}.csv")
    engine.dispose()


def test_open_candle_never_stored_and_later_crawl_adds_only_new_contiguous(shared_data, db_url,
                                                                           tmp_path):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH", "TRXETH"), 2500)
    opens = [int(row[0]) for row in read_csv_rows(folder / "ADAETH.csv")]
    engine = db.open_database(db_url)
    with ReplayServer(folder, now=opens[1500] + 30 * 60_000) as server:
        first = _crawl(engine, server)
    assert first.candles_added == {"ADAETH": 1500, "TRXETH": 1500}
    for symbol in ("ADAETH", "TRXETH"):
        assert _assert_prefix(engine, folder, symbol) == 1500  # candle 1500 was still open
    with ReplayServer(folder, now=opens[2200] + 5 * 60_000) as server:
        second = _crawl(engine, server)
        klines = [e.path for e in server.request_log if e.path.startswith("/api/v3/klines")]
    assert second.candles_added == {"ADAETH": 700, "TRXETH": 700}
    assert all(f"startTime={opens[1500]}" in path for path in klines)  # resumed, not refetched
    for symbol in ("ADAETH", "TRXETH"):
        assert _assert_prefix(engine, folder, symbol) == 2200
    engine.dispose()


def test_statuses_delisting_only_and_stable_ids(shared_data, db_url, tmp_path):
    pairs = ("ADAETH", "BNBETH", "TRXETH")
    folder = _serve(shared_data, tmp_path / "serve", pairs, 300)
    engine = db.open_database(db_url)
    with ReplayServer(folder) as server:
        only = _crawl(engine, server, only=["TRXETH"])
    assert only.pairs == ["TRXETH"] and only.candles_added == {"TRXETH": 300}
    with engine.connect() as conn:
        ids = {row.symbol: row.id for row in db.coins_of_market(conn, "ETH")}
        assert set(ids) == set(pairs)  # every trading pair registered
        assert db.count_candles(conn, ids["ADAETH"]) == 0
    with ReplayServer(folder) as server:
        _crawl(engine, server)
    (folder / "BNBETH.csv").unlink()  # no longer listed
    with ReplayServer(folder, statuses={"TRXETH": "BREAK"}) as server:
        later = _crawl(engine, server)
    assert later.pairs == ["ADAETH"] and later.delisted == ["BNBETH"]
    with engine.connect() as conn:
        coins = {row.symbol: row for row in db.coins_of_market(conn, "ETH")}
        assert {s: c.id for s, c in coins.items()} == ids
        assert {s: c.status for s, c in coins.items()} == {
            "ADAETH": "TRADING", "BNBETH": "DELISTED", "TRXETH": "BREAK"}
        assert all(db.count_candles(conn, ids[symbol]) == 300 for symbol in pairs)
    engine.dispose()


def test_requests_go_to_the_configured_url_only(shared_data, sqlite_url, tmp_path):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH",), 1200)
    engine = db.open_database(sqlite_url)
    with ReplayServer(folder) as server:
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


def test_survives_429_every_10th_and_waits_retry_after(shared_data, sqlite_url, tmp_path):
    pairs = ("ADAETH", "BNBETH", "LTCETH", "TRXETH")
    folder = _serve(shared_data, tmp_path / "serve", pairs, 3000)
    engine = db.open_database(sqlite_url)
    faults = Faults(too_many_every=10, retry_after=2)
    with ReplayServer(folder, faults=faults) as server:
        summary = _crawl(engine, server)
        log = server.request_log
    assert summary.total_added == 4 * 3000
    limited = [i for i, entry in enumerate(log) if entry.status == 429]
    assert limited == [9]  # exchangeInfo, time, 12 pages: the 10th request
    for i in limited:
        assert log[i + 1].time - log[i].time >= 2.0, "called again before Retry-After passed"
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
def test_survives_faults(shared_data, sqlite_url, tmp_path, faults, timeout, status):
    pairs = ("ADAETH", "TRXETH", "XRPETH")
    folder = _serve(shared_data, tmp_path / "serve", pairs, 2500)
    engine = db.open_database(sqlite_url)
    with ReplayServer(folder, faults=faults) as server:
        client = BinanceClient(server.url, retry=QUICK, timeout=timeout)
        summary = _crawl(engine, server, client=client)
        log = server.request_log
    assert summary.total_added == 3 * 2500
    assert summary.retries + summary.rate_limit_waits >= 1
    assert status in {entry.status for entry in log}
    for symbol in pairs:
        assert _assert_prefix(engine, folder, symbol) == 2500
    engine.dispose()


def test_keeps_used_weight_under_the_limit(shared_data, sqlite_url, tmp_path):
    pairs = ("ADAETH", "BNBETH", "TRXETH", "XRPETH")
    folder = _serve(shared_data, tmp_path / "serve", pairs, 2500)
    engine = db.open_database(sqlite_url)
    # 20 + 1 + 12 pages x 2 = 45 > 40: one minute cannot hold this crawl. The clock starts a
    # second into a minute and runs 20x (a server minute lasts 3 real seconds), so the
    # ceiling (32) is reached long before the minute ends: the client must wait for it.
    with ReplayServer(folder, now=_after_last(folder) + 1000, speed=20,
                      weight_limit=40) as server:
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


def test_unavailable_exchange_raises_quickly_and_writes_nothing(shared_data, db_url, tmp_path):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH",), 100)
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        before = db.table_fingerprint(conn)
    started = time.monotonic()
    refused = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(ExchangeUnavailable, match="connection refused") as caught:
        crawl_market(engine, refused, "ETH", progress=False,
                     client=BinanceClient(refused, retry=QUICK))
    assert refused in str(caught.value) and "6 times" in str(caught.value)
    with ReplayServer(folder, faults=Faults(error_every=1)) as server:
        with pytest.raises(ExchangeUnavailable, match="HTTP 500"):
            _crawl(engine, server)
    with ReplayServer(folder, faults=Faults(banned_every=1, retry_after=3600)) as server:
        with pytest.raises(ExchangeUnavailable, match="asks to wait 3600 s"):
            _crawl(engine, server)
    assert time.monotonic() - started < 10
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == before
    engine.dispose()


def test_bad_input_raises_before_writing(shared_data, sqlite_url, tmp_path):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH",), 100)
    engine = db.open_database(sqlite_url)
    with ReplayServer(folder, now=_after_last(folder)) as server:
        with pytest.raises(BadInput, match="unknown market 'BTC'"):
            _crawl(engine, server, market="BTC")
        with pytest.raises(BadInput, match="not in the past"):
            _crawl(engine, server, since_ms=_after_last(folder) + HOUR_MS)
        with pytest.raises(BadInput, match="not trading pairs of market ETH.*XRPETH"):
            _crawl(engine, server, only=["XRPETH"])
        with pytest.raises(BadInput, match="unknown interval"):
            _crawl(engine, server, interval="7h")
    with engine.connect() as conn:
        assert set(db.table_fingerprint(conn).values()) == {0}
    engine.dispose()


# --------------------------------------------------------------------------- as a user runs it


def _cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, COINLSTM_HOME=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "coinlstm", "crawl", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(REPO))


def test_command_bad_input_one_line_nonzero_database_unchanged(shared_data, db_url, tmp_path):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH", "TRXETH"), 300)
    engine = db.open_database(db_url)
    with ReplayServer(folder, now=_after_last(folder) - 100 * HOUR_MS) as server:
        _crawl(engine, server, only=["ADAETH"])
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
        running = {args: _cli(*base, *args) for args in cases}
        refused = _cli("--db", db_url, "--binance-url", f"http://127.0.0.1:{_free_port()}",
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
def test_command_unusable_database_is_one_line(shared_data, tmp_path, url, code, text):
    folder = _serve(shared_data, tmp_path / "serve", ("ADAETH",), 50)
    with ReplayServer(folder) as server:
        stdout, stderr = (process := _cli("--db", url, "--binance-url", server.url,
                                          "--no-progress")).communicate(timeout=120)
        assert server.request_log == []  # the exchange is not asked before the DB answers
    assert process.returncode == code, stderr
    assert len(stderr.strip().splitlines()) == 1 and text in stderr, stderr


def test_sigkill_at_random_points_then_rerun_gives_exactly_the_source(shared_data, db_url,
                                                                     tmp_path):
    pairs = ("ADAETH", "TRXETH")
    folder = _serve(shared_data, tmp_path / "serve", pairs, 6000)
    db.open_database(db_url).dispose()  # the schema exists before the first kill
    chance = random.Random(20240601)
    engine = db.open_database(db_url)
    kills = 0
    seen_after_kills = set()  # total candles stored when each kill landed
    with ReplayServer(folder, faults=Faults(delay_ms=100)) as server:
        args = ["--db", db_url, "--binance-url", server.url, "--no-progress"]
        for _ in range(12):
            # Kill after a random number of pages has been asked for, plus a random instant:
            # during a request, a parse or a page's transaction, whatever the machine's load.
            pages_before = _klines_requests(server)
            process = _cli(*args)
            wanted = pages_before + chance.randint(1, 3)
            deadline = time.monotonic() + 60
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
        final = _cli(*args)
        stdout, stderr = final.communicate(timeout=300)
    assert kills >= 5
    assert len(seen_after_kills - {0, 2 * 6000}) >= 3  # killed mid-crawl, at different points
    assert final.returncode == 0, stderr
    assert "crawled market ETH: 2 pairs" in stdout
    for symbol in pairs:
        assert _stored(engine, symbol) == read_csv_rows(folder / f"{symbol}.csv")
    engine.dispose()
