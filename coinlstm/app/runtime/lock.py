"""The market job's lock: two jobs on one database and exchange never overlap.

Cron starts the job every hour; a slow run must not be joined by the next one. The lock is
the exchange's, not the market's: a job of one market (``ETH``) and a job of several or all
(``ALL``) train overlapping pairs, crawl the same exchange within one weight budget and share
the machine's cores, so every job of an exchange on a database excludes the others. The lock must
be released when its holder dies, even by SIGKILL, so it is never a row or a file's mere
existence:

- MySQL/MariaDB: ``GET_LOCK`` on a connection held for the whole job. The server releases it
  when that connection closes, which the kernel does when the process dies.
- SQLite: ``flock`` on a file beside the database; the kernel releases it with the process.

Who holds it is read from the ``job_runs`` row of the running job (host, pid, start time).

A ``GET_LOCK`` dies with its connection, so a server restart frees it under a living job.
The job therefore re-checks its lock while it runs (:meth:`JobLock.verify`) and retakes it
after a reconnect; and a new job that gets the lock refuses to start while a ``running`` row
of the exchange (whatever its markets) names a living process on this host
(:func:`holder_alive`): that job lost its lock in a restart and is about to retake it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from coinlstm import db
from coinlstm.core.errors import CoinlstmError, DatabaseUnavailable, LockHeld, LockLost
from coinlstm.core.exchanges import split_job_name


def holder_alive(host: str, pid: int, time_start: int) -> bool:
    """Whether the process a ``job_runs`` row names still runs: only knowable on its own host
    (another host's job counts as gone once its lock is free). A pid reused by a process that
    started after the job is not the job."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    started = _process_start(pid)
    return started is None or started <= time_start + 1


def _process_start(pid: int) -> float | None:
    """Unix time the process started (Linux /proc), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def running_jobs(conn: Connection, exchange: str) -> list[sa.Row]:
    """The ``running`` job_runs rows of every job of ``exchange`` (its job keys, whatever the
    market: coinlstm.core.exchanges.job_name), newest first."""
    rows = conn.execute(sa.select(db.job_runs).where(db.job_runs.c.status == "running")
                        .order_by(db.job_runs.c.time_start.desc())).all()
    return [row for row in rows if split_job_name(row.market)[0] == exchange]


#: Seconds a job retaking its lost lock keeps trying while another connection holds it (its
#: pairs wait meanwhile). A job started while ours was away holds the lock for the moment it
#: reads who is running, then finds ours alive and lets go (JobLock._acquire_mysql): the
#: retake waits that moment out instead of taking it for another job's hold.
RETAKE_WAIT_SECONDS = 5.0


class JobLock:
    """Hold with ``with JobLock(engine, job_key):``; raises LockHeld if another job of the
    same exchange has it. ``job_key``: the job's name (``ETH``, ``ALL``, ``poloniex-ETH``)."""

    def __init__(self, engine: Engine, market: str, retry_seconds: float = 0.0) -> None:
        self.engine = engine
        self.market = market
        #: Whose lock it is: every job of this exchange takes the same one.
        self.exchange = split_job_name(market)[0]
        #: How long a lost lock's database is waited for while retaking it.
        self.retry_seconds = retry_seconds
        self._conn: Connection | None = None
        self._fd: int | None = None
        # verify() runs in the job's watcher thread, release() in the main one.
        self._guard = threading.Lock()
        #: When the lock's connection was found dead (None: not lost), and why.
        self._lost_at: float | None = None
        self._lost_why = ""
        #: When a retake first found the lost lock held by another connection.
        self._held_since: float | None = None

    @property
    def name(self) -> str:
        # GET_LOCK names are server-wide: include the database so two databases on one
        # server do not block each other. MariaDB allows 64 characters; the exchange comes
        # first so that a long database name cannot cut it off.
        database = self.engine.url.database or ""
        return f"coinlstm:{self.exchange}:{database}"[:64]

    def lock_file(self) -> Path:
        database = Path(self.engine.url.database or "coinlstm.sqlite")
        return database.with_name(f"{database.name}.{self.exchange}.lock")

    def acquire(self) -> None:
        if self.engine.dialect.name == "mysql":
            self._acquire_mysql()
        else:
            self._acquire_file()

    def _acquire_mysql(self) -> None:
        conn = self._take()
        if conn is None:
            raise LockHeld(self._held_message())
        try:
            living = self._living_holder()
        except BaseException:
            conn.close()
            raise
        if living is not None:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
            conn.close()
            raise LockHeld(f"job run {living.run_id} of market {living.market} (pid "
                           f"{living.pid} on {living.host}) is still running: its lock was "
                           "freed by a database restart and it is retaking it; not starting")
        self._conn = conn

    def _take(self) -> Connection | None:
        """A connection holding GET_LOCK, or None when another connection holds it."""
        conn = self.engine.connect()
        try:
            got = conn.execute(sa.text("SELECT GET_LOCK(:name, 0)"),
                               {"name": self.name}).scalar()
            conn.commit()
        except BaseException:
            conn.close()
            raise
        if got != 1:
            conn.close()
            return None
        return conn

    def _living_holder(self) -> sa.Row | None:
        """A ``running`` row of the exchange (not this process's) whose process still lives."""
        with self.engine.connect() as conn:
            rows = running_jobs(conn, self.exchange)
        for row in rows:
            if row.pid != os.getpid() and holder_alive(row.host, row.pid, row.time_start):
                return row
        return None

    def verify(self) -> str | None:
        """Check that the lock is still ours; once its connection is lost, try to retake it.

        Returns None while the lock is held and was not lost, a line saying what happened
        when it was lost and has just been retaken. Raises LockLost when another job took it
        meanwhile, and DatabaseUnavailable while the database does not answer (the caller
        calls again: nobody else can take the lock while the server is down). The file lock
        cannot be lost.
        """
        with self._guard:
            if self._conn is None and self._lost_at is None:
                return None  # file lock, or released
            if self._conn is not None:
                try:
                    mine = self._conn.execute(
                        sa.text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"),
                        {"name": self.name}).scalar()
                    self._conn.commit()
                    if mine == 1:
                        return None
                    self._lost_why = "the server no longer lists it as held"
                except DBAPIError as exc:
                    self._lost_why = db.error_reason(exc)
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
                self._lost_at = time.monotonic()
            try:
                conn = self._take()
            except DBAPIError as exc:
                raise DatabaseUnavailable(f"retaking the job lock: {db.error_reason(exc)}",
                                          transient=True) from None
            if conn is None:
                self._held_since = self._held_since or time.monotonic()
                if time.monotonic() - self._held_since < RETAKE_WAIT_SECONDS:
                    raise DatabaseUnavailable("retaking the job lock: another connection "
                                              "holds it for now", transient=True)
                raise LockLost(f"lost the job lock of {self._whose()} "
                               f"({self._lost_why}); {self._held_message(lost=True)}")
            self._conn = conn
            self._held_since = None
            seconds, self._lost_at = time.monotonic() - self._lost_at, None
            return (f"lost the job lock of {self._whose()} ({self._lost_why}); retook "
                    f"it after {seconds:.1f} s")

    def _acquire_file(self) -> None:
        path = self.lock_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self._held_message()) from None
        self._fd = fd

    def _held_message(self, lost: bool = False) -> str:
        """Who holds the lock (``lost``: said by the job that lost it to them)."""
        ending = "launching no more pairs" if lost else "not starting"
        with self.engine.connect() as conn:
            holder = next((row for row in running_jobs(conn, self.exchange)
                           if (row.host, row.pid) != (socket.gethostname(), os.getpid())),
                          None)
        if holder is None:
            return f"another job holds the lock of {self._whose()}; {ending}"
        return (f"another job holds the lock of {self._whose()}: run {holder.run_id} of "
                f"market {holder.market}, pid {holder.pid} on {holder.host}, started at unix "
                f"time {holder.time_start}; {ending}")

    def _whose(self) -> str:
        """The lock's name in messages: the exchange's, whatever this job's market."""
        return f"exchange {self.exchange}"

    def release(self) -> None:
        with self._guard:
            self._release_mysql()
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _release_mysql(self) -> None:
        self._lost_at = self._held_since = None
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
        except DBAPIError:
            pass  # the connection is gone, and with it the lock
        finally:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


