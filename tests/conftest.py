"""Shared fixtures: a real database of each kind, candles (synthetic, or the shared real
ones), a replay market on loopback, the CLI as a user runs it.

``db_url`` is parametrised over the embedded SQLite default and MySQL/MariaDB (a fresh
database per test, dropped afterwards). Under CI=true a MySQL server that does not answer
fails the MySQL tests instead of skipping them. Plain helpers are in tests/helpers.py.

Under pytest-xdist (``make test`` runs the integration tier with ``-n TEST_WORKERS``) every
worker has its own COINLSTM_HOME (tests.helpers.TEST_HOME) but one compiled-steps store and
one JAX compile cache for all (tests.helpers.SHARED_STEPS and SHARED_JAX, linked into each
home; the tests that run with a home of their own link its caches to them where the caches are
not what they test: tests.helpers.share_caches), its own temporary folders
(``tmp_path_factory``: the synthetic candles are written once per worker) and its own MySQL
databases (random names); ports are the OS's free ones. The slowest tests are handed out first
(``pytest_collection_modifyitems``), so that the run does not end on one long test.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import synthetic
from tests.helpers import (
    SHARED_DATA,
    SHARED_JAX,
    SHARED_STEPS,
    TEST_HOME,
    XDIST_WORKER,
    CliRunner,
    link_folder,
)

MYSQL_SERVER_URL = os.environ.get(
    "COINLSTM_TEST_MYSQL_URL", "mysql+mysqlconnector://root@127.0.0.1:3306")

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Every process the tests start loads the fault hooks (tests/child_hooks/coinlstm_faults.py,
# through its sitecustomize): they do nothing unless a test sets their variables.
CHILD_HOOKS = Path(__file__).parent / "child_hooks"
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(CHILD_HOOKS), os.environ.get("PYTHONPATH")]))
if XDIST_WORKER:
    # Inherited by every command the worker's tests start without a home of their own
    # (run_all.py, the CLI, the Ray cluster's workers).
    TEST_HOME.mkdir(parents=True, exist_ok=True)
    os.environ["COINLSTM_HOME"] = str(TEST_HOME)


# JAX's persistent compile cache, made shareable by every home of the run (the workers', and the
# own homes that tests.helpers.share_caches links to a worker's). These variables configure JAX in
# every process the tests start (the package sets only the cache's folder and thresholds):
# - no GPU-only XLA caches: their folder, under the cache's, is part of every entry's key
#   (even on CPU), so a home whose cache is reached through another path (a link) never hit
#   an entry another home wrote;
# - a size limit, so large that nothing is evicted, turns on JAX's file lock around every read
#   and write of an entry (without one JAX writes an entry in place, and a process of another
#   worker could read it half-written). The lock is the ``filelock`` package's: without it
#   (an install without the dev extras' Ray and torch) each worker keeps a cache of its own.
os.environ["JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES"] = "none"
SHARE_JAX = importlib.util.find_spec("filelock") is not None
if SHARE_JAX:
    os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(64 << 30)


if XDIST_WORKER:
    # The compiled train steps (written atomically: train/steps/cache.py) and JAX's cache
    # (under its lock) of every worker are one: what one worker compiled the others load.
    link_folder(TEST_HOME / ".cache" / "steps", SHARED_STEPS)
    if SHARE_JAX:
        link_folder(TEST_HOME / ".cache" / "jax", SHARED_JAX)

#: The longest tests, slowest first, handed out first under xdist; then the other ``slow``
#: ones, then the rest in file order. From the per-test times (setup + call, ``--durations``)
#: of a cold run of the tier under xdist (-n 4); the order is what counts. A list gone stale
#: costs wall time only. docs/development.md has the figures.
LONGEST_FIRST = (
    "tests/integration/test_refit_day.py::"
    "test_a_day_of_the_job_refits_no_more_than_its_share_of_pairs_an_hour",
    "tests/integration/test_ray.py::test_pairs_survive_a_killed_worker_node",
    "tests/integration/test_train_models.py::"
    "test_every_model_trains_stores_and_reloads[tensorflow]",
    "tests/integration/test_shared_recipes.py::test_poloniex_256_in_16_out_the_zoo_with_dropout",
    "tests/integration/test_ray.py::test_backfill_on_ray_stores_the_rows_of_subprocesses",
    "tests/integration/test_market_job.py::test_failed_and_timed_out_pairs_do_not_stop_the_others",
    "tests/integration/test_soak.py::"
    "test_soak_survives_killed_driver_and_pair_and_catches_a_planted_duplicate",
    "tests/integration/test_exchange_recipes.py::test_poloniex_5m_256_in_16_out_cnn_lstm_leaky_gru",
    "tests/integration/test_backfill.py::"
    "test_a_killed_backfill_rerun_ends_as_an_uninterrupted_one_and_a_rerun_adds_nothing",
    "tests/integration/test_train_models.py::test_every_model_trains_stores_and_reloads[jax]",
    "tests/integration/test_demo.py::test_demo_replays_hours_and_scores_each_previous_forecast",
    "tests/integration/test_outages.py::test_lock_retaken_after_restart_and_second_job_refused",
    "tests/integration/test_ray.py::test_evaluate_runs_its_training_tasks_on_ray",
    "tests/integration/test_markets.py::test_all_markets_in_one_job",
    "tests/integration/test_outages.py::test_full_or_read_only_artifacts_disk[read-only]",
    "tests/integration/test_train.py::test_training_writes_rows_matching_its_result[sqlite-jax]",
    "tests/integration/test_ray.py::test_ray_executor_writes_the_same_rows_as_subprocesses",
    "tests/integration/test_compiled_steps.py::test_a_damaged_cached_step_is_compiled_again",
    "tests/integration/test_outages.py::test_server_down_longer_than_the_retry_budget",
    "tests/integration/test_crawl.py::"
    "test_sigkill_at_random_points_then_rerun_gives_exactly_the_source[mysql]",
    "tests/integration/test_crawl.py::"
    "test_sigkill_at_random_points_then_rerun_gives_exactly_the_source[sqlite]",
    "tests/integration/test_outages.py::test_full_or_read_only_artifacts_disk[full]",
    "tests/integration/test_seams.py::"
    "test_a_formulation_of_this_module_trains_forecasts_and_evaluates",
    "tests/integration/test_evaluate.py::test_evaluate_cli_end_to_end",
    "tests/integration/test_outages.py::test_server_killed_for_five_seconds_while_pairs_train",
    "tests/integration/test_train.py::"
    "test_training_writes_rows_matching_its_result[sqlite-tensorflow]",
    "tests/integration/test_outages.py::test_lock_lost_to_another_holder_stops_launching",
    "tests/integration/test_evaluate_sweep.py::"
    "test_a_sweep_runs_every_value_and_summarises_skill_per_value",
    "tests/integration/test_compiled_fit_zoo.py::"
    "test_the_compiled_fit_of_every_network_equals_keras_fit[lstm-leaky]",
    "tests/integration/test_train.py::test_sigkill_while_saving_leaves_the_previous_model",
    "tests/integration/test_crawl_concurrent.py::test_the_weight_budget_holds_across_threads",
    "tests/integration/test_compiled_fit_zoo.py::"
    "test_the_compiled_fit_of_every_network_equals_keras_fit[lstm]",
    "tests/integration/test_train.py::"
    "test_training_writes_rows_matching_its_result[mysql-tensorflow]",
    "tests/integration/test_exchange_recipes.py::"
    "test_coingecko_daily_prices_reference_lstm_on_torch",
    "tests/integration/test_market_job.py::test_a_forked_pair_trains_as_a_fresh_process_does",
    "tests/integration/test_outages.py::"
    "test_signal_closes_the_run_and_the_next_run_abandons_a_killed_one",
    "tests/integration/test_compiled_steps.py::"
    "test_compiled_steps_fine_tune_exactly_as_keras_fit_does",
    "tests/integration/test_shared_recipes.py::test_coingecko_daily_reference_lstm_on_torch",
    "tests/integration/test_warm_start.py::"
    "test_evaluate_scores_the_warm_schedule_beside_the_full_one",
    "tests/integration/test_layers.py::"
    "test_the_regularisers_are_on_their_layers_and_stored_with_the_model",
    "tests/integration/test_evaluate_horizon.py::"
    "test_evaluate_horizon_scores_every_step_against_naive",
    "tests/integration/test_market_job.py::"
    "test_job_trains_every_pair_and_report_matches_database[sqlite]",
)


def pytest_collection_modifyitems(config, items):
    """Under xdist, the slowest tests first: a worker that draws a long test at the end keeps
    the whole run waiting. Every worker collects and sorts alike (xdist requires the same
    order on all of them). A serial run keeps pytest's file order."""
    if not XDIST_WORKER:
        return
    longest = {nodeid: rank for rank, nodeid in enumerate(LONGEST_FIRST)}

    def rank(item) -> tuple[int, int]:
        if item.nodeid in longest:
            return (0, longest[item.nodeid])
        return (1 if item.get_closest_marker("slow") else 2, 0)

    items.sort(key=rank)  # stable: file order within each rank


