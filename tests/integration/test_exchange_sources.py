"""Each non-Binance candle source against the replay server speaking its exchange's replies:
real HTTP on loopback, real ccxt (Poloniex, Bithumb), the CoinGecko client; no database.

Every candle of the files comes back exactly (the columns the source has; the others as the
seam says), 429 with Retry-After is waited out, 5xx and cut-off replies are retried, and
bad input (unknown market, another exchange's symbol) is one BadInput line.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from coinlstm.core.errors import BadInput, ExchangeUnavailable
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS
from crawl.replay import Faults
from crawl.retry import RetryPolicy
from crawl.sources import open_source
from tests.helpers import EXCHANGE_MARKETS, as_source_rows, write_exchange_market

NEW_SOURCES = tuple(EXCHANGE_MARKETS)
QUICK = RetryPolicy(attempts=6, first_backoff=0.05, max_backoff=0.2)


def _after_last(written: dict[str, list[str]], interval: str) -> int:
    last = max(int(lines[-1].split(",")[0]) for lines in written.values())
    return last + INTERVAL_MS[interval] + 60_000


def _fetch_all(source, symbol: str, interval: str, now: int) -> list[tuple[str, ...]]:
    """Every closed candle of ``symbol`` from long before its first, page by page."""
    step = INTERVAL_MS[interval]
    start = now - 2000 * step
    rows = []
    while True:
        page = source.klines(symbol, interval, start, source.page_limit)
        closed = [kline for kline in page if kline[6] < now]
        rows.extend(tuple(str(value) for value in kline) for kline in closed)
        if len(closed) < source.page_limit:
            return rows
        start = closed[-1][0] + step


def _text(value: str) -> str:
    """A decimal's text with 8 places, as the database gives it back."""
    return format(Decimal(value).quantize(Decimal("0.00000001")), "f")


def _normalised(rows):
    return [tuple(_text(value) if index not in (0, 6, 8, 11) else value
                  for index, value in enumerate(row)) for row in rows]


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_every_candle_comes_back_exactly(exchange, tmp_path, replay_market):
    written = write_exchange_market(tmp_path, exchange)
    market, interval, _ = EXCHANGE_MARKETS[exchange]
    server = replay_market(tmp_path, now=_after_last(written, interval), exchange=exchange)
    source = open_source(exchange, server.url, retry=QUICK)

    listed = sorted(pair.symbol for pair in source.pairs(market))
    assert listed == sorted(written)
    now = source.server_time()
    for symbol, lines in written.items():
        got = _fetch_all(source, symbol, interval, now)
        assert _normalised(got) == _normalised(as_source_rows(lines, source.facts.columns))
    assert source.retries == source.rate_limit_waits == 0


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_retry_after_is_waited_out_and_faults_retried(exchange, tmp_path, replay_market):
    written = write_exchange_market(tmp_path, exchange, candles=700, pairs=1)
    market, interval, _ = EXCHANGE_MARKETS[exchange]
    faults = Faults(too_many_every=3, error_every=5, truncate_every=7, retry_after=1)
    server = replay_market(tmp_path, now=_after_last(written, interval), exchange=exchange,
                           faults=faults)
    source = open_source(exchange, server.url, retry=QUICK)
    source.pairs(market)
    symbol, lines = next(iter(written.items()))
    got = _fetch_all(source, symbol, interval, source.server_time())

    assert _normalised(got) == _normalised(as_source_rows(lines, source.facts.columns))
    log = server.request_log
    assert source.rate_limit_waits == sum(1 for entry in log if entry.status == 429) > 0
    assert source.retries > 0
    for before, after in zip(log, log[1:], strict=False):
        if before.status == 429:
            assert after.time - before.time >= 0.95, "a request left before Retry-After"


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_a_server_that_keeps_failing_is_one_line(exchange, tmp_path, replay_market):
    write_exchange_market(tmp_path, exchange, candles=50, pairs=1)
    market = EXCHANGE_MARKETS[exchange][0]
    server = replay_market(tmp_path, exchange=exchange, faults=Faults(error_every=1))
    source = open_source(exchange, server.url, retry=RetryPolicy(attempts=3, first_backoff=0.01))
    with pytest.raises(ExchangeUnavailable, match="failed 3 times, giving up; last: HTTP 500"):
        source.pairs(market)


@pytest.mark.parametrize("exchange", NEW_SOURCES)
def test_unknown_market_and_foreign_symbols_are_bad_input(exchange, tmp_path, replay_market):
    write_exchange_market(tmp_path, exchange, candles=50, pairs=1)
    server = replay_market(tmp_path, exchange=exchange)
    source = open_source(exchange, server.url, retry=QUICK)
    with pytest.raises(BadInput, match="unknown market 'ZZZ'"):
        source.pairs("ZZZ")
    own = EXCHANGES[exchange].symbol_example
    assert source.check_symbol(own) == own
    for other in EXCHANGES.values():
        if other.name != exchange:
            with pytest.raises(BadInput, match=f"invalid {exchange} symbol"):
                source.check_symbol(other.symbol_example)


@pytest.mark.parametrize(("exchange", "path", "expected"), [
    ("poloniex", "/markets", lambda body: body[0]["symbol"] == "SYNTH1_USDT"),
    ("bithumb", "/v1/market/all?isDetails=true", lambda body: body[0]["market"] == "KRW-SYNTH1"),
    ("coingecko", "/api/v3/simple/supported_vs_currencies", lambda body: body == ["usd"]),
])
def test_the_command_speaks_each_exchange(exchange, path, expected, tmp_path, cli):
    import signal

    import requests

    write_exchange_market(tmp_path, exchange, candles=50, pairs=1)
    process = cli.start("replay-server", str(tmp_path), "--exchange", exchange,
                        "--now", "2025-01-01", "--fail-500-every", "2")
    line = process.stdout.readline()
    assert line.startswith("replay server listening on http://127.0.0.1:")
    assert f"({exchange}, 1 symbols, 50 candles)" in line
    url = line.split()[4]
    reply = requests.get(url + path, timeout=10)
    assert reply.status_code == 200 and expected(reply.json())
    assert reply.headers["Date"].startswith("Wed, 01 Jan 2025 00:00")  # the server's clock
    assert requests.get(url + path, timeout=10).status_code == 500
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_the_command_refuses_an_unknown_exchange(tmp_path, cli):
    write_exchange_market(tmp_path, "poloniex", candles=10, pairs=1)
    done = cli("replay-server", str(tmp_path), "--exchange", "kraken", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid choice: 'kraken'" in lines[0]
