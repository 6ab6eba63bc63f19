"""Shared fixtures: a real database of each kind, the shared real candles, helpers.

``db_url`` is parametrised over the embedded SQLite default and MySQL/MariaDB (a fresh
database per test, dropped afterwards). Under CI=true a MySQL server that does not answer
fails the MySQL tests instead of skipping them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "binance-1h"
MYSQL_SERVER_URL = os.environ.get(
    "COINLSTM_TEST_MYSQL_URL", "mysql+mysqlconnector://root@127.0.0.1:3306")
ETH_PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH",
             "TRXETH", "XRPETH")

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


def mysql_reason() -> str | None:
    if not _MYSQL_REASON:
        _MYSQL_REASON.append(_mysql_unavailable_reason())
    return _MYSQL_REASON[0]


def _require_mysql() -> None:
    reason = mysql_reason()
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


def fingerprint(url: str) -> dict[str, int]:
    """Row counts of every table: equal before and after means 'the database is unchanged'."""
    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return db.table_fingerprint(conn)
    finally:
        engine.dispose()


def read_csv_rows(path: Path, limit: int | None = None, tail: bool = False) -> list[list[str]]:
    """A kline CSV's rows as the text fields Binance wrote (what tests compare against)."""
    lines = path.read_text().splitlines()
    if limit is not None:
        lines = lines[-limit:] if tail else lines[:limit]
    return [line.split(",") for line in lines if line]


def write_sample(src: Path, dest_dir: Path, rows: int, tail: bool = False) -> Path:
    """Copy the first (or last) ``rows`` candles of a shared CSV: small real data for tests."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    lines = src.read_text().splitlines()
    chosen = lines[-rows:] if tail else lines[:rows]
    dest.write_text("\n".join(chosen) + "\n")
    return dest


def run_cli(*args: str, env: dict | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m coinlstm ARGS`` as a user would, in a fresh process."""
    full_env = dict(os.environ)
    full_env.setdefault("COINLSTM_HOME", str(cwd or REPO))
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "coinlstm", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=str(cwd or REPO))
