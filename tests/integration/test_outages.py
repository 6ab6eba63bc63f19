"""The market job under outages: a MySQL server killed and restarted mid-run, a lost job lock,
a signal, a full or read-only artifacts disk.

The database tests run on a MariaDB server of their own (tests/own_mariadb.py), which they
SIGKILL and restart on the same data directory and port; the exchange is the replay server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from crawl.replay import ReplayServer
from tests.child_hooks.coinlstm_faults import SAVE_PAUSE_MARKER
from tests.helpers import (
    HOUR_MS,
    REPO,
    fingerprint,
    run_cli,
    run_job,
    share_caches,
    write_sample,
)
from tests.own_mariadb import own_mariadb_or_skip

PAIRS = ("ADAETH", "BNBETH", "TRXETH", "XRPETH")
#: Small real candle sets and tiny epochs: a pair trains in seconds.
FAST = ["--epochs", "2", "--val-size", "96", "--test-size", "24", "--no-progress"]
PAIR_LINE = re.compile(r"^([A-Z0-9]+): (ok|failed|timeout) in ")


@pytest.fixture(scope="session")
def own_server():
    """One server per pytest process (per xdist worker: its own port and data directory), so
    that the slowest-first order, which scatters this file's tests, does not install one per
    test; ``own_url`` restarts it if a test left it down."""
    server = own_mariadb_or_skip()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_url(own_server, request):
    if not own_server.answers():
        own_server.start()
    name = "outage_" + re.sub(r"\W", "_", request.node.name)[:40]
    return own_server.new_database(name)


def _serve(shared_data, folder: Path, pairs=PAIRS, rows: int = 700) -> int:
    for symbol in pairs:
        write_sample(shared_data / f"{symbol}.csv", folder, rows, tail=True)
    last_open = int((shared_data / "ADAETH.csv").read_text().splitlines()[-1].split(",")[0])
    return last_open + HOUR_MS + 60_000


class RunningJob:
    """``run_all.py`` in the background; its stdout read line by line as it comes."""

    def __init__(self, args: list[str], env: dict | None = None) -> None:
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.stderr_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - read after the job
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "run_all.py"), *args], stdout=subprocess.PIPE,
            stderr=self.stderr_file, text=True, env=dict(os.environ, **(env or {})),
            start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}:\n" + self.output)
                self._new_line.wait(min(left, 0.5))

    def finish(self, timeout: float = 600) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _home(tmp_path: Path, name: str = "home") -> Path:
    """A COINLSTM_HOME of the test's own (its logs, lock and default database) whose compile
    caches are the run's (tests.helpers.share_caches): the pairs of the first job of every
    test here load the networks' compiled steps and JAX's executables instead of compiling
    them again (a few seconds of CPU per pair)."""
    return share_caches(tmp_path / name)


def _job(*args: str, env: dict | None = None, timeout: float = 600):
    return run_job(*args, env=env, timeout=timeout)


def _rows_of_run(url: str, run_id: str) -> dict[str, dict[str, int]]:
    """table -> symbol -> rows the run wrote."""
    engine = db.open_database(url)
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for table in (db.historical_train, db.historical_price_predictions):
            rows = conn.execute(
                sa.select(db.coin_info.c.symbol, sa.func.count())
                .select_from(table.join(db.coin_info, table.c.id_coin == db.coin_info.c.id))
                .where(table.c.run_id == run_id).group_by(db.coin_info.c.symbol)).all()
            counts[table.name] = {symbol: int(n) for symbol, n in rows}
    engine.dispose()
    return counts


def _job_runs(url: str) -> list:
    engine = db.open_database(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.job_runs).order_by(db.job_runs.c.time_start)).all()
    engine.dispose()
    return rows


def _pair_lines(output: str) -> dict[str, str]:
    """symbol -> status as the job printed each pair's end."""
    found = {}
    for line in output.splitlines():
        match = PAIR_LINE.match(line)
        if match:
            found[match[1]] = match[2]
    return found


# ---------------------------------------------------------------------- server restarts


