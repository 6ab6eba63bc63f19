"""Every kline is checked at the door: real candles pass, altered ones never land.

The crawl goes through the real python-binance client and real HTTP on 127.0.0.1 to a
proxy (tests/tamper_proxy.py) that alters klines on their way from the replay server, which
serves the synthetic candle set (tests/synthetic.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core import klines
from crawl.binance import BinanceClient
from crawl.crawler import crawl_market
from crawl.klinefiles import describe_file, read_klines
from crawl.replay import ReplayServer
from crawl.retry import RetryPolicy
from tests.helpers import read_csv_rows, run_cli, run_job, write_sample
from tests.tamper_proxy import ALTERATIONS, Tamper, TamperProxy

HOUR_MS = 3_600_000
QUICK = RetryPolicy(attempts=4, first_backoff=0.05, max_backoff=0.1)
#: The pair whose replies are altered, and a sound one.
BAD, SOUND = "SYNTH1ETH", "SYNTH2ETH"
PAIRS = (BAD, SOUND)
ROWS = 1500
#: The altered candle: on BAD's second page (the crawl asks 1000 candles a page).
TARGET_ROW = 1200
#: What the crawl's reason must name for each alteration: the rule it breaks.
RULES = {
    "non-numeric price": klines.RULE_DECIMALS,
    "NaN price": klines.RULE_DECIMALS,
    "infinite price": klines.RULE_DECIMALS,
    "negative price": klines.RULE_PRICES,
    "zero price": klines.RULE_PRICES,
    "short row": klines.RULE_FIELDS,
    "low above high": klines.RULE_LOW,
    "close outside [low, high]": klines.RULE_HIGH,
    "negative volume": klines.RULE_VOLUMES,
    "rows out of order": klines.RULE_ORDER,
    "duplicated row": klines.RULE_ORDER,
    "reply not a list": klines.RULE_PAGE,
}


def _serve(candles: Path, folder: Path, rows: int = ROWS) -> tuple[Path, int]:
    """A replay folder of PAIRS and a server time after its last candle closed."""
    for symbol in PAIRS:
        write_sample(candles / f"{symbol}.csv", folder, rows)
    last = int(read_csv_rows(folder / f"{BAD}.csv")[-1][0])
    return folder, last + HOUR_MS + 60_000


def _target(folder: Path) -> int:
    return int(read_csv_rows(folder / f"{BAD}.csv")[TARGET_ROW][0])


def _stored(engine, symbol: str) -> list[list[str]]:
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbol)
        return [] if coin is None else [list(row) for row in db.candle_text_rows(conn, coin.id)]


def _crawl(engine, url: str):
    client = BinanceClient(url, retry=QUICK, timeout=5)
    return crawl_market(engine, url, "ETH", progress=False, client=client)


# --------------------------------------------------------------------------- real candles


def test_every_real_shared_candle_keeps_the_rules(shared_data):
    """Binance's real candles, maintenance ones included: where one broke a rule, the rule
    would be wrong."""
    files = sorted(shared_data.glob("*.csv"))
    assert len(files) >= 12
    irregular = 0
    for path in files:
        text = read_klines(describe_file(path, "1h"))
        assert len(text.klines) == len(path.read_text().splitlines()) == 19_692, path
        irregular += sum(kline[6] != kline[0] + HOUR_MS - 1 for kline in text.klines)
    assert irregular == 4 * len(files)  # the README's four irregular close times per pair


# --------------------------------------------------------------------------- the proxy


@pytest.mark.parametrize("alteration", ALTERATIONS)
def test_an_altered_kline_never_lands_and_a_rerun_repairs_nothing_needed(
        alteration, synthetic_candles, db_url, tmp_path):
    folder, now = _serve(synthetic_candles, tmp_path / "serve")
    source = {symbol: read_csv_rows(folder / f"{symbol}.csv") for symbol in PAIRS}
    target = _target(folder)
    engine = db.open_database(db_url)
    with ReplayServer(folder, now=now) as server:
        with TamperProxy(server.url, Tamper(BAD, target, alteration)) as proxy:
            summary = _crawl(engine, proxy.url)
            assert proxy.altered == QUICK.attempts  # every attempt got the bad page
        # The bad page is not stored: BAD keeps its first page, a prefix without hole; the
        # other pair is complete.
        assert _stored(engine, BAD) == source[BAD][:1000]
        assert _stored(engine, SOUND) == source[SOUND]
        assert summary.candles_added == {BAD: 1000, SOUND: ROWS}
        assert list(summary.failed) == [BAD]
        reason = summary.failed[BAD]
        assert f"(rule: {RULES[alteration]})" in reason, reason
        if alteration != "reply not a list":
            assert klines.ms_to_utc(target) in reason, reason  # the candle is named
        assert f"1 failed ({BAD})" in summary.line()

        rerun = _crawl(engine, server.url)
    assert rerun.failed == {} and rerun.candles_added == {BAD: ROWS - 1000, SOUND: 0}
    for symbol in PAIRS:
        assert _stored(engine, symbol) == source[symbol]
    engine.dispose()


def test_a_page_bad_once_is_retried_and_everything_lands(synthetic_candles, sqlite_url,
                                                         tmp_path):
    folder, now = _serve(synthetic_candles, tmp_path / "serve")
    engine = db.open_database(sqlite_url)
    with ReplayServer(folder, now=now) as server:
        tamper = Tamper(BAD, _target(folder), "negative price", times=1)
        with TamperProxy(server.url, tamper) as proxy:
            summary = _crawl(engine, proxy.url)
            assert proxy.altered == 1
    assert summary.failed == {} and summary.retries == 1
    for symbol in PAIRS:
        assert _stored(engine, symbol) == read_csv_rows(folder / f"{symbol}.csv")
    engine.dispose()


def test_crawl_command_names_pair_candle_and_rule_and_exits_1(synthetic_candles, sqlite_url,
                                                              tmp_path):
    folder, now = _serve(synthetic_candles, tmp_path / "serve")
    target = _target(folder)
    with ReplayServer(folder, now=now) as server:
        with TamperProxy(server.url, Tamper(BAD, target, "negative price")) as proxy:
            done = run_cli("crawl", "--market", "ETH", "--db", sqlite_url, "--binance-url",
                           proxy.url, "--attempts", "2", "--no-progress")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"coinlstm crawl: error: {BAD} skipped: ")
    assert f"candle {klines.ms_to_utc(target)} UTC: close -0.00010000 is not positive " \
           f"(rule: {klines.RULE_PRICES})" in lines[0]
    assert f"crawled market ETH: 2 pairs, 1 failed ({BAD})" in done.stdout


@pytest.mark.slow
def test_the_job_does_not_train_a_pair_whose_crawl_failed(synthetic_candles, sqlite_url,
                                                          tmp_path):
    """run --market eth (lower case: the one market rule) through the proxy: SOUND is
    trained, BAD's crawl failed and it is reported as failed with the reason."""
    folder = tmp_path / "serve"
    for symbol in PAIRS:
        write_sample(synthetic_candles / f"{symbol}.csv", folder, 700, tail=True)
    last = int(read_csv_rows(folder / f"{BAD}.csv")[-1][0])
    target = int(read_csv_rows(folder / f"{BAD}.csv")[500][0])
    report_path = tmp_path / "report.json"
    with ReplayServer(folder, now=last + HOUR_MS + 60_000) as server:
        with TamperProxy(server.url, Tamper(BAD, target, "low above high")) as proxy:
            done = run_job(
                "--market", "eth", "--db", sqlite_url, "--binance-url", proxy.url,
                "--artifacts", str(tmp_path / "art"), "--workers", "1", "--report",
                str(report_path), "--epochs", "2", "--val-size", "96", "--test-size", "24",
                "--no-progress")
    assert done.returncode == 3, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["market"] == "ETH"
    by_symbol = {pair["symbol"]: pair for pair in report["pairs"]}
    assert by_symbol[SOUND]["status"] == "ok"
    assert by_symbol[BAD]["status"] == "failed"
    reason = by_symbol[BAD]["reason"]
    assert reason.startswith("crawl failed, not trained: ")
    assert klines.ms_to_utc(target) in reason and f"(rule: {klines.RULE_LOW})" in reason
    assert f"{BAD} failed: {reason}" in done.stdout
    assert report["crawl"]["failed"] == {BAD: reason.split(": ", 1)[1]}
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        trained = conn.execute(sa.select(db.historical_train.c.id_coin)).scalars().all()
        assert trained == [db.coin_by_symbol(conn, SOUND).id]
        # its crawl failed before a candle was stored: the pair it registered is gone again
        assert db.coin_by_symbol(conn, BAD) is None
        run = conn.execute(sa.select(db.job_runs)).one()
        assert (run.status, run.pairs_ok, run.pairs_failed) == ("partial", 1, 1)
    engine.dispose()


