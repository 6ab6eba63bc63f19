"""``coinlstm serve`` under hostile requests and bad stored data, over real HTTP on
loopback: a login body too large to hold, foreign Host headers, HEAD and 405, a 500 with
its headers logged once, stored values no page can show, wrong tokens, sessions and logout,
the 404's echo, and the rules that already held (static paths, stored XSS, SQL injection,
absurd values, open redirects, write methods, the security headers)."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import ENV_SERVE_ALLOWED_HOSTS, ENV_SERVE_TOKEN
from tests import synthetic_history
from tests.helpers import Served

TOKEN = "s3cret-token-for-tests"
PAGES = ("/market/ETH", "/pair/SYN001ETH", "/runs", "/api/docs", "/login")
API = ("/api/markets", "/api/markets/ETH/ranking", "/api/pairs/SYN001ETH/track-record",
       "/api/pairs/SYN001ETH/history", "/api/pairs/SYN001ETH/model", "/api/runs")


def _database(folder: Path, hours: int = 60) -> str:
    url = f"sqlite:///{folder / 'forecasts.sqlite'}"
    engine = db.open_database(url)
    synthetic_history.build(engine, pairs=2, hours=hours, seed=5)
    engine.dispose()
    return url


def _update(url: str, table: sa.Table, values: dict, where=None) -> None:
    engine = db.open_database(url)
    with engine.begin() as conn:
        statement = table.update().values(**values)
        conn.execute(statement if where is None else statement.where(where))
    engine.dispose()


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    return _database(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def served(database):
    server = Served("--db", database)
    yield server
    server.stop()


def _port(server: Served) -> int:
    return urlsplit(server.url).port


def request(server: Served, path: str, method: str = "GET", host: str | None = None,
            headers: dict | None = None, body: bytes | None = None):
    """(status, headers with lower-case names, body) over http.client: the Host header is
    the one given (none when ``host`` is ""), the path is sent as it is."""
    conn = http.client.HTTPConnection("127.0.0.1", _port(server), timeout=30)
    try:
        conn.putrequest(method, path, skip_host=host is not None,
                        skip_accept_encoding=True)
        if host:
            conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        reply = conn.getresponse()
        return (reply.status, {k.lower(): v for k, v in reply.getheaders()},
                reply.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def _rss_kb(server: Served) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send_huge(server: Served, head: bytes, chunks) -> bytes:
    """Sends ``head`` and then ``chunks`` while a reader collects the answer; the server
    may answer and close before the body is through (the sender then stops)."""
    sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=60)
    answer = bytearray()

    def read() -> None:
        try:
            while data := sock.recv(65536):
                answer.extend(data)
        except OSError:
            pass

    reader = threading.Thread(target=read)
    reader.start()
    try:
        sock.sendall(head)
        for chunk in chunks:
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # the server closed: it refused the rest
        pass
    reader.join(timeout=60)
    sock.close()
    return bytes(answer)


def test_a_huge_login_body_is_refused_unread(database):
    """64 MB to /login (no token needed there), declared and chunked: 413, and the
    server's memory stays where it was (today's code read it all: +130 MB)."""
    server = Served("--db", database, env={ENV_SERVE_TOKEN: TOKEN})
    try:
        assert request(server, "/login")[0] == 200
        before = _rss_kb(server)
        size, chunk = 64 << 20, b"token=" + b"x" * ((1 << 20) - 6)
        declared = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                    f"application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\n")
        answer = _send_huge(server, declared.encode(), (chunk for _ in range(64)))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        chunked = (b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked"
                   b"\r\n\r\n")
        piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        answer = _send_huge(server, chunked, (piece for _ in range(64)))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        grown_mb = (_rss_kb(server) - before) / 1024
        assert grown_mb < 24, f"RSS grew {grown_mb:.0f} MB"
        status, _, page = request(server, "/login", "POST", body=b"token=wrong&next=/")
        assert status == 401 and "wrong token" in page  # a normal form still works
    finally:
        server.stop()


def test_only_the_hosts_the_server_answers_to(database):
    server = Served("--db", database)
    try:
        port = _port(server)
        for path in ("/runs/", "/api/runs", "/market/ETH", "/"):
            for host in ("evil.example", f"evil.example:{port}", "", "127.0.0.1.evil.example"):
                status, headers, body = request(server, path, host=host)
                assert status == 400, (path, host, status)
                assert "location" not in headers and "evil" not in body
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert request(server, "/api/runs", host=host)[0] == 200, host
        status, headers, _ = request(server, "/runs/", host=f"localhost:{port}")
        assert status == 307 and headers["location"] == "/runs"  # relative, no host
        status, headers, _ = request(server, "/", host=f"localhost:{port}")
        assert status == 303 and headers["location"].startswith("/market/ETH")
    finally:
        server.stop()
    named = Served("--db", database, "--allowed-hosts", "dash.example,other.example",
                   env={ENV_SERVE_ALLOWED_HOSTS: "env.example"})
    try:
        for host in ("dash.example", "other.example:443", "env.example", "localhost"):
            assert request(named, "/api/runs", host=host)[0] == 200, host
        assert request(named, "/api/runs", host="evil.example")[0] == 400
    finally:
        named.stop()


def test_a_500_carries_the_headers_and_is_logged_once(tmp_path):
    """A skill stored as text no float can read: the track record fails unexpectedly."""
    url = _database(tmp_path)
    engine = db.open_database(url)
    with engine.begin() as conn:  # past the column type's own check, as a foreign writer
        conn.execute(sa.text("UPDATE track_records SET skill = :text"),
                     {"text": "not-a-number"})
    engine.dispose()
    server = Served("--db", url)
    try:
        for path in ("/api/pairs/SYN001ETH/track-record", "/pair/SYN001ETH"):
            status, headers, body = request(server, path)
            assert status == 500, (path, body[:300])
            assert "Traceback" not in body and "internal error" in body
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["x-content-type-options"] == "nosniff"
    finally:
        server.stop()
    log = server.process.stderr.read()
    assert log.count("Traceback") == 2, log  # once per failed request
    assert "Exception in ASGI application" not in log


def test_bad_stored_values_show_a_placeholder(tmp_path):
    url = _database(tmp_path)
    huge = 10 ** 17  # ms: a year no calendar has
    engine = db.open_database(url)
    with engine.begin() as conn:
        newest = conn.execute(sa.select(sa.func.max(
            db.historical_price_predictions.c.id))).scalar()
    engine.dispose()
    _update(url, db.historical_price_predictions, {"openTime_next": huge},
            db.historical_price_predictions.c.id == newest)
    _update(url, db.job_runs, {"time_start": huge // 1000, "failures": '["SYN001ETH"]'})
    _update(url, db.historical_train, {"settings": "[1, 2]", "time_create": huge // 1000})
    server = Served("--db", url)
    try:
        for path in ("/market/ETH", "/runs", "/pair/SYN001ETH", "/pair/SYN002ETH", *API,
                     "/api/pairs/SYN002ETH/history"):
            status, _, body = request(server, path)
            assert status == 200, (path, body[:300])
        runs = json.loads(request(server, "/api/runs")[2])
        assert runs[0]["started"] is None and runs[0]["failures"] == {}
        history = json.loads(request(server, "/api/pairs/SYN002ETH/history")[2])
        assert history["next"]["time"] is None  # the huge openTime_next
        model = json.loads(request(server, "/api/pairs/SYN002ETH/model")[2])
        assert model["settings"] == {} and model["trained"] is None
        assert "<td>-</td>" in request(server, "/runs")[2]
    finally:
        server.stop()


def test_head_is_get_without_a_body_and_405_says_what_is_allowed(served):
    for path in (*PAGES, *API, "/static/style.css", "/static/vendor/plotly.min.js"):
        got, got_headers, page = request(served, path)
        status, headers, body = request(served, path, "HEAD")
        assert (status, body) == (got, ""), path
        assert headers["content-type"] == got_headers["content-type"], path
        assert headers["content-length"] == got_headers["content-length"], path
    for path in (*PAGES[:-1], *API):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, _ = request(served, path, method, body=b"{}")
            assert status == 405, (method, path)
            assert headers["allow"] == "GET, HEAD", (method, path)
    status, headers, _ = request(served, "/logout")
    assert status == 405 and headers["allow"] == "POST"
    status, headers, _ = request(served, "/login", "PUT")
    assert status == 405 and headers["allow"] == "GET, HEAD, POST"


def test_the_404_does_not_echo_what_it_was_sent(served):
    status, _, body = request(served, "/api/" + "a" * 10_000)
    assert status == 404 and len(body) < 200 and "aaaa" not in body
    status, _, body = request(served, "/api/x%00y%0d%0aSet-Cookie:%20a=b")
    assert status == 404 and json.loads(body) == {"error": "no such page"}
    status, _, body = request(served, "/api/nothing")
    assert status == 404 and json.loads(body) == {"error": "no such page: /api/nothing"}


def test_wrong_tokens_are_limited_and_sessions_expire_and_end(database, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = Served("--db", database, "--token-file", str(token_file), env={ENV_SERVE_TOKEN: ""})
    try:
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert TOKEN.encode() not in cmdline
        for scheme in ("Bearer", "bearer", "BEARER"):
            status, _, _ = request(server, "/api/runs",
                                   headers={"Authorization": f"{scheme} {TOKEN}"})
            assert status == 200, scheme
        cookies = []
        for _ in range(2):
            status, headers, _ = request(server, "/login", "POST",
                                         body=f"token={TOKEN}&next=/runs".encode())
            assert status == 303 and headers["location"] == "/runs"
            cookie = headers["set-cookie"]
            assert "Max-Age=43200" in cookie and "HttpOnly" in cookie
            assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
            cookies.append(cookie.split(";")[0])
        assert cookies[0] != cookies[1]  # a random session each, not a hash of the token
        assert request(server, "/runs", headers={"Cookie": cookies[0]})[0] == 200
        status, headers, _ = request(server, "/logout", "POST", headers={"Cookie": cookies[0]})
        assert status == 303 and 'coinlstm_session=""' in headers["set-cookie"]
        assert request(server, "/runs", headers={"Cookie": cookies[0]})[0] == 401
        assert request(server, "/runs", headers={"Cookie": cookies[1]})[0] == 200
        assert "sign out" in request(server, "/runs", headers={"Cookie": cookies[1]})[2]
        for target in ("//evil.example", "https://evil.example/", "/\\evil.example",
                       "%2F%2Fevil.example", "/ok/../x?y=1\r\nSet-Cookie: a=b"):
            status, headers, _ = request(server, "/login", "POST",
                                         body=f"token={TOKEN}&next={quote(target)}".encode())
            assert status == 303 and headers["location"] == "/", target
            status, _, page = request(server, f"/login?next={quote(target)}")
            assert status == 200 and 'name="next" value="/"' in page, target
        statuses = [request(server, "/login", "POST", body=b"token=wrong-token-x")[0]
                    for _ in range(5)]
        assert statuses == [401] * 5
        for attempt in ({"method": "POST", "body": b"token=wrong-token-x"},
                        {"method": "POST", "body": f"token={TOKEN}".encode()},
                        {"headers": {"Authorization": f"Bearer {TOKEN}"}}):
            status, headers, _ = request(server, "/login" if "body" in attempt
                                         else "/api/runs", **attempt)
            assert status == 429, attempt
            assert 1 <= int(headers["retry-after"]) <= 60
        assert request(server, "/runs", headers={"Cookie": cookies[1]})[0] == 200
    finally:
        server.stop()


# -- what held before: kept by tests -------------------------------------------------------


def test_static_paths_cannot_leave_the_static_files(served):
    for path in ("/static/../server.py", "/static/..%2fserver.py", "/static/%2e%2e/server.py",
                 "/static/%2e%2e%2fserver.py", "/static/%252e%252e%252fserver.py",
                 "/static/..%5cserver.py", "/static/vendor/..%2f..%2fserver.py",
                 "/static/style.css%00.js", "/static/.%2e/views.py", "/static//etc/passwd",
                 "/static/templates%2fbase.html", "/static/STYLE.CSS"):
        status, _, body = request(served, path)
        assert status in (404, 422), (path, status)
        assert "import" not in body and "root:" not in body and "{%" not in body, path


XSS = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"


def test_stored_text_is_escaped_everywhere(tmp_path):
    """Every text column the pages show holds markup: no page shows it as markup (text,
    attributes and the chart's JSON alike)."""
    url = _database(tmp_path)
    short = XSS[:16]  # the 16-character columns
    _update(url, db.coin_info, {"status": XSS[:20]})
    _update(url, db.coin_info, {"symbol": XSS[:20]}, db.coin_info.c.symbol == "SYN002ETH")
    _update(url, db.historical_price_predictions, {"model": XSS[:32], "target": short})
    _update(url, db.historical_train, {"model": XSS[:32], "target": short, "backend": short,
                                       "run_id": XSS, "settings": json.dumps({XSS: XSS})})
    _update(url, db.job_runs, {"executor": short, "host": XSS, "status": short,
                               "market": short, "reason": XSS[:200],
                               "failures": json.dumps({XSS: XSS})})
    _update(url, db.track_records, {"verdict": short})
    server = Served("--db", url)
    try:
        model, target = quote(XSS[:32]), quote(short)
        for path in ("/market/ETH", "/runs", "/pair/SYN001ETH", "/runs?limit=1",
                     f"/pair/SYN001ETH?model={model}&target={target}"):
            status, headers, page = request(server, path)
            assert status in (200, 422), path
            assert headers["content-type"].startswith("text/html")
            for raw in ("<script>alert", "<img src=x", "\"'>", short):
                assert raw not in page, (path, raw)
        page = request(server, "/pair/SYN001ETH")[2]
        assert "\\u003cscript\\u003e" in page  # the chart JSON, escaped for a <script>
    finally:
        server.stop()


INJECTIONS = ("' OR '1'='1", "1; DROP TABLE coin_info; --", "ETH' --", "\" OR 1=1 --",
              "1 UNION SELECT * FROM coin_info")


def test_sql_in_any_parameter_is_refused(served, database):
    engine = db.open_database(database)
    with engine.connect() as conn:
        before = db.table_fingerprint(conn)
    for bad in map(quote, INJECTIONS):
        for path in (f"/api/markets/{bad}/ranking", f"/api/pairs/{bad}/track-record",
                     f"/api/markets?exchange={bad}", f"/api/markets/ETH/ranking?interval={bad}",
                     f"/api/pairs/SYN001ETH/track-record?model={bad}",
                     f"/api/pairs/SYN001ETH/track-record?target={bad}",
                     f"/api/pairs/SYN001ETH/history?days={bad}", f"/api/runs?limit={bad}",
                     f"/api/runs?market={bad}", f"/market/{bad}", f"/pair/{bad}",
                     f"/market?market={bad}"):
            status, _, body = request(served, path)
            assert status in (404, 422), (path, status, body[:200])
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == before
    engine.dispose()
    assert request(served, "/api/markets/ETH/ranking")[0] == 200


def test_absurd_values_are_a_quick_422(served):
    for path in ("/api/pairs/SYN001ETH/history?days=" + "9" * 40, "/api/runs?limit=-5",
                 "/api/runs?limit=1e308", "/api/markets/ETH/ranking?interval=" + "x" * 5000,
                 "/api/pairs/" + "A" * 5000 + "/model", "/api/pairs/SYN001ETH/history?days=NaN",
                 "/api/markets?exchange=" + "b" * 3000, "/pair/SYN001ETH?days=-1"):
        status, _, body = request(served, path)
        assert status == 422, (path[:60], status)
        assert len(body) < 2000


def test_every_answer_has_the_security_headers(served):
    for path in (*PAGES, *API, "/static/style.css", "/api/nothing", "/pair/NOSUCHETH"):
        _, headers, _ = request(served, path)
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "default-src 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
