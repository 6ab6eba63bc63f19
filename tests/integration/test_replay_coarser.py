"""The replay server serves a coarser interval aggregated from finer files, in each
exchange's replies: crawled through it, the daily and 4-hour candles equal what ``coinlstm
resample`` builds from the same hourly candles in the database (one rule,
coinlstm/core/resample.py), complete periods only."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from coinlstm import db
from tests.helpers import after_last, write_sample

pytestmark = pytest.mark.slow

#: exchange -> (its symbol of SYNTH1ETH.csv, market, the columns it keeps)
EXCHANGES = {"binance": ("SYNTH1ETH", "ETH", range(1, 11)),
             "poloniex": ("SYNTH1_ETH", "ETH", range(1, 11)),
             "bithumb": ("ETH-SYNTH1", "ETH", (1, 2, 3, 4, 5, 7)),
             "coingecko": ("synth1-eth", "ETH", (4, 7))}


def _rows(url: str, symbol: str, interval: str) -> list[tuple]:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            coin = db.coin_by_symbol(conn, symbol)
            return [(int(r[0]), *(Decimal(v) for v in r[1:6]), int(r[6]), Decimal(r[7]),
                     *r[8:]) for r in db.candle_text_rows(conn, coin.id, interval=interval)]
    finally:
        engine.dispose()


@pytest.fixture
def hourly(synthetic_candles, tmp_path, cli):
    """1,300 hourly candles with two gaps; the database ``resample`` built 1d and 4h in."""
    folder = tmp_path / "serve"
    write_sample(synthetic_candles / "SYNTH1ETH.csv", folder, 1300)
    url = f"sqlite:///{tmp_path / 'resampled.sqlite'}"
    assert cli("import", str(folder), "--db", url, "--no-progress").returncode == 0
    for interval in ("1d", "4h"):
        done = cli("resample", "--db", url, "--to", interval)
        assert done.returncode == 0, done.stderr
    return folder, url


@pytest.mark.parametrize("exchange", list(EXCHANGES))
def test_crawled_coarser_candles_equal_resampled_ones(exchange, hourly, tmp_path, cli,
                                                      replay_market):
    folder, resampled = hourly
    symbol, market, kept = EXCHANGES[exchange]
    server = replay_market(folder, now=after_last(folder), exchange=exchange)
    url = f"sqlite:///{tmp_path / 'crawled.sqlite'}"
    intervals = ("1d",) if exchange == "coingecko" else ("1d", "4h")
    for interval in intervals:
        done = cli("crawl", "--exchange", exchange, "--exchange-url", server.url, "--db", url,
                   "--market", market, "--interval", interval, "--since", "2021-03-01",
                   "--no-progress")
        assert done.returncode == 0, done.stdout + done.stderr
        crawled = _rows(url, symbol, interval)
        expected = _rows(resampled, "SYNTH1ETH", interval)
        assert len(crawled) == len(expected) > 40
        for mine, theirs in zip(crawled, expected, strict=True):
            assert mine[0] == theirs[0]
            assert [mine[i] for i in kept] == [theirs[i] for i in kept]


def test_an_interval_finer_than_the_files_is_refused(hourly, replay_market):
    folder, _ = hourly
    server = replay_market(folder, now=after_last(folder))
    reply = requests.get(server.url + "/api/v3/klines",
                         params={"symbol": "SYNTH1ETH", "interval": "5m"}, timeout=10)
    assert (reply.status_code, reply.json()["code"]) == (400, -1120)
    daily = requests.get(server.url + "/api/v3/klines",
                         params={"symbol": "SYNTH1ETH", "interval": "1d", "limit": 2},
                         timeout=10).json()
    assert [kline[0] % 86_400_000 for kline in daily] == [0, 0]
