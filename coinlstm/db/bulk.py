"""Reads of many rows as the driver's plain tuples, for the scoring pass's month of every
series (hundreds of thousands of rows an hour).

Two costs dominate such a read, and both are cut here:

- A SQLAlchemy ``Row`` per row costs more than the driver's own fetch, and the pass only
  transposes the rows into columns: the rows are taken from the cursor as they are.
- MySQL's text protocol sends every DOUBLE as decimal text, which the server formats and the
  client parses again. On mysql-connector the statement runs as a server-side prepared
  statement, whose binary protocol sends the 8 bytes of each double: the same values,
  without the text (docs/mysql.md has the measurement).

A caller that keeps the values in a smaller form (numpy columns) reads them in chunks
(:func:`fetch_in_chunks`), so a whole result is never held as tuples at once.

Elsewhere the statement goes through the connection's ``execute`` as any other. On MySQL it
runs on the same connection, so in the same transaction, and a driver error is raised as
SQLAlchemy's wrapped one, so the retry logic (coinlstm.db.retry) tells a lost server as it
does for every other statement.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Tuples:
    """A result's rows as the driver returned them, with their column names. The values are
    the driver's: no SQLAlchemy result processing (a Boolean column reads as 0/1 or None on
    SQLite and MySQL, not as bool)."""

    names: tuple[str, ...]
    rows: Sequence[tuple]

    def named(self) -> list[tuple]:
        """The rows as named tuples (``row.name``), for a read of few rows."""
        row = namedtuple("Row", self.names, rename=True)
        return [row._make(values) for values in self.rows]

    def key(self, *names: str) -> itemgetter:
        """An itemgetter of the named columns, for sorting and grouping the rows."""
        return itemgetter(*(self.names.index(name) for name in names))


def fetch_tuples(conn: Connection, statement: sa.Select) -> Tuples:
    """``statement``'s rows as :class:`Tuples`."""
    with _cursor(conn, statement) as (names, cursor):
        return Tuples(names, cursor.fetchall() if cursor is not None else [])


def fetch_in_chunks(conn: Connection, statement: sa.Select, rows: int) -> Iterator[Tuples]:
    """``statement``'s rows as :class:`Tuples` of at most ``rows`` rows each, in order: a
    caller that turns them into something smaller (numeric arrays) never holds the whole
    result as tuples, each of which costs about 200 bytes for five numbers. Read it to its
    end (its cursor is closed then)."""
    with _cursor(conn, statement) as (names, cursor):
        while cursor is not None and (batch := cursor.fetchmany(rows)):
            yield Tuples(names, batch)


@contextlib.contextmanager
def _cursor(conn: Connection, statement: sa.Select) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(column names, a DBAPI cursor holding the executed ``statement``; None for a
    statement that returns no rows), closed on leaving."""
    if conn.dialect.driver == "mysqlconnector":
        with _prepared(conn, statement) as found:
            yield found
        return
    result = conn.execute(statement)
    try:
        yield tuple(result.keys()), result.cursor
    finally:
        result.close()


@contextlib.contextmanager
def _prepared(conn: Connection, statement: sa.Select
              ) -> Iterator[tuple[tuple[str, ...], Any]]:
    """On mysql-connector: the statement as a server-side prepared statement (the binary
    protocol), on the connection's own DBAPI connection (its transaction)."""
    compiled = statement.compile(dialect=conn.dialect,
                                 compile_kwargs={"render_postcompile": True})
    sql, params = str(compiled), compiled.params
    dbapi, driver, cursor = conn.dialect.loaded_dbapi, conn.connection.driver_connection, None
    try:
        cursor = driver.cursor(cursor_class=_prepared_cursor_class(driver))
        cursor.execute(sql, params)
        yield tuple(column[0] for column in cursor.description), cursor
    except dbapi.Error as exc:
        # As SQLAlchemy does for its own statements: a connection the server dropped is
        # invalidated (not given back to the pool) and the error says so. The driver's
        # pure-Python protocol words a dropped connection in a way SQLAlchemy does not
        # know, so the connection itself is asked as well.
        lost = conn.dialect.is_disconnect(exc, driver, cursor) or not driver.is_connected()
        if lost:
            conn.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error,
                                         connection_invalidated=lost) from exc
    finally:
        if cursor is not None and not conn.invalidated:
            cursor.close()


def _prepared_cursor_class(driver) -> type:
    """mysql-connector's prepared cursor for ``driver``'s kind of connection (its C extension's
    or its pure-Python one): the connection SQLAlchemy opened is buffered, and the driver
    offers no buffered prepared cursor by the keyword arguments."""
    try:
        from mysql.connector.connection_cext import CMySQLConnection
        from mysql.connector.cursor_cext import CMySQLCursorPrepared
    except ImportError:  # the driver without its C extension
        CMySQLConnection = CMySQLCursorPrepared = None  # noqa: N806
    if CMySQLConnection is not None and isinstance(driver, CMySQLConnection):
        return CMySQLCursorPrepared
    from mysql.connector.cursor import MySQLCursorPrepared

    return MySQLCursorPrepared


__all__ = ["Tuples", "fetch_in_chunks", "fetch_tuples"]
