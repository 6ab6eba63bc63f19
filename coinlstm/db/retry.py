"""Transient database errors are waited out, not fatal: the one retry loop of the project.

A MySQL server that restarts under the hourly job refuses connections for a few seconds and
drops every open one; a busy InnoDB answers a lock wait timeout or picks a deadlock victim.
Each of these passes by itself, so every database step of the market job's driver and of a
pair's process goes through :func:`retry`: the step is repeated with a growing pause until it
succeeds or ``seconds`` have passed since the first failure, and only then counts as one.

A retried step must be safe to repeat. The writes that go through here are: one transaction
(rolled back by the server when its connection dies, so a repeat starts clean) whose rows are
idempotent per run id (a commit whose answer was lost is found by the repeat, which writes
nothing: coinlstm.db.results.write_training_result).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from coinlstm.core.errors import DatabaseUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

#: MySQL/MariaDB error numbers that pass by themselves: server gone or restarting, lock
#: contention. 2002/2003 can't connect (socket, TCP: refused while the server starts),
#: 2006 server has gone away, 2013 lost connection during query, 2055 lost connection
#: (system error), 1053 server shutdown in progress, 1205 lock wait timeout, 1213 deadlock,
#: 1927 connection killed (MariaDB), 4031 disconnected by the server (MySQL 8).
TRANSIENT_MYSQL_ERRORS = frozenset({1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055,
                                    4031})
#: SQLite's answers when another process holds the file's write lock past busy_timeout.
TRANSIENT_SQLITE_TEXT = ("database is locked", "database table is locked")
#: First pause after a failure and the longest one (seconds): short enough that the job
#: notices a restarted server within a second, long enough not to hammer a dead one.
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 1.0


def error_number(exc: BaseException) -> int | None:
    """The server's error number of a DBAPI error (mysql-connector: errno; PyMySQL: args[0])."""
    orig = getattr(exc, "orig", exc)
    number = getattr(orig, "errno", None)
    if number is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        number = orig.args[0]
    return number if isinstance(number, int) else None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may pass by itself if the same step is tried again a little later."""
    if isinstance(exc, DatabaseUnavailable):
        return exc.transient
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or error_number(exc) in TRANSIENT_MYSQL_ERRORS:
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in TRANSIENT_SQLITE_TEXT)


def error_reason(exc: BaseException) -> str:
    """The first line of the driver's message: what a user sees of a database error."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return (str(exc.orig).splitlines() or [""])[0]
    return (str(exc).splitlines() or [""])[0]


def unavailable(prefix: str, exc: DBAPIError) -> DatabaseUnavailable:
    """A DBAPI error as the one-line DatabaseUnavailable, transient when it may pass."""
    return DatabaseUnavailable(f"{prefix}: {error_reason(exc)}", transient=is_transient(exc))


def retry(step: Callable[[], T], seconds: float, what: str = "database step") -> T:
    """``step()``, repeated while it fails transiently, for up to ``seconds`` after the first
    failure. A non-transient error is raised at once; a transient one that outlasts the budget
    is raised as a one-line :class:`DatabaseUnavailable` naming the wait."""
    deadline: float | None = None
    pause = FIRST_PAUSE
    while True:
        try:
            return step()
        except (DBAPIError, DatabaseUnavailable) as exc:
            if not is_transient(exc):
                raise
            now = time.monotonic()
            # A DatabaseUnavailable already says what failed; a raw error gets ``what``.
            message = (str(exc) if isinstance(exc, DatabaseUnavailable)
                       else f"{what}: {error_reason(exc)}")
            if deadline is None:
                deadline = now + seconds
                if seconds > 0:
                    log.warning("%s; retrying for up to %g s", message, seconds)
            if now >= deadline:
                if seconds > 0:
                    message = f"{message} (still failing after {seconds:g} s of retries)"
                raise DatabaseUnavailable(message, transient=True) from None
            time.sleep(min(pause, deadline - now))  # the last try falls on the deadline
            pause = min(pause * 2, LONGEST_PAUSE)