@pytest.mark.slow
def test_server_killed_for_five_seconds_while_pairs_train(own_server, own_url, shared_data,
                                                          tmp_path):
    now = _serve(shared_data, tmp_path / "serve")
    report_path = tmp_path / "report.json"
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        job = RunningJob(["--market", "ETH", "--db", own_url, "--binance-url", replay.url,
                          "--artifacts", str(tmp_path / "art"), "--workers", "2",
                          "--report", str(report_path), *FAST],
                         env={"COINLSTM_HOME": str(_home(tmp_path))})
        try:
            job.wait_for(r"^run ETH-.*: 4 pairs")
            time.sleep(2)  # the first two pairs are starting and training
            own_server.kill()
            time.sleep(5)
            own_server.start()
            code = job.finish()
        finally:
            job.kill()
    assert code == 0, job.output + job.stderr
    assert "lost the job lock of exchange binance" in job.output and "retook it" in job.output
    report = json.loads(report_path.read_text())
    assert report["totals"] == {"ok": 4, "failed": 0, "pairs": 4}
    rows = _rows_of_run(own_url, report["run_id"])
    assert rows == {"historical_train": dict.fromkeys(PAIRS, 1),
                    "historical_price_predictions": dict.fromkeys(PAIRS, 1)}
    [run] = _job_runs(own_url)
    assert (run.run_id, run.status, run.pairs_ok, run.pairs_failed, run.reason) == (
        report["run_id"], "ok", 4, 0, None)


