"""job_runs rows a SIGKILLed job left ``running``: the next run of the same job (exchange
and market) closes them as abandoned, and only them."""

from __future__ import annotations

import sqlalchemy as sa

from coinlstm import db
from tests.helpers import run_cli


def test_next_run_closes_its_own_jobs_abandoned_rows_only(sqlite_url, tmp_path):
    engine = db.open_database(sqlite_url)
    gone = {"executor": "subprocess", "host": "elsewhere", "pid": 999_999_999,
            "time_start": 1_700_000_000, "status": "running"}
    with db.transaction(engine) as conn:
        conn.execute(db.job_runs.insert(), [
            {"run_id": "ETH-killed", "market": "ETH", **gone},
            {"run_id": "poloniex-ETH-alive", "market": "poloniex-ETH", **gone}])
        db.ensure_coin(conn, "ADAETH", "ADA", "ETH", status="TRADING")
    # A market the database knows passes the checks made before a run starts; the exchange
    # (a closed loopback port) is down, so the run records itself, then fails in its crawl.
    done = run_cli("run", "--market", "ETH", "--binance-url", "http://127.0.0.1:9",
                   "--fresh-processes", "--db", sqlite_url, "--artifacts",
                   str(tmp_path / "art"), "--no-progress", env={"COINLSTM_HOME": str(tmp_path)})
    assert done.returncode not in (0, 2), done.stdout + done.stderr
    assert "run ETH-killed marked abandoned" in done.stdout
    with engine.connect() as conn:
        rows = {row.run_id: row for row in conn.execute(sa.select(db.job_runs))}
    engine.dispose()
    assert rows["ETH-killed"].status == "abandoned"
    assert rows["ETH-killed"].time_end is not None  # closed: nothing else ever will
    assert "was gone when run" in rows["ETH-killed"].reason
    # Another exchange's job of the same market holds another lock: not this run's to close.
    assert (rows["poloniex-ETH-alive"].status, rows["poloniex-ETH-alive"].time_end) == (
        "running", None)
