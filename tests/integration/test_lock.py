"""The job lock: one holder per database and market, freed when the holder is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from coinlstm import db
from coinlstm.app.runtime.lock import JobLock
from coinlstm.core.errors import LockHeld

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
        with pytest.raises(LockHeld, match="market ETH"):
            JobLock(engine, "ETH").acquire()
        # another market is another lock
        with JobLock(engine, "BTC"):
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
        with pytest.raises(LockHeld, match="run ETH-test-1, pid 4242 on cronhost"):
            JobLock(engine, "ETH").acquire()
    engine.dispose()
