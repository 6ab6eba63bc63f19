"""The CLI's error paths: every failure is one line on stderr, its documented exit code
(docs/cli.md), and nothing written (no row, no file, no server started)."""

from __future__ import annotations

import pytest

from tests.helpers import after_last, fingerprint, write_market

pytestmark = pytest.mark.slow

PAIRS = ("SYNTH1ETH", "SYNTH3ETH")


def _one_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    return lines[0]


@pytest.fixture
def market(synthetic_candles, sqlite_url, tmp_path, cli):
    """Two pairs of 400 hourly candles imported into a SQLite database."""
    folder = write_market(synthetic_candles, tmp_path / "files", PAIRS, 400, tail=True)
    done = cli("import", str(folder), "--db", sqlite_url, "--no-progress")
    assert done.returncode == 0, done.stderr
    return folder


def test_run_refuses_before_starting_anything(market, sqlite_url, tmp_path, cli,
                                              replay_market):
    before = fingerprint(sqlite_url)
    server = replay_market(market, now=after_last(market))
    common = ["run", "--db", sqlite_url, "--no-progress", "--artifacts", str(tmp_path / "a")]
    for flags, words in (
            (["--market", "XYZ", "--skip-crawl"], "the database has no pair of market XYZ"),
            (["--market", "XYZ", "--exchange-url", server.url],
             "market 'XYZ'"),
            # too short for every pair: the same exit and kind of line with --only or without
            (["--skip-crawl", "--window", "5000"], "no pair of market ETH has enough candles"),
            (["--skip-crawl", "--window", "5000", "--only", "SYNTH1ETH"],
             "no pair of market ETH has enough 1h candles: these training settings need at "
             "least 5121, the most is 400 (SYNTH1ETH)")):
        done = cli(*common, *flags)
        assert done.returncode == 2, done.stdout + done.stderr
        assert words in _one_line(done)
        assert done.stdout == ""  # no fork server, no table, no legend
        assert fingerprint(sqlite_url) == before  # no job_runs row


def test_evaluate_refuses_or_reports_in_one_line(market, sqlite_url, tmp_path, cli):
    before = fingerprint(sqlite_url)
    out = tmp_path / "out"
    common = ["evaluate", "--db", sqlite_url, "--market", "ETH", "--folds", "1",
              "--fold-size", "24", "--epochs", "1", "--val-size", "48", "--workers", "1",
              "--out", str(out)]
    done = cli(*common, "--window", "100000")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "need at least 100096, the most is 400" in _one_line(done)
    assert done.stdout == "" and not out.exists()

    # every task fails on its own (killed at its timeout): exit 3, one line, no tables
    done = cli(*common, "--models", "default", "--only", "SYNTH1ETH", "--timeout", "0.05")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "all 1 tasks failed" in _one_line(done)
    assert "SYNTH1ETH default repeat 0: " in done.stdout and "after 0.05 s" in done.stdout
    assert "median skill" not in done.stdout
    assert not any((out / name).exists() for name in ("cases.csv", "summary.json",
                                                      "skill.png", "coverage.png"))
    assert fingerprint(sqlite_url) == before


def test_train_and_evaluate_check_the_interval_as_crawl_does(market, sqlite_url, cli):
    before = fingerprint(sqlite_url)
    expected = {}
    for command, flags in (("crawl", ["--market", "USDT"]), ("run", ["--market", "USDT"]),
                           ("train", ["-id", "1", "-symbol", "BTC_USDT"]),
                           ("evaluate", ["--market", "USDT"])):
        for interval in ("3m", "8h"):
            done = cli(command, "--db", sqlite_url, "--exchange", "poloniex",
                       "--exchange-url", "http://127.0.0.1:9", "--interval", interval, *flags)
            assert done.returncode == 2, done.stdout + done.stderr
            words = _one_line(done).split(": error: ", 1)[1]
            assert words == expected.setdefault(interval, words)
            assert words.startswith(f"poloniex has no '{interval}' candles; choose one of")
    assert fingerprint(sqlite_url) == before


def test_failed_crawl_adds_no_pair_and_crawl_prints_new_ids(market, sqlite_url, tmp_path,
                                                            cli, replay_market):
    folder = tmp_path / "usdt"
    folder.mkdir()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        (folder / f"{symbol}.csv").write_text((market / "SYNTH1ETH.csv").read_text())
    server = replay_market(folder, now=after_last(folder), exchange="poloniex")
    source = ["--exchange", "poloniex", "--exchange-url", server.url, "--db", sqlite_url,
              "--market", "USDT", "--only", "BTC_USDT", "--no-progress"]
    before = fingerprint(sqlite_url)
    failed = cli("crawl", *source, "--interval", "5m")  # the files hold hourly candles
    assert failed.returncode == 1, failed.stdout + failed.stderr
    _one_line(failed)
    assert fingerprint(sqlite_url) == before

    done = cli("crawl", *source, "--interval", "1h")
    assert done.returncode == 0, done.stderr
    [new] = [line for line in done.stdout.splitlines() if line.startswith("new pairs")]
    ids = dict(reversed(pair.split()) for pair in new.split(": ", 1)[1].split(", "))
    assert set(ids) == {"BTC_USDT", "ETH_USDT"}  # ids are never reused: 3 and 4 are gone
    listed = cli("pairs", "--db", sqlite_url, "--exchange", "poloniex")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert rows[0][:6] == [ids["BTC_USDT"], "poloniex", "BTC_USDT", "USDT", "TRADING", "400"]
    assert rows[1][:6] == [ids["ETH_USDT"], "poloniex", "ETH_USDT", "USDT", "TRADING", "0"]
    every = cli("pairs", "--db", sqlite_url, "--market", "ETH")
    assert [line.split()[:3] for line in every.stdout.splitlines()[2:]] == [
        ["1", "binance", "SYNTH1ETH"], ["2", "binance", "SYNTH3ETH"]]
