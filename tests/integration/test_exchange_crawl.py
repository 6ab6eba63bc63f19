"""``coinlstm crawl --exchange poloniex|bithumb|coingecko`` through the CLI, against the replay
server speaking that exchange's replies, on SQLite and MySQL.

A full crawl stores every candle exactly (the columns the source has; the others as
coinlstm.core.exchanges says), a second adds nothing, SIGKILL at random points then a rerun
gives exactly the source rows, 429 with Retry-After is waited out, and bad input (an
unknown exchange, an unknown market of that exchange, another exchange's symbol) is one
line, exit 2, nothing written.
"""

from __future__ import annotations

import random
import signal
import time

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS
from crawl.replay import Faults
from tests.helpers import (
    EXCHANGE_MARKETS,
    as_source_rows,
    fingerprint,
    text_rows,
    write_exchange_market,
)

NEW_SOURCES = tuple(EXCHANGE_MARKETS)
#: The path of each exchange's candle requests (what the kill test counts).
CANDLE_PATHS = {"poloniex": "/candles", "bithumb": "/v1/candles/",
                "coingecko": "/market_chart/range"}


def _after_last(written: dict[str, list[str]], interval: str) -> int:
    last = max(int(lines[-1].split(",")[0]) for lines in written.values())
    return last + INTERVAL_MS[interval] + 60_000


def _crawl_args(exchange: str, server, db_url: str, *extra: str) -> list[str]:
    market, interval, _ = EXCHANGE_MARKETS[exchange]
    return ["crawl", "--exchange", exchange, "--exchange-url", server.url, "--market", market,
            "--interval", interval, "--db", db_url, "--no-progress", "--since", "2020-01-01",
            *extra]


def _assert_exact(db_url: str, exchange: str, written: dict[str, list[str]]) -> None:
    facts = EXCHANGES[exchange]
    interval = EXCHANGE_MARKETS[exchange][1]
    for symbol, lines in written.items():
        assert text_rows(db_url, symbol, interval) == as_source_rows(lines, facts.columns), \
            symbol


def _assert_prefix(db_url: str, exchange: str, written: dict[str, list[str]]) -> int:
    facts = EXCHANGES[exchange]
    interval = EXCHANGE_MARKETS[exchange][1]
    stored = 0
    for symbol, lines in written.items():
        rows = text_rows(db_url, symbol, interval)
        assert rows == as_source_rows(lines, facts.columns)[: len(rows)], symbol
        stored += len(rows)
    return stored


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_a_full_crawl_stores_every_candle_and_a_second_adds_nothing(
        exchange, db_url, tmp_path, replay_market, cli):
    written = write_exchange_market(tmp_path / "serve", exchange)
    interval = EXCHANGE_MARKETS[exchange][1]
    server = replay_market(tmp_path / "serve", now=_after_last(written, interval),
                           exchange=exchange)

    first = cli(*_crawl_args(exchange, server, db_url))
    assert first.returncode == 0, first.stderr
    total = sum(map(len, written.values()))
    assert f"2 pairs, {total} candles added" in first.stdout
    _assert_exact(db_url, exchange, written)
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        coins = conn.execute(sa.select(db.coin_info.c.symbol, db.coin_info.c.exchange,
                                       db.coin_info.c.quoteAsset)).all()
    engine.dispose()
    assert sorted(coins) == sorted((symbol, exchange, EXCHANGE_MARKETS[exchange][0])
                                   for symbol in written)

    before = fingerprint(db_url)
    second = cli(*_crawl_args(exchange, server, db_url))
    assert second.returncode == 0, second.stderr
    assert "2 pairs, 0 candles added" in second.stdout
    assert fingerprint(db_url) == before
    _assert_exact(db_url, exchange, written)


@pytest.mark.slow
@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_sigkill_at_random_points_then_rerun_gives_exactly_the_source(
        exchange, db_url, tmp_path, replay_market, cli):
    written = write_exchange_market(tmp_path / "serve", exchange, candles=1500)
    interval = EXCHANGE_MARKETS[exchange][1]
    db.open_database(db_url).dispose()  # the schema exists before the first kill
    server = replay_market(tmp_path / "serve", now=_after_last(written, interval),
                           exchange=exchange, faults=Faults(delay_ms=60))
    chance = random.Random(20261201)
    args = _crawl_args(exchange, server, db_url)

    def candle_requests() -> int:
        return sum(CANDLE_PATHS[exchange] in entry.path for entry in server.request_log)

    kills = 0
    for _ in range(10):
        process = cli.start(*args)
        wanted = candle_requests() + chance.randint(1, 4)
        deadline = time.monotonic() + 60
        while candle_requests() < wanted and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(chance.uniform(0.0, 0.1))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.communicate(timeout=120)
        _assert_prefix(db_url, exchange, written)  # no hole, no stray candle, ever
        if kills >= 4:
            break
    assert kills >= 3
    final = cli(*args)
    assert final.returncode == 0, final.stderr
    _assert_exact(db_url, exchange, written)


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_429_with_retry_after_is_waited_out(exchange, db_url, tmp_path, replay_market, cli):
    written = write_exchange_market(tmp_path / "serve", exchange, candles=900, pairs=1)
    interval = EXCHANGE_MARKETS[exchange][1]
    server = replay_market(tmp_path / "serve", now=_after_last(written, interval),
                           exchange=exchange, faults=Faults(too_many_every=3, retry_after=1))
    done = cli(*_crawl_args(exchange, server, db_url))
    assert done.returncode == 0, done.stderr
    log = server.request_log
    limited = sum(entry.status == 429 for entry in log)
    assert limited >= 1
    assert f"{limited} rate-limit waits" in done.stdout
    for before, after in zip(log, log[1:], strict=False):
        if before.status == 429:
            assert after.time - before.time >= 0.95, "a request left before Retry-After"
    _assert_exact(db_url, exchange, written)


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
        exchange, db_url, tmp_path, replay_market, cli):
    written = write_exchange_market(tmp_path / "serve", exchange, candles=60, pairs=1)
    server = replay_market(tmp_path / "serve", exchange=exchange)
    before = fingerprint(db_url)
    own = next(iter(written))
    others = [facts.symbol_example for facts in EXCHANGES.values() if facts.name != exchange]
    cases = [
        (["--exchange", "kraken"], "invalid choice: 'kraken'", False),
        (["--market", "ZZZ"], f"unknown market 'ZZZ': {exchange} ", True),
        *((["--only", f"{own},{other}"], "symbol", False) for other in others),
        (["--interval", "2h" if exchange != "poloniex" else "3m"], f"{exchange} has no", False),
    ]
    for extra, text, asks_exchange in cases:
        asked_before = len(server.request_log)
        done = cli(*_crawl_args(exchange, server, db_url), *extra)
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], (extra, done.stderr)
        if not asks_exchange:
            assert len(server.request_log) == asked_before, extra  # refused before asking
        assert fingerprint(db_url) == before, extra
