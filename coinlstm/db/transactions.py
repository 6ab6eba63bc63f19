"""One transaction, and a transaction or a read retried as a unit: the database steps that
must hold together (all-or-nothing) and survive a server restart (coinlstm.db.retry)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from coinlstm.db.engine import describe_url
from coinlstm.db.retry import error_number, retry, unavailable

T = TypeVar("T")


@contextmanager
def transaction(engine: Engine):
    """One transaction; database errors become a one-line DatabaseUnavailable."""
    try:
        with engine.begin() as conn:
            yield conn
    except DBAPIError as exc:
        raise unavailable(f"database error on {describe_url(str(engine.url))}", exc) from None


def retry_transaction(engine: Engine, work: Callable[[Connection], T], seconds: float,
                      what: str = "database transaction") -> T:
    """``work(conn)`` in one transaction, the whole transaction retried as a unit."""

    def once() -> T:
        with transaction(engine) as conn:
            return work(conn)

    return retry(once, seconds, what)


def retry_read(engine: Engine, work: Callable[[Connection], T], seconds: float,
               what: str = "database read") -> T:
    """``work(conn)`` on a fresh connection, retried as a unit (for reads)."""

    def once() -> T:
        with engine.connect() as conn:
            return work(conn)

    return retry(once, seconds, what)


#: MySQL's "deadlock found" and "lock wait timeout": the transaction lost to another one.
LOST_TO_ANOTHER = frozenset({1205, 1213})


def retry_deadlocks(engine: Engine, work: Callable[[Connection], T], attempts: int = 5,
                    what: str = "database transaction") -> T:
    """``work(conn)`` in one transaction, run again (whole) when InnoDB chose it as a
    deadlock victim or its lock wait timed out; any other failure is raised at once, as
    :func:`transaction` raises it. For writers that contend only with each other (a crawl's
    pairs), so a few quick attempts are enough."""
    attempt = 1
    while True:
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts or error_number(exc) not in LOST_TO_ANOTHER:
                raise unavailable(f"{what}: database error on {describe_url(str(engine.url))}",
                                  exc) from None
        time.sleep(0.05 * attempt)
        attempt += 1
