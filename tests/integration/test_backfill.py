"""``coinlstm backfill``: the hourly job's runs replayed over stored candles.

Real parts only: the SYNTHETIC candles of tests/synthetic.py in SQLite and MariaDB, real
Keras training on JAX with tiny epochs. The live job is ``train_pair`` (what every pair's
process of ``coinlstm run`` calls), run hour by hour as new candles arrive; the backfill is
the command's own per-pair code (in this process where a test compares it with the live
job, through the CLI's processes elsewhere).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.jobs.backfill_pair import PairBackfill, scratch_settings
from coinlstm.app.jobs.pair_job import train_pair
from coinlstm.app.runtime.lock import JobLock
from coinlstm.app.web import views
from coinlstm.core import config
from coinlstm.core.klines import parse_kline
from predict.forward_scores import score
from tests.helpers import (
    TEST_HOME,
    cli_env,
    descendants,
    fingerprint,
    read_csv_rows,
    run_cli,
)
from tests.trainkit import FAST, load_pair
from train import config as train_config

SYMBOL = "SYNTH1ETH"
ROWS = 1500
HOUR_MS = 3_600_000
#: Tiny training, and a refit every 4 hours: a short backfill holds full fits and warm
#: fine-tunes both.
FLAGS = [*FAST, "--warm-samples", "256", "--warm-epochs", "2", "--refit-every", "4",
         "--backend", "jax"]
#: Live hours compared with the backfill's first hours.
LIVE_HOURS = 6
BAND_COLUMNS = ("lower_80", "upper_80", "lower_95", "upper_95")


def _options(*flags: str):
    parser = argparse.ArgumentParser()
    train_config.add_arguments(parser)
    return train_config.from_args(parser.parse_args([*FLAGS, *flags]))


def _settings(url: str, art: Path) -> config.Settings:
    return config.load(db_url=url, artifacts=art, env={"COINLSTM_HOME": str(TEST_HOME)})


def _insert(url: str, coin_id: int, rows: list[list[str]]) -> None:
    engine = db.open_database(url)
    with db.transaction(engine) as conn:
        db.insert_candles(conn, [parse_kline(coin_id, row) for row in rows])
    engine.dispose()


def _forecasts(url: str, source: str) -> dict[int, tuple[float, ...]]:
    """openTime_next -> (forecast, bands...) of the stored forecasts of ``source``."""
    p = db.historical_price_predictions
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.openTime_next, p.c.price_preidct_last,
                                      *(p.c[name] for name in BAND_COLUMNS))
                            .where(p.c.source == source)).all()
    engine.dispose()
    return {int(row[0]): tuple(float(v) for v in row[1:]) for row in rows}


def _prediction_rows(url: str) -> list[tuple]:
    """Every forecast row's content but its id (equal after a kill and a rerun)."""
    p = db.historical_price_predictions
    columns = [c for c in p.c if c.name != "id"]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).order_by(p.c.openTime_next)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


@pytest.mark.slow
def test_backfilled_forecasts_equal_the_live_jobs(db_url, synthetic_candles, tmp_path):
    """The live job hour by hour (a full fit, warm hours, its slot's refit after the hour's
    forecast) against one backfill over the same hours: the same forecasts and bands to
    float32 round-off; the live rows and model untouched; the backfill's models in its
    scratch folder."""
    csv = synthetic_candles / f"{SYMBOL}.csv"
    coin_id, _ = load_pair(db_url, csv, ROWS)
    later = read_csv_rows(csv, limit=ROWS + 24)[ROWS:]
    art = tmp_path / "art"
    settings, options = _settings(db_url, art), _options()
    fits, refits = [], []
    for hour in range(LIVE_HOURS):  # as the job runs a pair under --refits after (default)
        _insert(db_url, coin_id, later[hour:hour + 1])
        run = train_pair(settings, coin_id, SYMBOL, options, run_id=f"live-{hour}",
                         refit="defer")
        fits.append(run.fit)
        if run.refit_deferred:  # the job's refit after the market's forecasts
            refits.append(hour)
            assert not train_pair(settings, coin_id, SYMBOL, options, run_id=f"live-{hour}",
                                  refit="only").rows_written
    assert fits[0] == "full" and set(fits[1:]) == {"warm"} and refits, (fits, refits)
    _insert(db_url, coin_id, later[LIVE_HOURS:])
    live = _forecasts(db_url, "live")
    live_model = (art / "weights" / f"weight_{SYMBOL}.weights.h5").read_bytes()
    result = PairBackfill(settings, coin_id, SYMBOL, options, days=1).run()
    assert (result["status"], result["hours"], result["stored"]) == ("ok", 24, 24)
    backfilled = _forecasts(db_url, "backfill")
    assert len(backfilled) == 24 and set(live) <= set(backfilled)
    for open_time, values in live.items():
        np.testing.assert_allclose(backfilled[open_time], values, rtol=2e-6)
    assert _forecasts(db_url, "live") == live
    assert (art / "weights" / f"weight_{SYMBOL}.weights.h5").read_bytes() == live_model
    assert (scratch_settings(settings, "1h").weights_dir / f"weight_{SYMBOL}.weights.h5"
            ).is_file()
    assert not result["model_handed_over"]


