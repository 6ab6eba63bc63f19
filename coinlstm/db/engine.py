"""Engines, the schema lock and the schema check on open, and the one transaction helper:
how a process reaches the database and what it turns a failure into."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from coinlstm.core.errors import BadInput, DatabaseUnavailable
from coinlstm.db.schema import metadata


def describe_url(url: str) -> str:
    """The URL as it may be printed: never with its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed database URL>"


def create_engine(url: str) -> Engine:
    """An engine that survives a MySQL restart between runs (pre-ping) and fails fast.

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
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the market job's children write while others read; foreign keys are off by
    # default in SQLite and on in InnoDB: make both behave alike.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


@contextmanager
def schema_lock(conn: Connection):
    """One process at a time checks and creates the schema. DDL commits at once on MySQL and
    runs outside a transaction with pysqlite, so neither database serialises it by itself:
    MySQL gets a named server lock per database, a SQLite file an ``flock`` on a file beside
    it (both released by the kernel or server if the holder dies)."""
    if conn.dialect.name == "sqlite":
        database = conn.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        import fcntl

        with open(f"{database}.schema.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if conn.dialect.name != "mysql":
        yield
        return
    name = f"coinlstm.schema.{conn.engine.url.database}"[:64]
    conn.execute(sa.text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": 60})
    try:
        yield
    finally:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})


def open_database(url: str, create: bool = True, retry_seconds: float = 0.0) -> Engine:
    """Connect once (so an unreachable server fails here, clearly) and ensure the schema:
    a database behind the newest revision is upgraded (coinlstm.db.migrations), one that is
    not coinlstm's to upgrade is refused in one line, before anything is written.

    ``retry_seconds``: how long a server that is down or restarting is waited for
    (coinlstm.db.retry) before this fails.
    """
    from coinlstm.db.retry import retry

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
            raise _unavailable(f"cannot use database {describe_url(url)}", exc) from None

    try:
        retry(connect, retry_seconds, f"database {describe_url(url)}")
    except BaseException:
        engine.dispose()
        raise
    return engine


def _unavailable(prefix: str, exc: DBAPIError) -> DatabaseUnavailable:
    """A DBAPI error as the one-line DatabaseUnavailable, transient when it may pass."""
    from coinlstm.db.retry import error_reason, is_transient

    return DatabaseUnavailable(f"{prefix}: {error_reason(exc)}", transient=is_transient(exc))


def add_missing_columns(conn: Connection) -> list[str]:
    """The nullable columns of the current schema the database lacks, added (the in-place
    upgrade of the releases before migrations; revision 0000a runs it on their databases)."""
    from coinlstm.db.legacy import add_missing_columns as add

    return add(conn, metadata)


def add_missing_indexes(conn: Connection) -> list[str]:
    """The indexes of the current schema the database's tables lack, created."""
    from coinlstm.db.legacy import add_missing_indexes as add

    return add(conn, metadata)


@contextmanager
def transaction(engine: Engine):
    """One transaction; database errors become a one-line DatabaseUnavailable."""
    try:
        with engine.begin() as conn:
            yield conn
    except DBAPIError as exc:
        raise _unavailable(f"database error on {describe_url(str(engine.url))}", exc) from None
