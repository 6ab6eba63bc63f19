"""The schema lock: one process at a time checks, creates or adopts the schema."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection


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