# --------------------------------------------------------------------------- the command


def _market(url: str, synthetic_candles: Path) -> int:
    """SYNTH1ETH with a day to backfill, and SYNTH2ETH too short for it: SYNTH1ETH's id."""
    coin_id, _ = load_pair(url, synthetic_candles / f"{SYMBOL}.csv", ROWS + 24)
    load_pair(url, synthetic_candles / "SYNTH2ETH.csv", 130)
    return coin_id


def _backfill(url: str, art: Path, *flags: str, runner=run_cli):
    return runner("backfill", "--days", "1", "--market", "ETH", "--no-progress",
                  "--workers", "1", "--db", url, *FLAGS, *flags,
                  env={"COINLSTM_ARTIFACTS": str(art)})


def _rows_of(url: str, source: str) -> int:
    return len(_forecasts(url, source))


@pytest.mark.slow
def test_a_killed_backfill_rerun_ends_as_an_uninterrupted_one_and_a_rerun_adds_nothing(
        sqlite_url, synthetic_candles, tmp_path):
    """SIGKILL mid-way, rerun: the rows of an uninterrupted run (another database), and a
    pair too short for --days is one line naming it while the other goes on; a third run
    adds nothing. The live job's model folder is given the backfill's last model (it had
    none)."""
    whole_url = f"sqlite:///{tmp_path / 'whole.sqlite'}"
    for url in (sqlite_url, whole_url):
        _market(url, synthetic_candles)
    whole = _backfill(whole_url, tmp_path / "art-whole")
    assert whole.returncode == 3, whole.stderr
    assert "SYNTH2ETH failed: SYNTH2ETH: --days 1 needs" in whole.stdout
    assert _rows_of(whole_url, "backfill") == 24
    art = tmp_path / "art"
    process = subprocess.Popen(
        [os.sys.executable, "-m", "coinlstm", "backfill", "--days", "1", "--market", "ETH",
         "--only", SYMBOL, "--no-progress", "--workers", "1", "--db", sqlite_url, *FLAGS],
        env=cli_env({"COINLSTM_ARTIFACTS": str(art)}), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _rows_of(sqlite_url, "backfill") < 6:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        family = descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in family):
        assert time.monotonic() < deadline, "the killed backfill's children live on"
        time.sleep(0.2)
    assert 6 <= _rows_of(sqlite_url, "backfill") < 24
    rerun = _backfill(sqlite_url, art)
    assert rerun.returncode == 3, rerun.stderr
    assert _prediction_rows(sqlite_url) == _prediction_rows(whole_url)
    assert (art / "weights" / f"weight_{SYMBOL}.weights.h5").is_file()
    before = fingerprint(sqlite_url)
    again = _backfill(sqlite_url, art, "--only", SYMBOL)
    assert again.returncode == 0, again.stderr
    assert fingerprint(sqlite_url)["historical_price_predictions"] == before[
        "historical_price_predictions"]
    assert _prediction_rows(sqlite_url) == _prediction_rows(whole_url)


