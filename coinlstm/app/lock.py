"""The market job's lock: two runs on one database and market never overlap.

Cron starts the job every hour; a slow run must not be joined by the next one. The lock must
be released when its holder dies, even by SIGKILL, so it is never a row or a file's mere
existence:

- MySQL/MariaDB: ``GET_LOCK`` on a connection held for the whole job. The server releases it
  when that connection closes, which the kernel does when the process dies.
- SQLite: ``flock`` on a file beside the database; the kernel releases it with the process.

Who holds it is read from the ``job_runs`` row of the running job (host, pid, start time).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from coinlstm import db
from coinlstm.core.errors import LockHeld


class JobLock:
    """Hold with ``with JobLock(engine, market):``; raises LockHeld if another job has it."""

    def __init__(self, engine: Engine, market: str) -> None:
        self.engine = engine
        self.market = market
        self._conn: Connection | None = None
        self._fd: int | None = None

    @property
    def name(self) -> str:
        # GET_LOCK names are server-wide: include the database so two databases on one
        # server do not block each other. MariaDB allows 64 characters.
        database = self.engine.url.database or ""
        return f"coinlstm:{database}:{self.market}"[:64]

    def lock_file(self) -> Path:
        database = Path(self.engine.url.database or "coinlstm.sqlite")
        return database.with_name(f"{database.name}.{self.market}.lock")

    def acquire(self) -> None:
        if self.engine.dialect.name == "mysql":
            self._acquire_mysql()
        else:
            self._acquire_file()

    def _acquire_mysql(self) -> None:
        conn = self.engine.connect()
        got = conn.execute(sa.text("SELECT GET_LOCK(:name, 0)"), {"name": self.name}).scalar()
        conn.commit()
        if got != 1:
            conn.close()
            raise LockHeld(self._held_message())
        self._conn = conn

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

    def _held_message(self) -> str:
        with self.engine.connect() as conn:
            holder = conn.execute(
                sa.select(db.job_runs).where(db.job_runs.c.market == self.market,
                                             db.job_runs.c.status == "running")
                .order_by(db.job_runs.c.time_start.desc()).limit(1)).first()
        if holder is None:
            return f"another job holds the lock of market {self.market}; not starting"
        return (f"another job holds the lock of market {self.market}: run {holder.run_id}, "
                f"pid {holder.pid} on {holder.host}, started at unix time "
                f"{holder.time_start}; not starting")

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.name})
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()