# --------------------------------------------------------------------------- one market rule


@pytest.mark.slow
def test_crawl_run_and_evaluate_take_a_lower_case_market(synthetic_candles, sqlite_url,
                                                         tmp_path):
    folder, now = _serve(synthetic_candles, tmp_path / "serve", rows=300)
    with ReplayServer(folder, now=now) as server:
        crawled = run_cli("crawl", "--market", "eth", "--db", sqlite_url, "--binance-url",
                          server.url, "--no-progress")
    assert crawled.returncode == 0, crawled.stderr
    assert "crawled market ETH: 2 pairs, 600 candles added" in crawled.stdout

    out = tmp_path / "out"
    evaluated = run_cli("evaluate", "--market", "eth", "--models", "naive", "--folds", "2",
                        "--fold-size", "24", "--val-size", "24", "--out", str(out),
                        "--db", sqlite_url, "--artifacts", str(tmp_path / "art"))
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert json.loads((out / "summary.json").read_text())["market"] == "ETH"

    # (run --market eth trains in test_the_job_does_not_train_a_pair_whose_crawl_failed;
    # here it stops at the pair selection, which looks up market ETH.)
    ran = run_cli("run", "--market", "eth", "--skip-crawl", "--only", "SYNTH6ETH", "--db",
                  sqlite_url, "--artifacts", str(tmp_path / "art"), "--no-progress")
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "not pairs of market ETH in the database: SYNTH6ETH" in ran.stderr


@pytest.mark.parametrize("command", [["crawl"], ["run", "--skip-crawl"], ["evaluate"]],
                         ids=lambda command: command[0])
def test_a_market_that_is_no_quote_asset_is_refused_alike(command, sqlite_url, tmp_path):
    done = run_cli(*command, "--market", "ET/H", "--db", sqlite_url, "--binance-url",
                   "http://127.0.0.1:1", "--artifacts", str(tmp_path / "art"))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid market 'ET/H'" in lines[0], done.stderr
