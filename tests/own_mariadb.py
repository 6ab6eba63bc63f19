"""A MariaDB server of a test's own, which the test may SIGKILL and restart at will.

The shared server on 3306 serves every other test (and other sessions): killing it is not an
option. This one has its own data directory and port on 127.0.0.1; a restart reuses both, so
the job under test sees what an operator's restart looks like: refused connections, then the
same server with its data (InnoDB crash recovery included) and every connection and GET_LOCK
of before gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

INSTALL_DB = shutil.which("mariadb-install-db")
SERVER = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnMariaDB:
    """``start()``, ``kill()`` (SIGKILL, no warning) or ``stop()`` (a clean shutdown),
    ``start()`` again on the same data."""

    def __init__(self) -> None:
        # Not pytest's tmp_path: its parents are root-only, and the server runs as mysql.
        self.base = Path(tempfile.mkdtemp(prefix="coinlstm-mariadb-"))
        self.base.chmod(0o755)
        self.datadir = self.base / "data"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.log = self.base / "server.log"

    def install(self) -> None:
        self.datadir.mkdir()
        shutil.chown(self.datadir, "mysql", "mysql")
        subprocess.run([INSTALL_DB, "--no-defaults", f"--datadir={self.datadir}", "--user=mysql",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)

    def start(self, timeout: float = 60) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [SERVER, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", "--user=mysql", f"--socket={self.datadir}/sock",
                 "--skip-log-bin", "--innodb-buffer-pool-size=32M"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"own MariaDB did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def answers(self) -> bool:
        engine = sa.create_engine(self.server_url + "/", connect_args={"connection_timeout": 2})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.DBAPIError:
            return False
        finally:
            engine.dispose()

    def stop(self) -> None:
        """SIGTERM, as an operator's ``systemctl stop`` would: a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crash would: no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    @property
    def server_url(self) -> str:
        return f"mysql+mysqlconnector://root@127.0.0.1:{self.port}"

    def new_database(self, name: str) -> str:
        engine = sa.create_engine(self.server_url + "/")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE DATABASE " +
                                 engine.dialect.identifier_preparer.quote_identifier(name)))
        engine.dispose()
        return f"{self.server_url}/{name}"

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def own_mariadb_or_skip() -> OwnMariaDB:
    if INSTALL_DB is None or SERVER is None or os.geteuid() != 0:
        reason = "needs mariadb-install-db, mariadbd and root (the server runs as mysql)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = OwnMariaDB()
    try:
        server.install()
        server.start()
    except BaseException:
        server.close()
        raise
    return server