@pytest.mark.slow
def test_server_down_longer_than_the_retry_budget(own_server, own_url, shared_data, tmp_path):
    now = _serve(shared_data, tmp_path / "serve")
    report_path = tmp_path / "report.json"
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        common = ["--market", "ETH", "--db", own_url, "--binance-url", replay.url,
                  "--artifacts", str(tmp_path / "art"), "--workers", "2",
                  "--db-retry-seconds", "2", *FAST]
        env = {"COINLSTM_HOME": str(_home(tmp_path))}
        job = RunningJob([*common, "--report", str(report_path)], env=env)
        try:
            job.wait_for(r"^run ETH-.*: 4 pairs")
            own_server.kill()
            job.wait_for(r"^[A-Z0-9]+: failed in ", timeout=120)
            own_server.start()
            code = job.finish()
        finally:
            job.kill()
        assert code == 3, job.output + job.stderr
        report = json.loads(report_path.read_text())
        failed = [p for p in report["pairs"] if p["status"] != "ok"]
        assert failed and report["totals"]["pairs"] == 4
        for pair in failed:  # one line each, naming the database or the lock
            assert "\n" not in pair["reason"]
            assert re.search(r"database|not started", pair["reason"]), pair["reason"]
            assert f"{pair['symbol']} failed: {pair['reason']}" in job.output
        assert f"pairs ok {4 - len(failed)}, failed {len(failed)}" in job.output
        rows = _rows_of_run(own_url, report["run_id"])
        ok = {p["symbol"] for p in report["pairs"] if p["status"] == "ok"}
        assert set(rows["historical_train"]) == set(rows["historical_price_predictions"]) == ok
        [run] = _job_runs(own_url)
        assert (run.status, run.pairs_ok, run.pairs_failed) == ("partial", len(ok), len(failed))
        assert run.time_end is not None and "pairs failed" in run.reason

        again = _job(*common, "--report", str(tmp_path / "again.json"), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads((tmp_path / "again.json").read_text())
    assert report["totals"] == {"ok": 4, "failed": 0, "pairs": 4}


@pytest.mark.slow
def test_lock_retaken_after_restart_and_second_job_refused(own_server, own_url, shared_data,
                                                            tmp_path):
    """The first job holds the lock; the server restarts (freeing every GET_LOCK); a second
    job started right then does not train: the two never train at the same time."""
    now = _serve(shared_data, tmp_path / "serve", ("ADAETH", "TRXETH"))
    home = _home(tmp_path)
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        common = ["--market", "ETH", "--db", own_url, "--binance-url", replay.url,
                  "--artifacts", str(tmp_path / "art"), *FAST]
        first = RunningJob([*common, "--workers", "1"],
                           env={"COINLSTM_HOME": str(home), "COINLSTM_TEST_SAVE_PAUSE": "8"})
        try:
            _wait_for_save_pause(home, first)
            own_server.kill()
            time.sleep(2)
            own_server.start()
            second = _job(*common, env={"COINLSTM_HOME": str(_home(tmp_path, "home2"))})
            code = first.finish()
        finally:
            first.kill()
    assert second.returncode == 1, second.stdout + second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert re.search(r"lock of exchange binance|is still running", second.stderr), second.stderr
    assert code == 0, first.output + first.stderr
    assert re.search(r"lost the job lock of exchange binance \(.*\); retook it after", first.output)
    runs = _job_runs(own_url)
    assert [(r.status, r.pairs_ok) for r in runs] == [("ok", 2)]  # the second never ran
    rows = _rows_of_run(own_url, runs[0].run_id)
    assert rows["historical_train"] == {"ADAETH": 1, "TRXETH": 1}
    assert not (tmp_path / "home2" / "logs").exists() or not any(
        (tmp_path / "home2" / "logs").iterdir())


@pytest.mark.slow
def test_lock_lost_to_another_holder_stops_launching(own_server, own_url, shared_data,
                                                     tmp_path):
    """The job's lock connection dies and another holder takes the lock at once: the job
    launches no more pairs, lets the running one finish, reports and exits 1 in one line."""
    now = _serve(shared_data, tmp_path / "serve", ("ADAETH", "TRXETH"))
    home = _home(tmp_path)
    report_path = tmp_path / "report.json"
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        job = RunningJob(["--market", "ETH", "--db", own_url, "--binance-url", replay.url,
                          "--artifacts", str(tmp_path / "art"), "--workers", "1",
                          "--report", str(report_path), *FAST],
                         env={"COINLSTM_HOME": str(home), "COINLSTM_TEST_SAVE_PAUSE": "5"})
        engine = sa.create_engine(own_url)
        holder = engine.connect()
        try:
            _wait_for_save_pause(home, job)
            name = f"coinlstm:binance:{engine.url.database}"
            owner = holder.execute(sa.text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
            holder.execute(sa.text(f"KILL {int(owner)}"))
            assert holder.execute(sa.text("SELECT GET_LOCK(:n, 5)"), {"n": name}).scalar() == 1
            code = job.finish()
        finally:
            job.kill()
            holder.close()
            engine.dispose()
    assert code == 1, job.output + job.stderr
    [line] = job.stderr.strip().splitlines()[-1:]
    assert "lost the job lock of exchange binance" in line and "launching no more pairs" in line
    report = json.loads(report_path.read_text())
    by_status = sorted(p["status"] for p in report["pairs"])
    assert by_status == ["failed", "ok"], report["pairs"]
    [skipped] = [p for p in report["pairs"] if p["status"] == "failed"]
    assert skipped["reason"].startswith("not started: lost the job lock")
    assert report["status"] == "lock_lost" and report["exit_code"] == 1
    assert "pairs ok 1, failed 1" in job.output
    [run] = _job_runs(own_url)
    assert run.status == "lock_lost" and "lost the job lock" in run.reason


def _wait_for_save_pause(home: Path, job: RunningJob, timeout: float = 300) -> None:
    """Until a pair of the job has written its rows and sleeps before its last rename."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in home.glob("logs/*/*.log"):
            if SAVE_PAUSE_MARKER in log.read_text(errors="replace"):
                return
        assert job.process.poll() is None, job.output + job.stderr
        time.sleep(0.2)
    raise AssertionError("no pair reached its save pause:\n" + job.output)


# ---------------------------------------------------------------------- signals


@pytest.mark.slow
def test_signal_closes_the_run_and_the_next_run_abandons_a_killed_one(shared_data, sqlite_url,
                                                                      tmp_path):
    now = _serve(shared_data, tmp_path / "serve", ("ADAETH",))
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        common = ["--market", "ETH", "--db", sqlite_url, "--binance-url", replay.url,
                  "--artifacts", str(tmp_path / "art"), *FAST]
        stalled = {"COINLSTM_TEST_STALL": "ADAETH", "COINLSTM_HOME": str(_home(tmp_path))}
        report_path = tmp_path / "report.json"
        terminated = RunningJob([*common, "--report", str(report_path)], env=stalled)
        try:
            terminated.wait_for(r"^run ETH-")
            time.sleep(3)
            os.kill(terminated.process.pid, signal.SIGTERM)
            # The stalled pair was killed, not awaited: it stalls for ever, so awaiting it
            # would run into this timeout (generous: 4 pytest-xdist workers on 2 cores).
            code = terminated.finish(timeout=120)
        finally:
            terminated.kill()
        assert code == 128 + signal.SIGTERM, terminated.output + terminated.stderr
        assert terminated.stderr.strip().splitlines()[-1] == (
            "coinlstm run: error: stopped by signal SIGTERM")
        assert "pairs ok 0, failed 1" in terminated.output
        assert json.loads(report_path.read_text())["reason"] == "stopped by signal SIGTERM"
        [run] = _job_runs(sqlite_url)
        assert (run.status, run.reason) == ("failed", "stopped by signal SIGTERM")

        killed = RunningJob(common, env=stalled)
        try:
            killed.wait_for(r"^run ETH-")
            os.killpg(killed.process.pid, signal.SIGKILL)
            killed.finish(timeout=30)
        finally:
            killed.kill()
        assert [r.status for r in _job_runs(sqlite_url)] == ["failed", "running"]

        done = _job(*common, env={"COINLSTM_HOME": str(_home(tmp_path))})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "marked abandoned" in done.stdout
    assert [r.status for r in _job_runs(sqlite_url)] == ["failed", "abandoned", "ok"]


# ---------------------------------------------------------------------- files


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_full_or_read_only_artifacts_disk(fault, shared_data, sqlite_url, tmp_path):
    """A pair that cannot stage its model fails in one line; the previous model stays
    loadable and unchanged, no row is written, the job goes on with the other pairs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    art = tmp_path / "art"
    art.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(art)], check=True)
    try:
        _full_or_read_only(fault, shared_data, sqlite_url, tmp_path, art)
    finally:
        subprocess.run(["umount", "-l", str(art)], check=False)


