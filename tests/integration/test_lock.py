"""The job lock: one holder per database and exchange, whatever the market, freed when the
holder is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.app.runtime import lock as lock_module
from coinlstm.app.runtime.lock import JobLock
from coinlstm.core.errors import DatabaseUnavailable, LockHeld, LockLost
from tests.helpers import run_cli

HOLDER = """
import sys, time
from coinlstm import db
from coinlstm.app.runtime.lock import JobLock
engine = db.open_database(sys.argv[1])
lock = JobLock(engine, sys.argv[2])
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _start_holder(url: str, market: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, market],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_lock_is_exclusive_and_freed_by_sigkill(db_url):
    engine = db.open_database(db_url)
    holder = _start_holder(db_url, "ETH")
    try:
        with pytest.raises(LockHeld, match="lock of exchange binance"):
            JobLock(engine, "ETH").acquire()
        # Another market of the exchange, or all of them, is the same lock; another
        # exchange's job of the same market is another lock.
        for key in ("BTC", "ALL"):
            with pytest.raises(LockHeld, match="lock of exchange binance"):
                JobLock(engine, key).acquire()
        with JobLock(engine, "poloniex-ETH"):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:  # the server notices the closed connection almost at once
            try:
                with JobLock(engine, "ETH"):
                    break
            except LockHeld:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        holder.kill()
        holder.wait()
        engine.dispose()


def test_lock_message_names_the_holder(db_url):
    engine = db.open_database(db_url)
    with db.transaction(engine) as conn:
        conn.execute(db.job_runs.insert().values(
            run_id="ETH-test-1", market="ETH", executor="subprocess", host="cronhost",
            pid=4242, time_start=int(time.time()), status="running"))
    with JobLock(engine, "ETH"):
        for key in ("ETH", "BTC"):  # a job of another market meets the same holder
            with pytest.raises(LockHeld, match="run ETH-test-1 of market ETH, pid 4242 on "
                                               "cronhost"):
                JobLock(engine, key).acquire()
    engine.dispose()


def test_a_single_market_job_and_an_all_job_exclude_each_other(db_url, tmp_path):
    """Through the real ``run``: while a job of every market (``ALL``) holds the lock, a job of
    one market on the same database exits 1 with one line naming the holder's run and
    records nothing; and the other way round."""
    engine = db.open_database(db_url)
    for held, asked in (("ALL", "ETH"), ("ETH", "ALL")):
        started = int(time.time())
        with db.transaction(engine) as conn:
            conn.execute(db.job_runs.insert().values(
                run_id=f"{held}-test-1", market=held, executor="subprocess", host="cronhost",
                pid=4242, time_start=started, status="running"))
        holder = _start_holder(db_url, held)
        try:
            done = run_cli("run", "--market", asked, "--skip-crawl", "--db", db_url,
                           "--artifacts", str(tmp_path / "art"), "--no-progress")
        finally:
            holder.kill()
            holder.wait()
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [
            "coinlstm run: error: another job holds the lock of exchange binance: run "
            f"{held}-test-1 of market "
            f"{held}, pid 4242 on cronhost, started at unix time {started}; not starting"]
        with db.transaction(engine) as conn:
            conn.execute(db.job_runs.update().values(status="ok"))
    with engine.connect() as conn:
        runs = conn.execute(sa.select(db.job_runs.c.run_id)).scalars().all()
    assert sorted(runs) == ["ALL-test-1", "ETH-test-1"]  # the refused jobs recorded nothing
    engine.dispose()


def test_a_lost_lock_held_for_a_moment_by_another_connection_is_retaken(mysql_url):
    """The lock's connection dies and another connection holds the lock for a moment (a job
    started meanwhile checks who is running, finds this one alive and lets go): the retake
    waits (DatabaseUnavailable: the pairs wait), then takes it back. Held longer than
    RETAKE_WAIT_SECONDS, it is lost for good."""
    engine = db.open_database(mysql_url)
    lock = JobLock(engine, "ETH")
    lock.acquire()
    other = engine.connect()
    try:
        for held in (1.0, lock_module.RETAKE_WAIT_SECONDS + 1.0):
            owner = other.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": lock.name}).scalar()
            other.execute(sa.text(f"KILL {int(owner)}"))
            assert other.execute(sa.text("SELECT GET_LOCK(:n, 5)"), {"n": lock.name}).scalar()
            began, waits = time.monotonic(), 0
            while True:
                try:
                    said = lock.verify()
                except DatabaseUnavailable as exc:
                    assert "another connection holds it for now" in str(exc)
                    waits += 1
                    if time.monotonic() - began >= held:
                        other.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": lock.name})
                    time.sleep(0.2)
                    continue
                except LockLost as exc:
                    assert held > lock_module.RETAKE_WAIT_SECONDS, exc
                    assert "lost the job lock of exchange binance" in str(exc)
                    break
                assert held < lock_module.RETAKE_WAIT_SECONDS and waits, (held, waits)
                assert said.startswith("lost the job lock of exchange binance (")
                assert "retook it after" in said
                break
    finally:
        other.close()
        lock.release()
        engine.dispose()
