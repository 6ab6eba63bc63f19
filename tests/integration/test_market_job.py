"""The hourly market job end to end: replay server -> crawl -> a process per pair -> rows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.demo import END_OPEN_MS, synthetic_klines
from tests.helpers import (
    REPO,
    after_last,
    alive,
    as_tuples,
    children_of,
    import_into,
    parent_of,
    run_job,
    text_rows,
    wait_for,
    write_csv,
    write_market,
    write_sample,
)
from tests.synthetic import FIVE_MINUTES_MS, HOURLY, INTERVAL_SYMBOL

#: Small but real: the newest candles of three synthetic pairs, 2 epochs, a small validation
#: slice.
FAST = ["--epochs", "2", "--val-size", "96", "--test-size", "24", "--no-progress"]


def _market(candles, folder, pairs, rows=700):
    """The newest ``rows`` candles of ``pairs`` to serve; the clock just after the last."""
    return after_last(write_market(candles, folder, pairs, rows, tail=True))


def _job(*args, env=None, timeout=600):
    return run_job(*args, env=env, timeout=timeout)


@pytest.mark.slow
def test_job_trains_every_pair_and_report_matches_database(synthetic_candles, db_url, tmp_path,
                                                           replay_market):
    pairs = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH")
    now = _market(synthetic_candles, tmp_path / "serve", pairs)
    report_path = tmp_path / "report.json"
    server = replay_market(tmp_path / "serve", now=now)
    done = _job("--market", "ETH", "--db", db_url, "--binance-url", server.url,
                "--artifacts", str(tmp_path / "art"), "--workers", "2",
                "--report", str(report_path), *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["totals"] == {"ok": 3, "failed": 0, "pairs": 3}
    assert "naive RMSE" in done.stdout and "pairs ok 3, failed 0" in done.stdout
    # Each pair was forked from the fork server, which imported Keras once for all three and
    # grew from the job's seed (coinlstm/app/runtime/executors/seed.py).
    assert re.search(r"^fork server ready in .*, forked from this process\): ", done.stdout,
                     re.MULTILINE), done.stdout
    assert "fork server closed: 3 tasks forked" in done.stdout
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        for pair in report["pairs"]:
            coin = db.coin_by_symbol(conn, pair["symbol"])
            assert db.count_candles(conn, coin.id) == 700
            trains = conn.execute(sa.select(db.historical_train).where(
                db.historical_train.c.id_coin == coin.id)).all()
            predictions = conn.execute(sa.select(db.historical_price_predictions).where(
                db.historical_price_predictions.c.id_coin == coin.id)).all()
            assert len(trains) == 1 and len(predictions) == 1
            assert trains[0].run_id == predictions[0].run_id == report["run_id"]
            result = pair["result"]
            assert predictions[0].price_preidct_last == pytest.approx(result["predicted_close"])
            assert trains[0].RMSE == pytest.approx(result["rmse"])
            assert trains[0].naive_RMSE == pytest.approx(result["naive_rmse"])
            assert (tmp_path / "art" / "plots" / f"{pair['symbol']}.png").is_file()
            # The forward track record: nothing is scored before the first run's forecasts'
            # candles come, so no evidence, and the forecast row's edge flag says so; the
            # shrinkage's own a > 0 test stays in historical_train and the result.
            assert (result["verdict"], result["edge"]) == ("no evidence", False)
            assert result["forward_scored"] is None and result["forward_skill"] is None
            assert predictions[0].edge is False or predictions[0].edge == 0
            assert trains[0].edge == result["a_positive"]
            assert trains[0].shrinkage == result["shrinkage"] and trains[0].target == "return"
        run = conn.execute(sa.select(db.job_runs)).one()
        assert (run.status, run.pairs_ok, run.pairs_failed) == ("ok", 3, 0)
    ranks = [(p["result"]["verdict"] != "edge", -p["result"]["change_pct"])
             for p in report["pairs"]]
    assert ranks == sorted(ranks)
    assert "test skill" in done.stdout and "verdict" in done.stdout
    assert "scored 0 new 1h forecasts" in done.stdout
    engine.dispose()


@pytest.mark.slow
def test_failed_and_timed_out_pairs_do_not_stop_the_others(synthetic_candles, sqlite_url,
                                                           tmp_path, replay_market):
    """A too short pair, a stalled one (killed at --timeout) and one whose process dies
    (SIGKILL) each cost only that pair, in one line, and the next pairs still run.

    The stalled pair waits out the whole --timeout (idle), so the test takes at least that
    long; the two good pairs must finish well within it even on a loaded machine (4
    pytest-xdist workers on 2 cores). Most of a good pair's time on a fresh home is compiling
    the network's train/test/predict steps (train/steps); a first job of one good
    pair, without a timeout, compiles and stores them, so that in the job under test the good
    pairs load them and train in seconds (3 s on an idle machine, against 6-11 s compiling),
    and a 40 s timeout keeps a margin of 10x and more (it was 120 s with cold pairs)."""
    now = _market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH", "SYNTH2ETH",
                                                          "SYNTH3ETH", "SYNTH4ETH"))
    # too short:
    write_sample(synthetic_candles / "SYNTH5ETH.csv", tmp_path / "serve", 60, tail=True)
    report_path = tmp_path / "report.json"
    server = replay_market(tmp_path / "serve", now=now)
    warm_up = _job("--market", "ETH", "--db", f"sqlite:///{tmp_path / 'warm-up.sqlite'}",
                   "--binance-url", server.url, "--artifacts", str(tmp_path / "warm-up"),
                   "--only", "SYNTH1ETH", *FAST)
    assert warm_up.returncode == 0, warm_up.stdout + warm_up.stderr
    done = _job("--market", "ETH", "--db", sqlite_url, "--binance-url", server.url,
                "--artifacts", str(tmp_path / "art"), "--workers", "2", "--timeout", "40",
                "--only", "SYNTH1ETH,SYNTH2ETH,SYNTH3ETH,SYNTH4ETH,SYNTH5ETH",
                "--report", str(report_path), *FAST,
                env={"COINLSTM_TEST_STALL": "SYNTH3ETH", "COINLSTM_TEST_CRASH": "SYNTH2ETH"})
    assert done.returncode == 3, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    by_symbol = {p["symbol"]: p for p in report["pairs"]}
    assert by_symbol["SYNTH1ETH"]["status"] == by_symbol["SYNTH4ETH"]["status"] == "ok"
    print("good pairs, s of the 40 s timeout:",
          [by_symbol[s]["seconds"] for s in ("SYNTH1ETH", "SYNTH4ETH")])
    assert by_symbol["SYNTH2ETH"]["status"] == "failed"
    assert by_symbol["SYNTH2ETH"]["reason"] == (
        "killed by signal SIGKILL: coinlstm-test: crashing SYNTH2ETH")
    assert by_symbol["SYNTH3ETH"]["status"] == "timeout"
    assert "timed out after 40 s" in by_symbol["SYNTH3ETH"]["reason"]
    assert by_symbol["SYNTH5ETH"]["status"] == "failed"
    assert "candles" in by_symbol["SYNTH5ETH"]["reason"]
    assert report["totals"] == {"ok": 2, "failed": 3, "pairs": 5}
    assert "fork server closed: 5 tasks forked" in done.stdout
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        assert db.table_fingerprint(conn)["historical_train"] == 2
    engine.dispose()


@pytest.mark.slow
def test_a_forked_pair_trains_as_a_fresh_process_does(synthetic_candles, tmp_path,
                                                      replay_market):
    """Same seed, same candles: the pair forked from the fork server and the pair in a fresh
    interpreter (--fresh-processes) forecast the very same figures."""
    now = _market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",))
    server = replay_market(tmp_path / "serve", now=now)
    results = {}
    for how in ("forked", "fresh"):
        report_path = tmp_path / f"{how}.json"
        done = _job("--market", "ETH", "--db", f"sqlite:///{tmp_path / how}.sqlite",
                    "--binance-url", server.url, "--artifacts", str(tmp_path / how),
                    "--report", str(report_path), *FAST,
                    *(["--fresh-processes"] if how == "fresh" else []))
        assert done.returncode == 0, done.stdout + done.stderr
        assert ("fork server closed: 1 tasks forked" in done.stdout) is (how == "forked")
        [pair] = json.loads(report_path.read_text())["pairs"]
        results[how] = pair["result"]
    for key in ("predicted_close", "rmse", "naive_rmse", "skill", "shrinkage", "epochs_run",
                "lower_80", "upper_95"):
        assert results["forked"][key] == results["fresh"][key], key


@pytest.mark.slow
def test_sigterm_of_the_job_stops_its_forked_pairs_and_the_fork_server(
        synthetic_candles, sqlite_url, tmp_path, replay_market):
    now = _market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",))
    server = replay_market(tmp_path / "serve", now=now)
    job = subprocess.Popen(
        [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--db", sqlite_url,
         "--binance-url", server.url, "--artifacts", str(tmp_path / "art"), *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, COINLSTM_TEST_STALL="SYNTH1ETH",
                 COINLSTM_HOME=str(tmp_path / "home")))
    try:
        for line in job.stdout:  # the job's own lines, up to the fork server's
            if line.startswith("fork server ready"):
                break
        else:
            raise AssertionError(f"no fork server: {job.communicate()}")
        fork_server = int(line.split("(pid ")[1].split(",")[0])
        # A job started as cron starts it: its server grew from its seed, a child of its own.
        assert "forked from this process" in line and parent_of(fork_server) == job.pid
        wait_for(lambda: any("coinlstm-test: stalling SYNTH1ETH" in log.read_text()
                             for log in (tmp_path / "home").glob("logs/*/SYNTH1ETH.log")),
                 what="the stalled pair")
        [pair] = children_of(fork_server)
        os.kill(job.pid, signal.SIGTERM)
        out, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode == 128 + signal.SIGTERM, out + err
    assert err.strip().splitlines()[-1] == "coinlstm run: error: stopped by signal SIGTERM"
    assert "SYNTH1ETH" in out and "fork server closed: 1 tasks forked" in out
    wait_for(lambda: not alive(pair) and not alive(fork_server), what="the pair's end")


@pytest.mark.slow
def test_two_jobs_never_overlap_and_sigkill_frees_the_lock(synthetic_candles, db_url, tmp_path,
                                                           replay_market):
    now = _market(synthetic_candles, tmp_path / "serve", ("SYNTH1ETH",))
    server = replay_market(tmp_path / "serve", now=now)
    common = ["--market", "ETH", "--db", db_url, "--binance-url", server.url,
              "--artifacts", str(tmp_path / "art"), *FAST]
    first = subprocess.Popen([sys.executable, str(REPO / "run_all.py"), *common],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, COINLSTM_TEST_STALL="SYNTH1ETH"),
                             start_new_session=True)
    try:
        engine = db.open_database(db_url)
        deadline = time.monotonic() + 120
        while True:  # wait until the first job holds the lock and trains
            with engine.connect() as conn:
                if conn.execute(sa.select(db.job_runs)).first() is not None:
                    break
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        # Refused at once, not after waiting for the lock: the first job stalls until it is
        # killed, so a waiting second job would run into this timeout.
        second = _job(*common, timeout=120)
        assert second.returncode == 1
        assert "another job holds the lock of exchange binance" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        third = _job(*common)
        assert third.returncode == 0, third.stdout + third.stderr
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    engine.dispose()


def test_track_record_and_ranking(sqlite_url):
    """The pair's training runs as the dashboard reads them (db.latest_training: the newest
    run of the interval, whatever its model and target, with its figures); pairs whose
    verdict is edge rank first, then by predicted change."""
    from coinlstm.app.commands.run import _rank_key
    from coinlstm.app.commands.train import PairTrainTask
    from coinlstm.app.jobs.pair_job import TrainOptions
    from coinlstm.app.runtime.executors import Outcome

    engine = db.open_database(sqlite_url)
    with db.transaction(engine) as conn:
        coin = db.ensure_coin(conn, "SYNTH1ETH", "SYNTH1", "ETH")
        for skill, target in ((0.10, "return"), (-0.30, "close"), (-0.02, "return"),
                              (0.04, "return")):
            conn.execute(db.historical_train.insert().values(
                id_coin=coin, time_create=1, price_test="[]", price_predict="[]", RMSE=1.0,
                max_error=1.0, openTime_last=0, skill=skill, model="lstm", target=target))
    with engine.connect() as conn:
        newest = db.latest_training(conn, coin, "1h")
        assert (newest.skill, newest.model, newest.target) == (0.04, "lstm", "return")
        assert db.latest_training(conn, coin, "5m") is None
    with db.transaction(engine) as conn:
        conn.execute(db.historical_train.insert().values(
            id_coin=coin, time_create=2, price_test="[]", price_predict="[]", RMSE=1.0,
            max_error=1.0, openTime_last=0, skill=-0.30, model="gru", target="close"))
        other = db.ensure_coin(conn, "SYNTH2ETH", "SYNTH2", "ETH")
    with engine.connect() as conn:
        newest = db.latest_training(conn, coin, "1h")
        assert (newest.skill, newest.model, newest.target) == (-0.30, "gru", "close")
        assert db.latest_training(conn, other, "1h") is None
    engine.dispose()

    def outcome(symbol: str, change: float | None, edge: bool) -> Outcome:
        task = PairTrainTask(1, symbol, TrainOptions(), "run")
        if change is None:
            return Outcome(task, "failed", 1.0, "boom")
        return Outcome(task, "ok", 1.0, None,
                       {"change_pct": change, "verdict": "edge" if edge else "no evidence"})

    ranked = sorted([outcome("A", 0.5, False), outcome("B", -0.1, True), outcome("C", None, False),
                     outcome("D", 0.2, True), outcome("E", 0.0, False)], key=_rank_key)
    assert [o.symbol for o in ranked] == ["D", "B", "A", "E", "C"]


def test_run_5m_crawls_selects_and_trains_the_5m_series(sqlite_url, tmp_path, replay_market, cli):
    """``coinlstm run --interval 5m``: the job crawls 5m candles, picks pairs by their 5m
    count (the hourly series here is too short to be picked) and its pair processes train
    on 5m."""
    import_into(sqlite_url, [write_csv(tmp_path / "hourly", INTERVAL_SYMBOL, HOURLY[-100:])])
    series = synthetic_klines(400, seed=14, interval_ms=FIVE_MINUTES_MS)
    served = write_csv(tmp_path / "serve", INTERVAL_SYMBOL, series)
    report = tmp_path / "report.json"

    server = replay_market(served.parent, now=END_OPEN_MS + FIVE_MINUTES_MS + 60_000)
    done = cli("run", "--market", "ETH", "--interval", "5m", "--epochs", "1",
                   "--val-size", "16", "--backend", "jax", "--workers", "1",
                   "--no-progress", "--report", str(report), "--db", sqlite_url,
                   "--binance-url", server.url, "--artifacts", str(tmp_path / "art"))

    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(report.read_text())
    assert summary["interval"] == "5m"
    assert summary["crawl"]["candles_added"] == {INTERVAL_SYMBOL: len(series)}
    [pair] = summary["pairs"]
    assert (pair["symbol"], pair["status"]) == (INTERVAL_SYMBOL, "ok")
    assert pair["result"]["openTime_next"] == END_OPEN_MS + FIVE_MINUTES_MS
    assert text_rows(sqlite_url, INTERVAL_SYMBOL, "5m") == as_tuples(series)
    assert text_rows(sqlite_url, INTERVAL_SYMBOL, "1h") == as_tuples(HOURLY[-100:])
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        train = conn.execute(sa.select(db.historical_train)).one()
    engine.dispose()
    assert (train.interval, train.n_train + train.n_val + train.n_cal + train.n_test) == \
        ("5m", 398)
