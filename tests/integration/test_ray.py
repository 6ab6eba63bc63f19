"""The market job on a 2-node Ray cluster (both nodes on 127.0.0.1, Ray's test utilities),
over the newest candles of four SYNTHETIC pairs (tests/synthetic.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from coinlstm import db
from tests.helpers import REPO, after_last, write_market
from tests.trainkit import load_pair

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

#: Each test starts a 2-node cluster and trains pairs on it.
pytestmark = pytest.mark.slow

PAIRS = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH4ETH", "SYNTH3ETH")
FAST = ["--epochs", "2", "--val-size", "96", "--test-size", "24", "--no-progress"]


@pytest.fixture
def ray_cluster():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    # Every port the OS's choice: the head's dashboard agent would take Ray's fixed 52365,
    # which the cluster of another pytest-xdist worker may hold (the added node already
    # gets a free one from cluster_utils).
    cluster = ray_cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                              "dashboard_agent_listen_port": None})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster, worker
    finally:
        cluster.shutdown()


@pytest.fixture
def market(synthetic_candles, tmp_path, replay_market):
    folder = write_market(synthetic_candles, tmp_path / "serve", PAIRS, 700, tail=True)
    server = replay_market(folder, now=after_last(folder))
    yield server


def _job(db_url, server, artifacts, *extra):
    return subprocess.Popen(
        [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--db", db_url,
         "--binance-url", server.url, "--artifacts", str(artifacts), "--workers", "2",
         *FAST, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rows(db_url) -> dict[str, tuple]:
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.coin_info.c.symbol, db.historical_train.c.run_id,
                      db.historical_train.c.openTime_last, db.historical_train.c.price_test,
                      db.historical_train.c.price_predict, db.historical_train.c.RMSE)
            .join(db.coin_info, db.coin_info.c.id == db.historical_train.c.id_coin)).all()
    engine.dispose()
    return {row.symbol: row for row in rows}


def test_ray_executor_writes_the_same_rows_as_subprocesses(ray_cluster, market, tmp_path,
                                                           sqlite_url, mysql_url):
    """Two of the pairs (both at once on the cluster's two 1-CPU nodes), trained on Ray and
    by the subprocess executor: the same rows (four pairs only added training time)."""
    cluster, _ = ray_cluster
    pairs = PAIRS[:2]
    only = ("--only", ",".join(pairs))
    local = _job(sqlite_url, market, tmp_path / "a", "--executor", "subprocess", *only)
    local_out = local.communicate(timeout=600)[0]
    assert local.returncode == 0, local_out
    report = tmp_path / "ray.json"
    on_ray = _job(mysql_url, market, tmp_path / "b", "--executor", "ray", "--ray-address",
                  cluster.address, "--report", str(report), *only)
    ray_out = on_ray.communicate(timeout=600)[0]
    assert on_ray.returncode == 0, ray_out
    assert json.loads(report.read_text())["executor"] == "ray"
    expected, got = _rows(sqlite_url), _rows(mysql_url)
    assert sorted(got) == sorted(expected) == sorted(pairs)
    for symbol in pairs:
        assert got[symbol].openTime_last == expected[symbol].openTime_last
        assert got[symbol].price_test == expected[symbol].price_test
        predicted = json.loads(got[symbol].price_predict)
        reference = json.loads(expected[symbol].price_predict)
        assert predicted == pytest.approx(reference, rel=1e-4)


def test_pairs_survive_a_killed_worker_node(ray_cluster, market, tmp_path, mysql_url):
    cluster, worker = ray_cluster
    report = tmp_path / "ray.json"
    job = _job(mysql_url, market, tmp_path / "art", "--executor", "ray", "--ray-address",
               cluster.address, "--report", str(report))
    engine = db.open_database(mysql_url)
    deadline = time.monotonic() + 180
    # Kill the worker node while the first pairs train on it (the job has started tasks).
    while True:
        with engine.connect() as conn:
            if conn.execute(sa.select(db.job_runs)).first() is not None:
                break
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.2)
    time.sleep(4)
    cluster.remove_node(worker)
    out = job.communicate(timeout=600)[0]
    assert job.returncode == 0, out
    data = json.loads(report.read_text())
    assert data["totals"] == {"ok": 4, "failed": 0, "pairs": 4}
    with engine.connect() as conn:
        for table in (db.historical_train, db.historical_price_predictions):
            per_pair = conn.execute(sa.select(table.c.id_coin, table.c.run_id, sa.func.count())
                                    .group_by(table.c.id_coin, table.c.run_id)).all()
            assert len(per_pair) == 4
            assert all(count == 1 and run == data["run_id"] for _, run, count in per_pair)
    engine.dispose()


def test_evaluate_runs_its_training_tasks_on_ray(ray_cluster, synthetic_candles, sqlite_url,
                                                 tmp_path, cli):
    """evaluate's tasks answer the same executor protocol: on Ray they train (all folds of a
    task in one worker) and come back as the same cases the subprocess executor gives."""
    cluster, _ = ray_cluster
    load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", 400)
    common = ["evaluate", "--db", sqlite_url, "--market", "ETH", "--models", "naive,default",
              "--folds", "2", "--fold-size", "24", "--epochs", "1", "--val-size", "48"]
    cases = {}
    for executor in ("ray", "subprocess"):
        out = tmp_path / executor
        done = cli(*common, "--executor", executor, "--ray-address", cluster.address,
                   "--out", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        with (out / "cases.csv").open() as handle:
            cases[executor] = list(csv.DictReader(handle))
        assert json.loads((out / "summary.json").read_text())["failures"] == []
    assert [(c["model"], c["fold"]) for c in cases["ray"]] == [
        ("naive", "0"), ("naive", "1"), ("default", "0"), ("default", "1")]
    for on_ray, local in zip(cases["ray"], cases["subprocess"], strict=True):
        assert on_ray["test_end_ms"] == local["test_end_ms"]
        assert on_ray["epochs_run"] == local["epochs_run"]
        assert float(on_ray["naive_rmse"]) == float(local["naive_rmse"])
        assert float(on_ray["rmse"]) == pytest.approx(float(local["rmse"]), rel=1e-4)


def _backfilled(db_url) -> list[tuple]:
    """(symbol, hour, forecast, bands) of every backfilled forecast, in order."""
    p = db.historical_price_predictions
    engine = db.open_database(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(db.coin_info.c.symbol, p.c.openTime_next, p.c.run_id, p.c.source,
                      p.c.price_preidct_last, p.c.lower_80, p.c.upper_80, p.c.lower_95,
                      p.c.upper_95)
            .join(db.coin_info, db.coin_info.c.id == p.c.id_coin)
            .order_by(db.coin_info.c.symbol, p.c.openTime_next)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_backfill_on_ray_stores_the_rows_of_subprocesses(ray_cluster, synthetic_candles,
                                                          tmp_path, sqlite_url, cli):
    """``coinlstm backfill`` of two pairs (one on each of the cluster's 1-CPU nodes) on Ray
    and by the subprocess executor: the same backfilled forecasts and bands, hour by hour.
    A day per pair, a full fit at its start and one in its slot, warm hours between."""
    cluster, _ = ray_cluster
    urls = {"subprocess": sqlite_url, "ray": f"sqlite:///{tmp_path / 'ray.sqlite'}"}
    for url in urls.values():
        for symbol in PAIRS[:2]:
            load_pair(url, synthetic_candles / f"{symbol}.csv", 1000)
    for executor, url in urls.items():
        report = tmp_path / f"{executor}.json"
        done = cli("backfill", "--days", "1", "--market", "ETH", "--db", url, "--workers",
                   "2", "--executor", executor, "--ray-address", cluster.address,
                   "--report", str(report), "--artifacts", str(tmp_path / executor),
                   "--epochs", "2", "--val-size", "96", "--calibration-size", "96",
                   "--warm-samples", "128", "--warm-epochs", "1", "--refit-every", "12",
                   "--no-progress")
        assert done.returncode == 0, done.stdout + done.stderr
        data = json.loads(report.read_text())
        assert (data["executor"], data["totals"]) == (executor, {"ok": 2, "failed": 0,
                                                                 "pairs": 2})
    expected, got = _backfilled(urls["subprocess"]), _backfilled(urls["ray"])
    assert len(expected) == 2 * 24
    assert {row[3] for row in expected} == {"backfill"}
    assert [row[:4] for row in got] == [row[:4] for row in expected]
    for on_ray, local in zip(got, expected, strict=True):
        assert on_ray[4:] == pytest.approx(local[4:], rel=2e-6)
