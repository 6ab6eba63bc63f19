"""The tutorials' set-ups (docs/exchanges.md, "Recipes"), each end to end through the CLI
against the replay server speaking its exchange's replies, with few epochs: the recipes
run as written, only smaller.

The candles are synthetic (coinlstm.app.demo's generator), named for the tutorial's pair.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import synthetic_klines
from coinlstm.core.klines import INTERVAL_MS
from tests.helpers import write_csv

pytestmark = pytest.mark.slow


def _serve(folder, symbol: str, interval: str, candles: int, replay_market, exchange: str):
    step = INTERVAL_MS[interval]
    end = 1_735_603_200_000  # 2024-12-31 00:00 UTC, on every grid used here
    lines = synthetic_klines(candles, seed=77, ar=0.2, interval_ms=step, end_open_ms=end,
                             start_price=0.05)
    write_csv(folder, symbol, lines)
    return replay_market(folder, now=end + step + 60_000, exchange=exchange), lines


def _crawl_every_candle(cli, source: list[str], market: str, interval: str,
                        lines: list[str]) -> None:
    crawled = cli("crawl", *source, "--market", market, "--interval", interval,
                  "--since", "2022-01-01", "--no-progress")
    assert crawled.returncode == 0, crawled.stderr
    assert f"{len(lines)} candles added" in crawled.stdout


def _coin_id(db_url: str, symbol: str) -> int:
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            return int(db.coin_by_symbol(conn, symbol).id)
    finally:
        engine.dispose()


def _trained(db_url: str, coin_id: int) -> list[sa.Row]:
    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(db.historical_train).where(
                db.historical_train.c.id_coin == coin_id)).all()
    finally:
        engine.dispose()


def test_poloniex_5m_256_in_16_out_cnn_lstm_leaky_gru(sqlite_url, tmp_path, replay_market,
                                                      cli):
    server, lines = _serve(tmp_path / "serve", "SYNTHBTCUSDT", "5m", 720, replay_market,
                           "poloniex")
    source = ["--exchange", "poloniex", "--exchange-url", server.url, "--db", sqlite_url]
    _crawl_every_candle(cli, source, "USDT", "5m", lines)

    out = tmp_path / "evaluate"
    compared = cli("evaluate", *source, "--market", "USDT", "--interval", "5m",
                   "--models", "cnn,lstm-leaky,gru", "--window", "256", "--epochs", "1",
                   "--folds", "1", "--fold-size", "24", "--val-size", "96", "--workers", "1",
                   "--out", str(out), "--artifacts", str(tmp_path / "artifacts"))
    assert compared.returncode == 0, compared.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {"cnn", "lstm-leaky", "gru"} <= set(json.dumps(summary).split('"'))

    coin_id = _coin_id(sqlite_url, "SYNTHBTC_USDT")
    forecast = cli("train", *source, "-id", str(coin_id), "-symbol", "SYNTHBTC_USDT",
                   "--interval", "5m", "--window", "256", "--horizon", "16", "--model", "cnn",
                   "--epochs", "1", "--val-size", "96", "--artifacts",
                   str(tmp_path / "artifacts"))
    assert forecast.returncode == 0, forecast.stderr
    (row,) = _trained(sqlite_url, coin_id)
    assert (row.horizon, row.interval, row.model) == (16, "5m", "cnn")


def test_bithumb_eth_krw_hourly_reference_lstm(sqlite_url, tmp_path, replay_market, cli):
    server, lines = _serve(tmp_path / "serve", "ETHKRW", "1h", 700, replay_market, "bithumb")
    done = cli("run", "--exchange", "bithumb", "--exchange-url", server.url,
               "--db", sqlite_url, "--market", "KRW", "--only", "KRW-ETH", "--target", "close",
               "--epochs", "1", "--val-size", "96", "--workers", "1", "--no-progress",
               "--artifacts", str(tmp_path / "artifacts"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KRW-ETH" in done.stdout
    (row,) = _trained(sqlite_url, _coin_id(sqlite_url, "KRW-ETH"))
    assert (row.model, row.target, row.interval) == ("lstm", "close", "1h")


def test_coingecko_daily_prices_reference_lstm_on_torch(sqlite_url, tmp_path, replay_market,
                                                         cli):
    server, lines = _serve(tmp_path / "serve", "BITCOINUSD", "1d", 400, replay_market,
                           "coingecko")
    source = ["--exchange", "coingecko", "--exchange-url", server.url, "--db", sqlite_url]
    _crawl_every_candle(cli, source, "USD", "1d", lines)
    coin_id = _coin_id(sqlite_url, "bitcoin-usd")
    done = cli("train", *source, "-id", str(coin_id), "-symbol", "bitcoin-usd",
               "--interval", "1d", "--target", "close", "--backend", "torch", "--epochs", "1",
               "--val-size", "96", "--artifacts", str(tmp_path / "artifacts"))
    assert done.returncode == 0, done.stderr
    (row,) = _trained(sqlite_url, coin_id)
    assert (row.model, row.target, row.backend, row.interval) == ("lstm", "close", "torch",
                                                                  "1d")
