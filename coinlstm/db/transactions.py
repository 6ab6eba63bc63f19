"""One transaction, and a transaction or a read retried as a unit: the database steps that
must hold together (all-or-nothing) and survive a server restart (coinlstm.db.retry)."""

from __future__ import annotations

import threading
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


class GroupCommit:
    """Writes of many threads, committed together: each caller's ``work`` runs whole inside
    one transaction shared with the works that arrived while the previous one was written.

    Why: a commit is a disk sync (SQLite's WAL, InnoDB's log), and a crawl of a wide market
    makes one small write a pair; one after another (SQLite takes one writer at a time) their
    syncs cost more than the crawl's requests (docs/benchmarks.md). Grouped, one sync serves
    every write that was waiting for it.

    No thread of its own: the caller that finds fewer than ``writers`` groups under way
    writes everything queued (its own work and the others'), the rest wait for a writer and
    get their own result back. SQLite takes one writer at a time (``writers`` 1, the
    default); a MySQL server takes several transactions at once and syncs their commits
    together itself, so there as many writers as threads write side by side and the groups
    form only when they are all busy (with one writer, every write's statements would wait
    for one connection's round trips).
    A work is all-or-nothing with its group: when the transaction fails every caller of the
    group gets the error, nothing of any of them is stored. A group is retried whole when
    InnoDB chose it as a deadlock victim (:func:`retry_deadlocks`). The caller returns only
    once its work is committed, so a thread's works are committed in the order it made them.
    """

    def __init__(self, engine: Engine, what: str = "database transaction", writers: int = 1):
        self.engine, self.what, self.writers = engine, what, writers
        self._cond = threading.Condition()
        self._queue: list[_Queued] = []
        self._writing = 0
        #: Transactions committed and works written (the two differ by the grouping).
        self.commits = 0
        self.works = 0

    @property
    def waiting(self) -> int:
        """Works queued for the next group (the one being written not counted)."""
        with self._cond:
            return len(self._queue)

    def write(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` committed (with whatever else is queued); its result."""
        mine = _Queued(work)
        with self._cond:
            self._queue.append(mine)
            # A work another writer has taken is waited for, not written again.
            while (self._writing >= self.writers or mine.taken) and not mine.done:
                self._cond.wait()
            if mine.done:
                return mine.outcome()
            self._writing += 1
            group, self._queue = self._queue, []
            for queued in group:
                queued.taken = True
        try:
            results = retry_deadlocks(self.engine, lambda conn: [q.work(conn) for q in group],
                                      what=self.what)
        except BaseException as exc:
            for queued in group:
                queued.error = exc
        else:
            for queued, result in zip(group, results, strict=True):
                queued.result = result
        with self._cond:
            for queued in group:
                queued.done = True
            self.commits += 1
            self.works += len(group)
            self._writing -= 1
            self._cond.notify_all()
        return mine.outcome()


class _Queued:
    """One caller's work in a :class:`GroupCommit`, and what came of it."""

    def __init__(self, work: Callable[[Connection], object]):
        self.work = work
        self.taken = self.done = False
        self.result: object = None
        self.error: BaseException | None = None

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result
