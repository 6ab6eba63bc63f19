"""Shared fixtures: a real database of each kind, candles (synthetic, or the shared real
ones), a replay market on loopback, the CLI as a user runs it.

``db_url`` is parametrised over the embedded SQLite default and MySQL/MariaDB (a fresh
database per test, dropped afterwards). Under CI=true a MySQL server that does not answer
fails the MySQL tests instead of skipping them. Plain helpers are in tests/helpers.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import synthetic
from tests.helpers import SHARED_DATA, CliRunner

MYSQL_SERVER_URL = os.environ.get(
    "COINLSTM_TEST_MYSQL_URL", "mysql+mysqlconnector://root@127.0.0.1:3306")

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


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
    """The synthetic candle set of tests/synthetic.py (SYNTHnETH.csv), written once a run."""
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
    """The CLI in fresh processes (tests.helpers.CliRunner); leftovers killed at teardown."""
    runner = CliRunner()
    yield runner
    runner.close()