def _mysql_unavailable_reason() -> str | None:
    try:
        engine = sa.create_engine(MYSQL_SERVER_URL + "/", connect_args={"connection_timeout": 5})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: no usable server
        return f"MySQL at {MYSQL_SERVER_URL} unavailable: {str(exc).splitlines()[0]}"


_MYSQL_REASON: list[str | None] = []


def _mysql_reason() -> str | None:
    if not _MYSQL_REASON:
        _MYSQL_REASON.append(_mysql_unavailable_reason())
    return _MYSQL_REASON[0]


def _require_mysql() -> None:
    reason = _mysql_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: MySQL tests may not be skipped)")
    pytest.skip(reason)


def _quote(engine: sa.Engine, name: str) -> str:
    # Identifiers cannot be bound parameters; the name is ours (hex) and quoted by the dialect.
    return engine.dialect.identifier_preparer.quote_identifier(name)


@pytest.fixture
def mysql_url():
    """A fresh, empty MySQL database for one test; dropped afterwards."""
    _require_mysql()
    name = "coinlstm_t_" + secrets.token_hex(6)
    server = sa.create_engine(MYSQL_SERVER_URL + "/")
    with server.begin() as conn:
        conn.execute(sa.text("CREATE DATABASE " + _quote(server, name)))
    try:
        yield f"{MYSQL_SERVER_URL}/{name}"
    finally:
        with server.begin() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS " + _quote(server, name)))
        server.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'coinlstm.sqlite'}"


