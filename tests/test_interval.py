"""``--interval`` other than 1h: crawl, import, train, run and evaluate each keep to their
interval's candle table, and an unknown interval changes nothing.

Real parts only: the replay server over loopback HTTP with the real Binance client, SQLite and
MySQL, the real CLI in fresh processes, real Keras training (1 epoch). The candles are
SYNTHETIC (``coinlstm.app.demo.synthetic_klines``: random-walk prices of the made-up pair
SYNTH1ETH, one series of hourly candles and one of 5-minute candles), not market data. Both
series end at the same open time, so the same (idCoin, openTime) is stored twice, once per
table: the two series can only stay apart if every read and write picks its interval's table.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS, synthetic_klines
from coinlstm.core import config
from coinlstm.core.errors import BadInput
from crawl import vision
from crawl.binance import BinanceClient, RetryPolicy
from crawl.crawler import crawl_market
from crawl.replay import ReplayServer
from tests.conftest import REPO, fingerprint, run_cli
from tests.test_import import write_dump

SYMBOL = "SYNTH1ETH"
FIVE_MINUTES_MS = 300_000
HOURLY = synthetic_klines(200, seed=11)
FIVE_MINUTE = synthetic_klines(300, seed=12, interval_ms=FIVE_MINUTES_MS)
QUICK = RetryPolicy(attempts=6, first_backoff=0.05, max_backoff=0.2)


def _rows(lines: list[str]) -> list[tuple[str, ...]]:
    return [tuple(line.split(",")) for line in lines]


def _import(url: str, paths: list[Path], interval: str | None = None) -> vision.ImportSummary:
    engine = db.open_database(url)
    try:
        return vision.import_paths(engine, paths, interval=interval)
    finally:
        engine.dispose()


def _write_csv(folder: Path, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{SYMBOL}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _series(url: str, interval: str) -> list[tuple[str, ...]]:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            coin = db.coin_by_symbol(conn, SYMBOL)
            return [] if coin is None else db.candle_text_rows(conn, coin.id, interval=interval)
    finally:
        engine.dispose()


def _count_by_name(url: str, table: str) -> int:
    """Rows of a table named as a dashboard names it, not through the code's schema."""
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table)))
                       .scalar_one())
    finally:
        engine.dispose()


def test_each_interval_has_its_own_table():
    assert db.candles_table("1h") is db.candlestick_data
    assert db.candles_table("1h").name == "candlestick_data"
    for interval in ("5m", "15m", "4h", "1d"):
        table = db.candles_table(interval)
        assert table.name == f"candlestick_data_{interval}"
        assert [c.name for c in table.columns] == list(db.CANDLE_COLUMNS)
        assert [c.name for c in table.primary_key] == ["idCoin", "openTime"]
    with pytest.raises(BadInput, match="unknown interval '7m'"):
        db.candles_table("7m")
    assert "CREATE TABLE candlestick_data_5m (" in db.mysql_ddl()


def test_an_older_database_gains_the_interval_tables_and_columns(db_url):
    """A database from before intervals (no 5m table, no interval columns) is upgraded by the
    next open; its old rows count as 1h in a pair's track record, apart from 5m runs."""
    engine = db.open_database(db_url)
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        db.candles_table("5m").drop(conn)
        for table in ("historical_train", "historical_price_predictions"):
            conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {quote('interval')}"))
        # Rows as the older version wrote them: it knew no interval column.
        old_table = sa.table("historical_train", *map(sa.column, (
            "id_coin", "time_create", "price_test", "price_predict", "RMSE", "max_error",
            "openTime_last", "skill")))
        conn.execute(old_table.insert(), [
            {"id_coin": 1, "time_create": 1, "price_test": "[]", "price_predict": "[]",
             "RMSE": 0.5, "max_error": 0.5, "openTime_last": 0, "skill": skill}
            for skill in (0.1, 0.2)])
    engine.dispose()

    engine = db.open_database(db_url)
    try:
        assert "candlestick_data_5m" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            assert db.add_missing_columns(conn) == []
            for interval, skill in (("1h", 0.3), ("5m", 0.4)):
                conn.execute(db.historical_train.insert().values(
                    id_coin=1, time_create=2, price_test="[]", price_predict="[]", RMSE=0.5,
                    max_error=0.5, openTime_last=0, skill=skill, interval=interval))
            old = conn.execute(sa.select(db.historical_train.c.interval)
                               .where(db.historical_train.c.time_create == 1)).scalars().all()
            assert old == [None, None]
            assert db.recent_skills(conn, 1, interval="1h") == [0.3, 0.2, 0.1]
            assert db.recent_skills(conn, 1, interval="5m") == [0.4]
            assert db.recent_skills(conn, 1) == [0.4, 0.3, 0.2, 0.1]
    finally:
        engine.dispose()


