"""The tutorials' recipes of docs/candles.md ("The tutorials' recipes, offline from the
shared candles"), each run with the commands written there over the real Binance candles of
../shared/data/binance-1h, only smaller: the newest few hundred candles (or days) and one
epoch. Skipped where ../shared is absent."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from coinlstm import db
from tests.helpers import after_last, write_sample

pytestmark = pytest.mark.slow

SMALL = ["--epochs", "1", "--val-size", "96"]


def _serve(shared, folder, files: dict[str, str], rows: int, replay_market, exchange: str):
    """``cp $S/SOURCE.csv folder/NAME.csv`` (the newest ``rows`` candles) and a replay
    server over it with the clock just after the last candle."""
    for source, name in files.items():
        written = write_sample(shared / f"{source}.csv", folder, rows, tail=True)
        written.rename(folder / f"{name}.csv")
    return replay_market(folder, now=after_last(folder), exchange=exchange)


def _new_id(crawled, symbol: str) -> str:
    """The id ``crawl`` printed for a new pair."""
    [line] = [line for line in crawled.stdout.splitlines() if line.startswith("new pairs")]
    ids = dict(reversed(pair.split()) for pair in line.split(": ", 1)[1].split(", "))
    return ids[symbol]


def _trained(url: str) -> list[sa.Row]:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(db.historical_train)).all()
    finally:
        engine.dispose()


def test_binance_hourly_eth_market_reference_lstm(shared_data, sqlite_url, tmp_path, cli,
                                                 replay_market):
    server = _serve(shared_data, tmp_path / "serve", {"ADAETH": "ADAETH", "BNBETH": "BNBETH"},
                    700, replay_market, "binance")
    done = cli("run", "--market", "ETH", "--exchange-url", server.url, "--target", "close",
               "--calibration-size", "0", "--db", sqlite_url, *SMALL, "--workers", "1",
               "--no-progress", "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _trained(sqlite_url)
    assert len(rows) == 2
    assert {(r.model, r.target, r.interval) for r in rows} == {("lstm", "close", "1h")}


def test_coingecko_daily_reference_lstm_on_torch(shared_data, sqlite_url, tmp_path, cli,
                                                 replay_market):
    server = _serve(shared_data, tmp_path / "gecko", {"BTCUSDT": "BITCOINUSD"}, 400 * 24,
                    replay_market, "coingecko")
    source = ["--exchange", "coingecko", "--exchange-url", server.url, "--db", sqlite_url]
    crawled = cli("crawl", *source, "--market", "USD", "--only", "bitcoin-usd", "--interval",
                  "1d", "--since", "2021-04-01", "--no-progress")
    assert crawled.returncode == 0, crawled.stderr
    done = cli("train", *source, "-id", _new_id(crawled, "bitcoin-usd"), "-symbol",
               "bitcoin-usd", "--interval", "1d", "--target", "close", "--calibration-size",
               "0", "--backend", "torch", *SMALL, "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 0, done.stderr
    (row,) = _trained(sqlite_url)
    assert (row.model, row.target, row.backend, row.interval) == ("lstm", "close", "torch",
                                                                  "1d")


def test_bithumb_eth_krw_hourly_reference_lstm_on_torch(shared_data, sqlite_url, tmp_path,
                                                        cli, replay_market):
    server = _serve(shared_data, tmp_path / "bithumb", {"ETHUSDT": "ETHKRW"}, 700,
                    replay_market, "bithumb")
    done = cli("run", "--exchange", "bithumb", "--exchange-url", server.url, "--market", "KRW",
               "--only", "KRW-ETH", "--target", "close", "--calibration-size", "0",
               "--backend", "torch", "--since", "2021-04-01", "--db", sqlite_url, *SMALL,
               "--workers", "1", "--no-progress", "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = _trained(sqlite_url)
    assert (row.model, row.target, row.backend) == ("lstm", "close", "torch")


def test_poloniex_256_in_16_out_the_zoo_with_dropout(shared_data, sqlite_url, tmp_path, cli,
                                                    replay_market):
    # --window 32 for the recipe's 256: a 256-step recurrent network is what makes the
    # synthetic recipe test (test_exchange_recipes.py) the slowest test of the suite, and it
    # already runs the zoo at 256; this one proves the offline recipe's data path and flags.
    server = _serve(shared_data, tmp_path / "polo", {"BTCUSDT": "BTCUSDT"}, 400,
                    replay_market, "poloniex")
    source = ["--exchange", "poloniex", "--exchange-url", server.url, "--db", sqlite_url]
    crawled = cli("crawl", *source, "--market", "USDT", "--only", "BTC_USDT", "--since",
                  "2021-04-01", "--no-progress")
    assert crawled.returncode == 0, crawled.stderr
    out = tmp_path / "evaluate"
    compared = cli("evaluate", *source, "--market", "USDT", "--only", "BTC_USDT", "--models",
                   "naive,cnn,lstm,gru,lstm-leaky", "--window", "32", "--dropout", "0.2",
                   *SMALL, "--folds", "1", "--fold-size", "24", "--workers", "1",
                   "--out", str(out), "--artifacts", str(tmp_path / "art"))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["per_model"]) == {"naive", "cnn", "lstm", "gru", "lstm-leaky"}
    done = cli("train", *source, "-id", _new_id(crawled, "BTC_USDT"), "-symbol", "BTC_USDT",
               "--window", "32", "--horizon", "16", "--model", "lstm-leaky", "--dropout",
               "0.2", *SMALL, "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 0, done.stderr
    (row,) = _trained(sqlite_url)
    assert (row.model, row.horizon, row.interval) == ("lstm-leaky", 16, "1h")


def test_multi_coin_eth_from_btc_and_eth_windows(shared_data, sqlite_url, tmp_path, cli):
    files = tmp_path / "files"
    for symbol in ("ETHUSDT", "BTCUSDT"):
        write_sample(shared_data / f"{symbol}.csv", files, 600, tail=True)
    imported = cli("import", str(files / "ETHUSDT.csv"), str(files / "BTCUSDT.csv"), "--db",
                   sqlite_url, "--no-progress")
    assert imported.returncode == 0, imported.stderr
    listed = cli("pairs", "--db", sqlite_url, "--market", "USDT")
    ids = {line.split()[2]: line.split()[0] for line in listed.stdout.splitlines()[2:]}
    # The tutorial's 3-layer LSTM.
    done = cli("train", "-id", ids["ETHUSDT"], "-symbol", "ETHUSDT", "--with", "BTCUSDT",
               "--target", "window", "--window", "50", "--layers", "3", *SMALL, "--db",
               sqlite_url,
               "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 0, done.stderr
    (row,) = _trained(sqlite_url)
    assert (row.target, row.model) == ("window", "lstm")
    assert _settings(row)["layers"] == 3
    assert "BTCUSDT" in json.dumps(row.settings if isinstance(row.settings, dict)
                                   else json.loads(row.settings or "{}"))


def _settings(row) -> dict:
    return row.settings if isinstance(row.settings, dict) else json.loads(row.settings or "{}")
