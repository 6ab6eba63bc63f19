"""Several quote markets in one job (``--market ETH,BTC,USDT`` and ``--market ALL``): one
lock, one fork server, one crawl of every pair, each market's forecasts stored and its
summary printed under it; and the bad market lists that stop everything with one line."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from coinlstm import db
from tests.helpers import run_cli

HOUR_MS = 3_600_000
#: 2023-06-30 23:00 UTC: the last candle of every shared pair; the clock a minute after it
#: closed, so it is the newest closed candle.
END_OPEN_MS = 1_688_166_000_000
NOW_MS = END_OPEN_MS + HOUR_MS + 60_000
MARKETS = {"BTC": ["ETHBTC"], "ETH": ["ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH",
                                      "LTCETH", "NEOETH", "TRXETH", "XRPETH"],
           "USDT": ["BTCUSDT", "ETHUSDT"]}
FAST = ["--epochs", "1", "--val-size", "96", "--test-size", "24", "--workers", "2",
        "--no-progress"]


@pytest.fixture
def small_market(shared_data, tmp_path, replay_market):
    """A replay server of three shared pairs, one per market (quick to load)."""
    folder = tmp_path / "serve"
    folder.mkdir()
    for symbol in ("ADAETH", "ETHBTC", "BTCUSDT"):
        (folder / f"{symbol}.csv").symlink_to(shared_data / f"{symbol}.csv")

    def start(**options):
        return replay_market(folder, now=NOW_MS, **options)

    return start


@pytest.mark.slow
def test_all_markets_in_one_job(shared_data, tmp_path, replay_market):
    """``run --market ALL`` on the twelve shared pairs (ETH, BTC and USDT markets): one job
    with one lock and one fork server, one crawl of all twelve, every market's forecasts in,
    the summary grouped by market."""
    server = replay_market(shared_data, now=NOW_MS)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    report_path = tmp_path / "report.json"
    done = run_cli("run", "--market", "ALL", "--since", "2023-06-02", "--db", url,
                   "--binance-url", server.url, "--artifacts", str(tmp_path / "art"),
                   "--report", str(report_path), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["market"] == "ALL" and report["totals"]["ok"] == 12
    assert report["crawl"]["market"] == "BTC,ETH,USDT"
    assert sorted(report["crawl"]["pairs"]) == sorted(sum(MARKETS.values(), []))
    # One crawl: one exchangeInfo for the twelve pairs.
    assert sum(1 for r in server.request_log if "exchangeInfo" in r.path) == 1
    assert {name: sorted(p["symbol"] for p in report["pairs"] if p["market"] == name)
            for name in MARKETS} == {name: sorted(s) for name, s in MARKETS.items()}
    assert list(report["markets"]) == ["BTC", "ETH", "USDT"]
    for name, symbols in MARKETS.items():
        group = report["markets"][name]
        assert group["totals"] == {"ok": len(symbols), "failed": 0, "pairs": len(symbols)}
        assert group["edges"]["pairs"] == len(symbols)
        assert f"market {name}: pairs ok {len(symbols)}, failed 0" in done.stdout
        assert f"{group['edges']['edge']} of {len(symbols)} pairs show an edge at FDR 10 %" \
            in done.stdout
    # One fork server for all markets; one lock, the exchange's, and one job_runs row keyed ALL.
    assert done.stdout.count("fork server ready in") == 1
    assert "fork server closed: 12 tasks forked" in done.stdout
    locks = {p.name for p in tmp_path.glob("db.sqlite.*.lock")} - {"db.sqlite.schema.lock"}
    assert locks == {"db.sqlite.binance.lock"}
    engine = db.open_database(url)
    with engine.connect() as conn:
        runs = conn.execute(sa.select(db.job_runs)).all()
        assert [(r.market, r.status, r.pairs_ok) for r in runs] == [("ALL", "ok", 12)]
        forecasts = conn.execute(sa.select(db.historical_price_predictions)).all()
        coins = {int(c.id): c for c in conn.execute(sa.select(db.coin_info))}
    engine.dispose()
    assert all(f.run_id == report["run_id"] for f in forecasts)
    by_market = {}
    for forecast in forecasts:
        coin = coins[int(forecast.id_coin)]
        by_market.setdefault(coin.quoteAsset, []).append(coin.symbol)
        assert forecast.openTime_next == END_OPEN_MS + HOUR_MS
    assert {name: sorted(s) for name, s in by_market.items()} == {
        name: sorted(s) for name, s in MARKETS.items()}


def _nothing_stored(url: str) -> bool:
    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            counts = db.table_fingerprint(conn)
    finally:
        engine.dispose()
    return counts["coin_info"] == counts["candlestick_data"] == 0 and \
        counts["historical_price_predictions"] == 0


def _one_line_error(done) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_bad_market_lists_stop_before_anything_is_crawled(small_market, tmp_path):
    server = small_market(statuses={"ETHBTC": "BREAK"})
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # Fresh processes: no fork server to start for jobs that stop at their crawl.
    common = ["--db", url, "--binance-url", server.url, "--artifacts", str(tmp_path / "art"),
              "--fresh-processes", *FAST]
    # ALL already holds ETH: refused before the database or the exchange is touched.
    line = _one_line_error(run_cli("run", "--market", "ALL,ETH", *common))
    assert "ALL already holds every market" in line
    assert not (tmp_path / "db.sqlite").exists() and server.request_log == []
    line = _one_line_error(run_cli("run", "--market", "ETH,eth", *common))
    assert "ETH named twice" in line
    # An unknown market in a list: the line names it; nothing crawled.
    line = _one_line_error(run_cli("run", "--market", "ETH,XYZ,USDT", *common))
    assert "'XYZ'" in line and "ETH" not in line.replace("'XYZ'", "")
    # A market whose pairs are all off trading (ETHBTC on BREAK): nothing crawled either.
    line = _one_line_error(run_cli("run", "--market", "ETH,BTC", *common))
    assert "market BTC has no TRADING pair" in line
    assert not any("klines" in r.path for r in server.request_log)
    assert _nothing_stored(url)
    # The same rule for crawl and score.
    line = _one_line_error(run_cli("crawl", "--market", "USDT,XYZ", "--db", url,
                                   "--binance-url", server.url, "--no-progress"))
    assert "'XYZ'" in line
    assert _one_line_error(run_cli("score", "--market", "ALL,BTC", "--db", url))
    assert "ALL already holds" in _one_line_error(run_cli(
        "evaluate", "--market", "BTC,ALL", "--db", url, "--models", "naive"))
    assert not any("klines" in r.path for r in server.request_log)
    assert _nothing_stored(url)


def test_crawl_and_score_several_markets(small_market, tmp_path):
    """``crawl --market ETH,USDT`` crawls exactly those markets' pairs in one crawl;
    ``score --market ETH,USDT`` scores each (nothing to score yet, one line per market);
    ``evaluate --market ALL`` evaluates every market the database holds."""
    server = small_market()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = run_cli("crawl", "--market", "ETH,USDT", "--since", "2023-06-26", "--db", url,
                   "--binance-url", server.url, "--no-progress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "crawled market ETH,USDT: 2 pairs" in done.stdout
    engine = db.open_database(url)
    with engine.connect() as conn:
        stored = {c.symbol: db.count_candles(conn, c.id)
                  for c in conn.execute(sa.select(db.coin_info))}
    engine.dispose()
    assert stored == {"ADAETH": 120, "BTCUSDT": 120}  # 5 days of hours
    done = run_cli("score", "--market", "ETH,USDT", "--db", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "ETH: scored 0 new 1h forecasts against their closes; 0 track records updated",
        "USDT: scored 0 new 1h forecasts against their closes; 0 track records updated"]
    # evaluate reads the same rule from the database (the naive model: no training).
    done = run_cli("evaluate", "--market", "ALL", "--models", "naive", "--folds", "1",
                   "--fold-size", "12", "--db", url, "--out", str(tmp_path / "eval"),
                   "--workers", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "evaluate ALL (1h candles): 2 pairs x naive" in done.stdout
    cases = (tmp_path / "eval" / "cases.csv").read_text()
    assert "ADAETH" in cases and "BTCUSDT" in cases
