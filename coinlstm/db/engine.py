"""Engines and the schema check on open: how a process reaches the database. The schema
lock is in :mod:`coinlstm.db.locking`, transactions and their retries in
:mod:`coinlstm.db.transactions`."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from coinlstm.core.errors import BadInput
from coinlstm.db import legacy
from coinlstm.db.locking import schema_lock
from coinlstm.db.retry import retry, unavailable
from coinlstm.db.schema import metadata


def describe_url(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed database URL>"


def create_engine(url: str, durable: bool = True) -> Engine:
    """An engine that survives a MySQL restart between runs (pre-ping) and fails fast.

    ``durable=False`` (SQLite only): a commit is not synced to disk (WAL with ``synchronous
    NORMAL``). A process crash loses nothing and the file stays consistent; an operating
    system's crash may lose the last commits. For writers that redo what is lost on their
    own: the backfill, whose rerun replays missing hours. MySQL's flush policy is the
    server's (a global setting), not a session's: unchanged there.

    A malformed URL or a missing driver is the user's input: BadInput. The connection itself is
    not opened here; :func:`connect` does that and maps failures to DatabaseUnavailable.
    """
    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError:
        raise BadInput(f"malformed database URL {url!r}") from None
    kwargs: dict = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60}
    elif parsed.get_backend_name() == "mysql":
        kwargs["pool_recycle"] = 3600
        if parsed.get_driver_name() == "mysqlconnector":
            kwargs["connect_args"] = {"connection_timeout": 10}
    try:
        engine = sa.create_engine(url, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise BadInput(f"unusable database URL {describe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect",
                        _sqlite_pragmas if durable else _sqlite_pragmas_unsynced)
    return engine


def _sqlite_pragmas(dbapi_connection, _record, durable: bool = True) -> None:
    # WAL lets the market job's children write while others read; foreign keys are off by
    # default in SQLite and on in InnoDB: make both behave alike. In WAL mode FULL syncs at
    # every commit, NORMAL at checkpoints only.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_pragmas_unsynced(dbapi_connection, record) -> None:
    _sqlite_pragmas(dbapi_connection, record, durable=False)


def open_database(url: str, create: bool = True, retry_seconds: float = 0.0,
                  durable: bool = True) -> Engine:
    """Connect once (so an unreachable server fails here, clearly) and ensure the schema:
    a database behind the newest revision is upgraded (coinlstm.db.migrations), one that is
    not coinlstm's to upgrade is refused in one line, before anything is written.

    ``retry_seconds``: how long a server that is down or restarting is waited for
    (coinlstm.db.retry) before this fails.
    """
    engine = create_engine(url)

    def connect() -> None:
        try:
            with engine.connect() as conn:
                if create:
                    # Alembic is imported only here: a pair process opening a database its
                    # driver made ready (create=False) never pays for it.
                    from coinlstm.db.migrations import ensure_schema

                    with schema_lock(conn):
                        ensure_schema(conn)
                        # Committed before the lock is released: the next process to take
                        # it must see the version row, or it upgrades the database again.
                        conn.commit()
                else:
                    conn.execute(sa.text("SELECT 1"))
        except DBAPIError as exc:
            raise unavailable(f"cannot use database {describe_url(url)}", exc) from None

    try:
        retry(connect, retry_seconds, f"database {describe_url(url)}")
    except BaseException:
        engine.dispose()
        raise
    return engine


def add_missing_columns(conn: Connection) -> list[str]:
    """The nullable columns of the current schema the database lacks, added (the in-place
    upgrade of the releases before migrations; revision 0000a runs it on their databases)."""
    return legacy.add_missing_columns(conn, metadata)


def add_missing_indexes(conn: Connection) -> list[str]:
    """The indexes of the current schema the database's tables lack, created."""
    return legacy.add_missing_indexes(conn, metadata)