#: Seconds between two checks that the job still holds its lock.
LOCK_CHECK_SECONDS = 1.0


class LockKeeper:
    """Watches the job's lock from a thread while the job runs and answers the executor's
    gate: pairs start while the lock is ours; while it is lost and not yet retaken (the
    database restarting) they wait, for up to the retry budget; once another job has taken
    it, none starts any more (the running ones finish)."""

    def __init__(self, lock: JobLock, retry_seconds: float) -> None:
        self.lock = lock
        self.retry_seconds = retry_seconds
        #: Why the lock is lost for good (another job has it), else None.
        self.lost: str | None = None
        self._settled = threading.Event()
        self._settled.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lock-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.retry_seconds + 30)

    def may_launch(self) -> str | None:
        if not self._settled.wait(self.retry_seconds):
            return ("not started: the database did not answer within "
                    f"{self.retry_seconds:g} s and the job lock is not retaken")
        return None if self.lost is None else f"not started: {self.lost}"

    def _watch(self) -> None:
        while not self._stop.wait(LOCK_CHECK_SECONDS):
            try:
                said = self.lock.verify()
            except LockLost as exc:
                self.lost = str(exc)
                self._settled.set()
                print(f"{exc}; the running pairs finish", flush=True)
                return
            except CoinlstmError as exc:  # the database is still away: try again
                if self._settled.is_set():
                    print(f"job lock connection lost ({exc}); pairs wait until it is "
                          "retaken", flush=True)
                self._settled.clear()
                continue
            if said is not None:
                print(said, flush=True)
            self._settled.set()


@contextmanager
def keeping(keeper: LockKeeper | None):
    if keeper is None:
        yield
        return
    keeper.start()
    try:
        yield
    finally:
        keeper.stop()