@pytest.mark.parametrize(("flags", "line"), [
    (("--days", "0"), "--days must be at least 1, got 0"),
    (("--days", "-2"), "--days must be at least 1, got -2"),
    (("--days", "1", "--market", "XRP"), "unknown market 'XRP'"),
    (("--days", "1", "--only", "NOPEETH"), "not pairs of market ETH in the database: NOPEETH"),
])
def test_bad_input_is_one_line_and_writes_nothing(sqlite_url, synthetic_candles, tmp_path,
                                                  flags, line):
    load_pair(sqlite_url, synthetic_candles / "SYNTH2ETH.csv", 300)
    before = fingerprint(sqlite_url)
    done = run_cli("backfill", *flags, "--no-progress", "--db", sqlite_url,
                   env={"COINLSTM_ARTIFACTS": str(tmp_path / "art")})
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and line in done.stderr
    assert fingerprint(sqlite_url) == before and not (tmp_path / "art").exists()


def test_a_running_hourly_job_is_refused_in_one_line(sqlite_url, synthetic_candles, tmp_path):
    load_pair(sqlite_url, synthetic_candles / "SYNTH2ETH.csv", 300)
    before = fingerprint(sqlite_url)
    engine = db.open_database(sqlite_url)
    with JobLock(engine, "ETH"):
        done = _backfill(sqlite_url, tmp_path / "art")
    engine.dispose()
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "coinlstm backfill: error: another job holds the lock of exchange binance; not starting"]
    assert fingerprint(sqlite_url) == before


# --------------------------------------------------------------------------- the record


def _forecast(conn, coin_id: int, open_next: int, value: float, source: str) -> None:
    conn.execute(db.historical_price_predictions.insert().values(
        id_coin=coin_id, time_create=1, price_predict="[]", price_actual="[]",
        price_preidct_last=value, price_actual_last=1.0, openTime_next=open_next,
        model="default", target="return", interval="1h", source=source))


def _scores(conn) -> dict[int, tuple[float, str]]:
    s = db.forecast_scores
    return {int(row.openTime_next): (row.forecast, row.source)
            for row in conn.execute(sa.select(s.c.openTime_next, s.c.forecast, s.c.source))}


def test_a_live_forecast_counts_over_a_backfilled_one(db_url, synthetic_candles):
    """For one candle a live and a backfilled forecast: the live one is scored, whichever
    came first; a later backfilled one never replaces it; the record says what it rests
    on."""
    from predict.track_record import verdict_basis

    coin_id, rows = load_pair(db_url, synthetic_candles / f"{SYMBOL}.csv", 40)
    times = [int(row[0]) for row in rows]
    engine = db.open_database(db_url)
    with db.transaction(engine) as conn:
        for open_time in times[10:30]:
            _forecast(conn, coin_id, open_time, 2.0, "backfill")
        _forecast(conn, coin_id, times[12], 3.0, "live")  # after the backfill
        _forecast(conn, coin_id, times[30], 3.0, "live")
    score(engine, "1h", "ETH")
    with engine.begin() as conn:
        _forecast(conn, coin_id, times[12], 4.0, "backfill")  # a rerun's: never over live
        _forecast(conn, coin_id, times[13], 5.0, "live")  # replaces the backfilled score
    score(engine, "1h", "ETH")
    with engine.connect() as conn:
        scores = _scores(conn)
        record = conn.execute(sa.select(db.track_records).where(
            db.track_records.c.window == "all")).one()
        coin = views.pair(conn, SYMBOL)
        chart = views.history(conn, coin, "1h", 30)
        served = {w["window"]: w for w in views.track_record(conn, coin, "1h")["windows"]}
    engine.dispose()
    # The dashboard's API: backfilled hours apart from the published ones, the record's
    # sources.
    live_times = {row[0] for row in chart["forecasts"]}
    assert len(chart["backfilled"]) == 18 and len(live_times) == 3
    assert not live_times & {row[0] for row in chart["backfilled"]}
    assert (served["all"]["scored_live"], served["all"]["scored_backfill"],
            served["all"]["rests_on"]) == (3, 18, "live 3 h + backfill 18 h")
    assert scores[times[12]] == (3.0, "live") and scores[times[13]] == (5.0, "live")
    assert scores[times[11]] == (2.0, "backfill") and scores[times[30]] == (3.0, "live")
    assert (record.scored, record.scored_live, record.scored_backfill) == (21, 3, 18)
    assert verdict_basis(record.scored_live, record.scored_backfill) == \
        "live 3 h + backfill 18 h"
    assert verdict_basis(0, 720) == "backfill 720 h" and verdict_basis(None, None) == ""