def _full_or_read_only(fault, shared_data, sqlite_url, tmp_path, art) -> None:
    from coinlstm.core import config
    from predict.artifacts import artifact_paths, load_model
    from train import backend

    pairs = ("ADAETH", "TRXETH")
    now = _serve(shared_data, tmp_path / "serve", pairs)
    env = {"COINLSTM_HOME": str(_home(tmp_path))}
    common = ["--market", "ETH", "--db", sqlite_url, "--artifacts", str(art), "--workers", "1",
              *FAST]
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        first = _job(*common, "--binance-url", replay.url, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    settings = config.load(db_url=sqlite_url, artifacts=art)
    before = {s: artifact_paths(settings, s).weights.read_bytes() for s in pairs}
    rows_before = _table_counts(sqlite_url)

    filler = art / "filler"
    if fault == "full":
        # Fill the tmpfs to the last byte. Unbuffered: a buffered file would raise ENOSPC
        # again when it is closed, flushing what the full disk refused.
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
            except OSError:
                pass
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(art)], check=True)
    report_path = tmp_path / "report.json"
    second = _job(*common, "--skip-crawl", "--report", str(report_path), env=env)
    assert second.returncode == 3, second.stdout + second.stderr
    report = json.loads(report_path.read_text())
    assert report["totals"] == {"ok": 0, "failed": 2, "pairs": 2}  # both tried
    expected = "No space left on device" if fault == "full" else "Read-only file system"
    for pair in report["pairs"]:
        assert expected in pair["reason"] and "\n" not in pair["reason"], pair["reason"]
        assert f"{pair['symbol']} failed: {pair['reason']}" in second.stdout
    assert _table_counts(sqlite_url)["historical_train"] == rows_before["historical_train"]
    # Loaded in this process on the backend the training tests use (Keras keeps the backend
    # it was first imported with for the whole pytest process).
    backend.prepare("jax", settings.cache_dir)
    for symbol in pairs:
        assert artifact_paths(settings, symbol).weights.read_bytes() == before[symbol]
        assert load_model(settings, symbol).meta["symbol"] == symbol

    if fault == "full":
        filler.unlink()
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(art)], check=True)
    third = _job(*common, "--skip-crawl", env=env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert not list(art.glob("*/.*.tmp-*")), "temporaries left behind"


def _table_counts(url: str) -> dict[str, int]:
    return fingerprint(url)


# ---------------------------------------------------------------------- new-user paths


@pytest.mark.slow
def test_imported_pairs_train_offline(shared_data, sqlite_url, tmp_path):
    """import, then run --skip-crawl: imported pairs (exchange status unknown) are trained."""
    for symbol in ("ADAETH", "TRXETH"):
        write_sample(shared_data / f"{symbol}.csv", tmp_path / "dumps", 700, tail=True)
    env = {"COINLSTM_HOME": str(_home(tmp_path))}
    imported = run_cli("import", str(tmp_path / "dumps"), "--db", sqlite_url, env=env)
    assert imported.returncode == 0, imported.stderr
    done = run_cli("run", "--market", "ETH", "--skip-crawl", "--db", sqlite_url,
                   "--artifacts", str(tmp_path / "art"), *FAST, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pairs ok 2, failed 0" in done.stdout
    # Without --skip-crawl a pair the exchange does not list is not trained: it says why.
    engine = db.open_database(sqlite_url)
    with db.transaction(engine) as conn:
        conn.execute(db.coin_info.update().values(status="BREAK"))
    engine.dispose()
    none = run_cli("run", "--market", "ETH", "--skip-crawl", "--db", sqlite_url,
                   "--artifacts", str(tmp_path / "art"), *FAST, env=env)
    assert none.returncode == 2
    assert "statuses: BREAK" in none.stderr.strip().splitlines()[-1]


def test_run_since_sets_the_first_backfill(shared_data, sqlite_url, tmp_path):
    from coinlstm.core.klines import ms_to_utc

    now = _serve(shared_data, tmp_path / "serve", ("ADAETH",))
    lines = (tmp_path / "serve" / "ADAETH.csv").read_text().splitlines()
    since_ms = int(lines[300].split(",")[0])
    env = {"COINLSTM_HOME": str(_home(tmp_path))}
    common = ["--market", "ETH", "--db", sqlite_url, "--artifacts", str(tmp_path / "art"),
              *FAST]
    refused = run_cli("run", *common, "--skip-crawl", "--since", "2024-01-01", env=env)
    assert refused.returncode == 2 and "--since" in refused.stderr
    bad = run_cli("run", *common, "--since", "yesterday-ish", env=env)
    assert bad.returncode == 2, bad.stderr
    with ReplayServer(tmp_path / "serve", now=now) as replay:
        done = run_cli("run", *common, "--binance-url", replay.url, "--since",
                       ms_to_utc(since_ms), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    engine = db.open_database(sqlite_url)
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, "ADAETH")
        first = conn.execute(sa.select(sa.func.min(db.candlestick_data.c.openTime)).where(
            db.candlestick_data.c.idCoin == coin.id)).scalar()
        assert first == since_ms
        assert db.count_candles(conn, coin.id) == 400
    engine.dispose()


def test_failed_crawl_closes_the_run_and_reports(sqlite_url, tmp_path):
    """An exchange that does not answer ends the job as a fault does: summary, report, the
    run's row closed with the reason, one error line, exit 1."""
    report_path = tmp_path / "report.json"
    done = _job("--market", "ETH", "--db", sqlite_url, "--binance-url", "http://127.0.0.1:9",
                "--artifacts", str(tmp_path / "art"), "--report", str(report_path), *FAST,
                env={"COINLSTM_HOME": str(_home(tmp_path))})
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("coinlstm run: error: ")
    assert "pairs ok 0, failed 0" in done.stdout and "job failed: " in done.stdout
    report = json.loads(report_path.read_text())
    assert (report["status"], report["exit_code"]) == ("failed", 1)
    [run] = _job_runs(sqlite_url)
    assert run.status == "failed" and run.reason == line.removeprefix("coinlstm run: error: ")