def test_crawl_5m_beside_the_stored_hourly_series(db_url, tmp_path):
    """A 5m crawl of a pair whose hourly candles are stored: both series whole and apart."""
    _import(db_url, [_write_csv(tmp_path / "hourly", HOURLY)])
    served = _write_csv(tmp_path / "serve", FIVE_MINUTE)
    engine = db.open_database(db_url)
    try:
        with ReplayServer(served.parent, now=END_OPEN_MS + FIVE_MINUTES_MS + 60_000) as server:
            client = BinanceClient(server.url, retry=QUICK, timeout=5)
            first = crawl_market(engine, server.url, "ETH", interval="5m", progress=False,
                                 client=client)
            again = crawl_market(engine, server.url, "ETH", interval="5m", progress=False,
                                 client=client)
        with engine.connect() as conn:
            coin_id = db.coin_by_symbol(conn, SYMBOL).id
            newest = {interval: db.newest_open_time(conn, coin_id, interval=interval)
                      for interval in ("1h", "5m")}
            counts = {interval: db.candle_counts_by_coin(conn, interval=interval)
                      for interval in ("1h", "5m", "15m")}
    finally:
        engine.dispose()

    # Had the crawl resumed from the hourly series' newest candle, it would have added none.
    assert first.candles_added == {SYMBOL: len(FIVE_MINUTE)}
    assert again.candles_added == {SYMBOL: 0}
    assert _series(db_url, "5m") == _rows(FIVE_MINUTE)
    assert _series(db_url, "1h") == _rows(HOURLY)
    assert newest == {"1h": END_OPEN_MS, "5m": END_OPEN_MS}
    assert counts == {"1h": {coin_id: len(HOURLY)}, "5m": {coin_id: len(FIVE_MINUTE)},
                      "15m": {}}
    assert _count_by_name(db_url, "candlestick_data") == len(HOURLY)
    assert _count_by_name(db_url, "candlestick_data_5m") == len(FIVE_MINUTE)


def test_import_routes_each_dump_to_its_interval_table(db_url, tmp_path):
    """One import of a 5m and a 1h dump of the same pair (the interval read from each name),
    then the plain CSV with --interval 5m: each lands in its own table, once."""
    five = write_dump(tmp_path / "5m", f"{SYMBOL}-5m-2024-12", FIVE_MINUTE)
    hourly = write_dump(tmp_path / "1h", f"{SYMBOL}-1h-2024-12", HOURLY)

    done = run_cli("import", str(five), str(hourly), "--db", db_url, "--no-progress")

    assert done.returncode == 0, done.stderr
    assert (f"{len(HOURLY) + len(FIVE_MINUTE)} new ({SYMBOL} +{len(HOURLY)}, "
            f"{SYMBOL} 5m +{len(FIVE_MINUTE)})") in done.stdout
    assert _series(db_url, "5m") == _rows(FIVE_MINUTE)
    assert _series(db_url, "1h") == _rows(HOURLY)
    before = fingerprint(db_url)
    plain = _import(db_url, [_write_csv(tmp_path / "plain", FIVE_MINUTE)], interval="5m")
    assert (plain.candles_seen, plain.candles_added) == (len(FIVE_MINUTE), 0)
    assert fingerprint(db_url) == before


def test_train_5m_reads_its_table_and_respects_a_5m_gap(sqlite_url, tmp_path):
    """``coinlstm train --interval 5m``: the 5m series (one candle missing mid-way), not the
    hourly one, is trained on; the forecast is for 5 minutes after the newest candle."""
    series = synthetic_klines(400, seed=13, interval_ms=FIVE_MINUTES_MS)
    del series[200]  # a gap of one 5-minute candle
    _import(sqlite_url, [write_dump(tmp_path / "5m", f"{SYMBOL}-5m-2024-12", series),
                         _write_csv(tmp_path / "hourly", HOURLY)])
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        coin_id = db.coin_by_symbol(conn, SYMBOL).id
    engine.dispose()
    art = tmp_path / "art"
    result_path = tmp_path / "result.json"

    done = run_cli("train", "-id", str(coin_id), "-symbol", SYMBOL, "--interval", "5m",
                   "--epochs", "1", "--val-size", "16", "--backend", "jax", "--db", sqlite_url,
                   "--artifacts", str(art), "--result-json", str(result_path))

    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(result_path.read_text())
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
        prediction = conn.execute(sa.select(db.historical_price_predictions)).one()
    engine.dispose()
    assert result["openTime_last"] == train.openTime_last == END_OPEN_MS
    assert result["openTime_next"] == prediction.openTime_next == END_OPEN_MS + FIVE_MINUTES_MS
    # 399 candles give 397 samples of the return target (each needs the candle before its
    # window); the missing candle drops exactly the 2 that would span it. Stitching across
    # the gap would keep 397; hourly steps on 5m candles would keep none.
    assert train.n_train + train.n_val + train.n_test == 395
    assert json.loads(train.price_test) == pytest.approx(
        [float(line.split(",")[4]) for line in series[-train.n_test:]])
    assert (train.interval, prediction.interval) == ("5m", "5m")
    assert json.loads(train.settings)["interval"] == "5m"
    from predict.artifacts import read_attributes

    settings = config.load(db_url=sqlite_url, artifacts=art, env={"COINLSTM_HOME": str(REPO)})
    assert read_attributes(settings, SYMBOL)[2]["interval"] == "5m"