@pytest.fixture(params=["sqlite", "mysql"])
def db_url(request, tmp_path):
    """Each test that takes ``db_url`` runs on both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coinlstm.sqlite'}"
    return request.getfixturevalue("mysql_url")


@pytest.fixture
def shared_data() -> Path:
    """The real Binance candles of ../shared/data/binance-1h (skip where they are absent)."""
    if not (SHARED_DATA / "ADAETH.csv").is_file():
        pytest.skip(f"real candles not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def synthetic_candles(tmp_path_factory) -> Path:
    """The synthetic candle set of tests/synthetic.py (SYNTHnETH.csv), written once a run (under
    xdist once per worker, in its own basetemp: 0.2 s, no folder shared between workers)."""
    return synthetic.write_candle_set(tmp_path_factory.mktemp("synthetic-candles"))


@pytest.fixture
def replay_market():
    """Start ``crawl.replay.ReplayServer(folder, **options)`` on 127.0.0.1:
    ``replay_market(folder, now=...)`` returns the running server; every server started is
    stopped at teardown (``server.stop()`` may end one earlier)."""
    from crawl.replay import ReplayServer

    servers = []

    def start(folder: Path, **options) -> ReplayServer:
        server = ReplayServer(folder, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def cli():
    """The CLI as a user runs it (tests.helpers.CliRunner); leftovers killed at teardown."""
    runner = CliRunner()
    yield runner
    runner.close()
