"""The dashboard's guard parts without a server: sessions that expire and end, the
wrong-token limit, the Host names answered, the token's sources, the constant-time
comparison, and a SQLite database the dashboard cannot write to."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from coinlstm.app.commands import serve
from coinlstm.app.web import auth
from coinlstm.app.web.hosts import AllowedHosts
from coinlstm.app.web.server import read_engine
from coinlstm.core.config import ENV_SERVE_ALLOWED_HOSTS, ENV_SERVE_TOKEN
from coinlstm.core.errors import BadInput


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_expires_and_a_logout_ends_it():
    clock = Clock()
    sessions = auth.Sessions(lifetime_s=60, clock=clock)
    first, second = sessions.issue(), sessions.issue()
    assert first != second and len(first) >= 40
    assert sessions.valid(first) and sessions.valid(second)
    assert not sessions.valid("") and not sessions.valid(first + "x")
    sessions.end(first)
    assert not sessions.valid(first) and sessions.valid(second)
    clock.now += 59
    assert sessions.valid(second)
    clock.now += 1
    assert not sessions.valid(second)


def test_wrong_tokens_lock_an_address_out_until_the_oldest_ages_out():
    clock = Clock()
    limiter = auth.FailureLimiter(max_failures=3, window_s=60, clock=clock)
    for _ in range(2):
        limiter.fail("10.0.0.1")
        clock.now += 10
    assert limiter.retry_after("10.0.0.1") is None
    limiter.fail("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 40  # the first failure was 20 s ago
    assert limiter.retry_after("10.0.0.2") is None  # per address
    clock.now += 40
    assert limiter.retry_after("10.0.0.1") is None


def test_the_token_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(given, expected):
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    guard = auth.Auth("s3cret-token")
    assert guard.matches("s3cret-token") and not guard.matches("s3cret-tokeN")
    assert len(calls) == 2


@pytest.mark.parametrize(("bind", "header", "accepted"), [
    ("127.0.0.1", "127.0.0.1:8000", True), ("127.0.0.1", "localhost", True),
    ("127.0.0.1", "LOCALHOST.:8000", True), ("127.0.0.1", "[::1]:8000", True),
    ("::1", "[::1]", True), ("127.0.0.1", "evil.example", False),
    ("127.0.0.1", "evil.example:8000", False), ("127.0.0.1", "127.0.0.1:80x", False),
    ("127.0.0.1", "127.0.0.1@evil.example", False), ("127.0.0.1", "", False),
    ("127.0.0.1", None, False), ("192.0.2.7", "192.0.2.7:8000", True),
    ("192.0.2.7", "127.0.0.1", False), ("0.0.0.0", "dash.example", True),
    ("0.0.0.0", "dash.example:443", True), ("0.0.0.0", "other.example", False),
])
def test_the_host_names_answered(bind, header, accepted):
    hosts = AllowedHosts(bind, ("Dash.Example",))
    assert hosts.accepts(header) is accepted


def test_allowed_hosts_come_from_the_flag_and_the_environment():
    hosts = serve.allowed_hosts("0.0.0.0", "a.example, b.example",
                                {ENV_SERVE_ALLOWED_HOSTS: "c.example"})
    assert {"a.example", "b.example", "c.example", "localhost"} <= hosts.names
    with pytest.raises(BadInput, match="invalid host name"):
        serve.allowed_hosts("0.0.0.0", "evil.example/x", {})


def test_the_token_from_a_file_or_the_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text("file-token-123\n")
    assert serve.resolve_token(None, {}, str(path)) == "file-token-123"
    assert serve.resolve_token(None, {ENV_SERVE_TOKEN: "env-token-123"}) == "env-token-123"
    assert serve.resolve_token("flag-token-123", {ENV_SERVE_TOKEN: "x" * 9},
                               str(path)) == "flag-token-123"
    with pytest.raises(BadInput, match="cannot read --token-file"):
        serve.resolve_token(None, {}, str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(BadInput, match="holds no token"):
        serve.resolve_token(None, {}, str(tmp_path / "empty"))


def test_the_dashboard_opens_sqlite_read_only(tmp_path):
    """A WAL database: the dashboard reads what a writer commits, and cannot write."""
    path = tmp_path / "forecasts.sqlite"
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (a INTEGER)")
    writer.execute("INSERT INTO t VALUES (1)")
    writer.commit()
    engine = read_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1
        writer.execute("INSERT INTO t VALUES (2)")
        writer.commit()
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 2
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            conn.execute(sa.text("INSERT INTO t VALUES (3)"))
    writer.close()
    engine.dispose()
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(sa.exc.OperationalError):
        read_engine(f"sqlite:///{tmp_path / 'missing.sqlite'}").connect()
    assert not (tmp_path / "missing.sqlite").exists()