def test_run_5m_crawls_selects_and_trains_the_5m_series(sqlite_url, tmp_path):
    """``coinlstm run --interval 5m``: the job crawls 5m candles, picks pairs by their 5m
    count (the hourly series here is too short to be picked) and its pair processes train
    on 5m."""
    _import(sqlite_url, [_write_csv(tmp_path / "hourly", HOURLY[-100:])])
    series = synthetic_klines(400, seed=14, interval_ms=FIVE_MINUTES_MS)
    served = _write_csv(tmp_path / "serve", series)
    report = tmp_path / "report.json"

    with ReplayServer(served.parent, now=END_OPEN_MS + FIVE_MINUTES_MS + 60_000) as server:
        done = run_cli("run", "--market", "ETH", "--interval", "5m", "--epochs", "1",
                       "--val-size", "16", "--backend", "jax", "--workers", "1",
                       "--no-progress", "--report", str(report), "--db", sqlite_url,
                       "--binance-url", server.url, "--artifacts", str(tmp_path / "art"))

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(report.read_text())
    assert summary["interval"] == "5m"
    assert summary["crawl"]["candles_added"] == {SYMBOL: len(series)}
    [pair] = summary["pairs"]
    assert (pair["symbol"], pair["status"]) == (SYMBOL, "ok")
    assert pair["result"]["openTime_next"] == END_OPEN_MS + FIVE_MINUTES_MS
    assert _series(sqlite_url, "5m") == _rows(series)
    assert _series(sqlite_url, "1h") == _rows(HOURLY[-100:])
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
    engine.dispose()
    assert (train.interval, train.n_train + train.n_val + train.n_test) == ("5m", 398)


def test_evaluate_5m_folds_the_5m_series(sqlite_url, tmp_path):
    """``coinlstm evaluate --interval 5m`` (the naive model: no training) reads the 5m table
    and plans its folds with 5-minute steps, around the missing candle."""
    series = synthetic_klines(400, seed=15, interval_ms=FIVE_MINUTES_MS)
    del series[200]
    _import(sqlite_url, [write_dump(tmp_path / "5m", f"{SYMBOL}-5m-2024-12", series),
                         _write_csv(tmp_path / "hourly", HOURLY[-100:])])
    out = tmp_path / "out"

    done = run_cli("evaluate", "--market", "ETH", "--interval", "5m", "--models", "naive",
                   "--folds", "2", "--fold-size", "48", "--val-size", "16", "--out", str(out),
                   "--db", sqlite_url, "--artifacts", str(tmp_path / "art"))

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((out / "summary.json").read_text())["interval"] == "5m"
    with (out / "cases.csv").open() as handle:
        cases = {int(case["fold"]): case for case in csv.DictReader(handle)}
    newest = cases[1]
    assert int(newest["test_end_ms"]) == END_OPEN_MS
    assert int(cases[0]["test_end_ms"]) == END_OPEN_MS - 48 * FIVE_MINUTES_MS
    # 395 samples, as in the training test: the gap drops the 2 that would span it.
    assert sum(int(newest[key]) for key in ("n_train", "n_val", "n_test")) == 395


@pytest.mark.parametrize("command", [
    ["train", "-id", "1", "-symbol", SYMBOL],
    ["run", "--market", "ETH", "--skip-crawl"],
    ["evaluate", "--market", "ETH"],
    ["crawl", "--market", "ETH"],
    ["import", "IMPORT_FILE"],
], ids=lambda command: command[0])
def test_an_unknown_interval_is_one_line_exit_2_and_changes_nothing(command, sqlite_url,
                                                                    tmp_path):
    hourly = _write_csv(tmp_path / "hourly", HOURLY)
    _import(sqlite_url, [hourly])
    before = fingerprint(sqlite_url)
    art = tmp_path / "art"
    argv = [str(hourly) if part == "IMPORT_FILE" else part for part in command]

    # Nothing answers on port 1: a command that reached the exchange would exit 1, not 2.
    done = run_cli(*argv, "--interval", "7m", "--db", sqlite_url, "--artifacts", str(art),
                   "--binance-url", "http://127.0.0.1:1")

    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown interval '7m'" in lines[0], done.stderr
    assert fingerprint(sqlite_url) == before
    assert not art.exists()
