"""``coinlstm serve`` as a user starts it, over real HTTP on loopback: the JSON API's
figures against the stored track records, parameter checks (4xx, one line), unknown
symbols (404), the database going away (503) and coming back (200) on SQLite and on a
MariaDB server of the test's own, the exchange asked (?exchange=, serve --exchange), the
token rules, the security headers, and that nothing writes."""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from coinlstm import db
from coinlstm.core.config import ENV_SERVE_TOKEN
from tests import synthetic_history
from tests.helpers import Served, run_cli
from tests.own_mariadb import own_mariadb_or_skip

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def market_db(db_url):
    """Three banded ETH pairs, and a BTC pair whose forecasts have no bands."""
    engine = db.open_database(db_url)
    symbols = synthetic_history.build(engine, pairs=3, hours=200, seed=2)
    synthetic_history.build(engine, pairs=1, hours=60, market="BTC", seed=3, bands=False)
    engine.dispose()
    return db_url, symbols


@pytest.fixture
def served(market_db):
    server = Served("--db", market_db[0])
    yield server, market_db[1]
    server.stop()


def test_api_gives_the_stored_figures(served, market_db):
    server, symbols = served
    status, headers, body = server.get("/api/markets/ETH/ranking?interval=1h")
    assert status == 200
    ranking = json.loads(body)
    assert sorted(p["symbol"] for p in ranking) == sorted(symbols)
    for pair in ranking:
        assert {"symbol", "last_close", "forecast", "change_pct", "verdict",
                "dm_pvalue_30d", "dm_pvalue_adjusted_30d"} <= set(pair)
        assert pair["change_pct"] == pytest.approx(
            (pair["forecast"] / pair["last_close"] - 1) * 100, abs=1e-3)
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    status, _, body = server.get(f"/api/pairs/{symbols[0]}/track-record?interval=1h")
    windows = json.loads(body)
    assert status == 200 and [w["window"] for w in windows] == ["24h", "7d", "30d", "all"]
    engine = db.open_database(market_db[0])
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbols[0])
        stored = {r.window: r for r in db.stored_track_records(conn, "1h", [coin.id])}
    engine.dispose()
    for window in windows:
        row = stored[window["window"]]
        assert window["scored"] == row.scored and window["verdict"] == row.verdict
        for key in ("rmse", "naive_rmse", "skill", "direction", "dm_pvalue",
                    "dm_pvalue_adjusted", "dm_pvalue_worse_adjusted"):
            assert getattr(row, key) is not None, key
            assert window[key] == pytest.approx(getattr(row, key), rel=1e-5), key
    assert windows[-1]["scored"] == 199  # 200 candles: every forecast but the next one

    status, _, body = server.get(f"/api/pairs/{symbols[0]}/history?interval=1h&days=2")
    history = json.loads(body)
    assert status == 200 and len(history["closes"]) == 49 and history["next"] is not None
    edges = sum(p["verdict"] == "edge" for p in ranking)
    page = server.get("/market/ETH")[2]
    assert f"{edges} of {len(symbols)} pairs show an edge at FDR 10 %" in page
    for path in ("/market/ETH", f"/pair/{symbols[0]}", "/runs", "/api/docs",
                 "/api/openapi.json", "/api/runs?limit=3", f"/api/pairs/{symbols[0]}/model"):
        assert server.get(path)[0] == 200, path


def _banded_forecasts(url: str, symbol: str) -> tuple[list, dict]:
    """(the pair's forecasts oldest first, openTime -> close) as the test wrote them."""
    engine = db.open_database(url)
    p, candles = db.historical_price_predictions, db.candlestick_data
    with engine.connect() as conn:
        coin = db.coin_by_symbol(conn, symbol).id
        forecasts = conn.execute(sa.select(p).where(p.c.id_coin == coin)
                                 .order_by(p.c.openTime_next)).all()
        closes = {int(t): float(c) for t, c in conn.execute(
            sa.select(candles.c.openTime, candles.c.close).where(candles.c.idCoin == coin))}
    engine.dispose()
    return forecasts, closes


def test_api_gives_the_bands_and_their_forward_coverage(served, market_db):
    server, symbols = served
    forecasts, closes = _banded_forecasts(market_db[0], symbols[0])
    scored = [f for f in forecasts if f.openTime_next in closes]
    newest = forecasts[-1]

    windows = {w["window"]: w for w in json.loads(
        server.get(f"/api/pairs/{symbols[0]}/track-record?interval=1h")[2])}
    for level in ("80", "95"):
        inside = [f._mapping[f"lower_{level}"] <= closes[f.openTime_next]
                  <= f._mapping[f"upper_{level}"] for f in scored]
        widths = [(f._mapping[f"upper_{level}"] - f._mapping[f"lower_{level}"])
                  / f.price_actual_last * 100 for f in scored]
        every = windows["all"]
        assert every[f"nominal_{level}"] == int(level) / 100
        assert every[f"banded_{level}"] == len(scored) == 199
        assert every[f"coverage_{level}"] == pytest.approx(sum(inside) / len(inside), rel=1e-5)
        assert every[f"width_{level}"] == pytest.approx(sum(widths) / len(widths), rel=1e-5)
        day = windows["24h"]
        assert day[f"coverage_{level}"] == pytest.approx(sum(inside[-24:]) / 24, rel=1e-5)
    assert 0 < windows["all"]["coverage_80"] < windows["all"]["coverage_95"] <= 1

    ranking = {p["symbol"]: p for p in json.loads(
        server.get("/api/markets/ETH/ranking?interval=1h")[2])}
    entry = ranking[symbols[0]]
    for level in ("80", "95"):
        width = (newest._mapping[f"upper_{level}"] - newest._mapping[f"lower_{level}"]) \
            / newest.price_actual_last * 100
        assert entry[f"band_{level}_pct"] == pytest.approx(width, rel=1e-3)
    month = windows["30d"]
    assert entry["coverage_80_30d"] == pytest.approx(month["coverage_80"], rel=1e-5)
    assert entry["banded_80_30d"] == month["banded_80"]

    history = json.loads(server.get(f"/api/pairs/{symbols[0]}/history?interval=1h&days=2")[2])
    shown = [f for f in forecasts if f.openTime_next >= forecasts[-1].openTime_next - 49
             * 3_600_000]
    band = history["bands"]["80"]
    assert len(band) == len(shown) == len(history["naive"])
    assert [b[1:] for b in band] == [pytest.approx([f.lower_80, f.upper_80]) for f in shown]
    assert history["next"]["bands"]["95"] == pytest.approx([newest.lower_95, newest.upper_95])
    page = server.get(f"/pair/{symbols[0]}")[2]
    assert "coverage of the 80 % band" in page and "95 % band" in page

    # A pair whose forecasts had no bands: no coverage (null), not a coverage of 0.
    plain = json.loads(server.get("/api/pairs/SYN001BTC/track-record?interval=1h")[2])
    assert plain[-1]["window"] == "all" and plain[-1]["scored"] == 59
    for window in plain:
        assert window["coverage_80"] is None and window["banded_80"] == 0
        assert window["coverage_95"] is None and window["width_95"] is None
    btc = json.loads(server.get("/api/markets/BTC/ranking?interval=1h")[2])[0]
    assert btc["band_80_pct"] is None and btc["coverage_80_30d"] is None
    history = json.loads(server.get("/api/pairs/SYN001BTC/history?interval=1h")[2])
    assert history["bands"] == {"80": [], "95": []} and history["next"]["bands"] == {}


def _one_line_error(body: str) -> str:
    assert "\n" not in body.strip()
    payload = json.loads(body)
    assert set(payload) == {"error"} and "Traceback" not in payload["error"]
    return payload["error"]


BAD_REQUESTS = [
    ("/api/pairs/ada-eth/track-record", 422),
    ("/api/pairs/ADAETH%2F..%2Fx/track-record", 404),
    ("/api/pairs/SYN001ETH/track-record?interval=7x", 422),
    ("/api/pairs/SYN001ETH/track-record?model=%3Cscript%3E", 422),
    ("/api/pairs/SYN001ETH/history?days=0", 422),
    ("/api/pairs/SYN001ETH/history?days=100000", 422),
    ("/api/pairs/SYN001ETH/history?days=abc", 422),
    ("/api/markets/e/ranking", 422),
    ("/api/runs?limit=100000", 422),
    ("/api/pairs/NOSUCHETH/track-record", 404),
    ("/api/markets/NOSUCH/ranking", 404),
    ("/api/nothing", 404),
]


def test_bad_parameters_get_a_one_line_4xx(served):
    server, _ = served
    for path, status in BAD_REQUESTS:
        got, headers, body = server.get(path)
        assert got == status, (path, body)
        assert headers["content-type"].startswith("application/json"), path
        _one_line_error(body)
    status, _, page = server.get("/pair/NOSUCHETH")
    assert status == 404 and "unknown symbol NOSUCHETH" in page


def test_nothing_writes(served, market_db):
    server, symbols = served
    engine = db.open_database(market_db[0])
    with engine.connect() as conn:
        before = db.table_fingerprint(conn)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, _, body = server.get(f"/api/pairs/{symbols[0]}/track-record", method=method,
                                     data=b"{}")
        assert status == 405, (method, body)
        _one_line_error(body)
    with engine.connect() as conn:
        assert db.table_fingerprint(conn) == before
    engine.dispose()


def test_database_gone_gives_503_then_recovers(sqlite_url):
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    engine = db.open_database(sqlite_url)
    synthetic_history.build(engine, pairs=2, hours=50)
    engine.dispose()
    server = Served("--db", sqlite_url)
    try:
        assert server.get("/api/markets/ETH/ranking")[0] == 200
        moved = path.with_name("moved-away.sqlite")
        shutil.move(path, moved)
        status, _, body = server.get("/api/markets/ETH/ranking")
        assert status == 503 and "database unavailable" in _one_line_error(body)
        status, _, page = server.get("/market/ETH")
        assert status == 503 and "Traceback" not in page
        assert not path.exists()  # the server did not create an empty database
        shutil.move(moved, path)
        assert server.get("/api/markets/ETH/ranking")[0] == 200
    finally:
        server.stop()


@pytest.mark.mysql
def test_mariadb_gone_gives_503_then_recovers():
    """The server of the test's own stops (cleanly, then killed) under a running dashboard:
    every request gets 503 with one line, and the first after the server is back gets 200,
    with no restart of the dashboard (the pool's pre-ping replaces the dead connections).
    The shared server on 3306 is never touched."""
    own = own_mariadb_or_skip()
    served = None
    try:
        url = own.new_database("dashboard_outage")
        engine = db.open_database(url)
        symbols = synthetic_history.build(engine, pairs=2, hours=50)
        engine.dispose()
        served = Served("--db", url)
        ranking = "/api/markets/ETH/ranking"
        assert served.get(ranking)[0] == 200
        for go_away in (own.stop, own.kill):
            go_away()
            for path in (ranking, f"/api/pairs/{symbols[0]}/track-record"):
                status, headers, body = served.get(path)
                assert status == 503, (go_away.__name__, path, body)
                assert headers["content-type"].startswith("application/json")
                assert _one_line_error(body) == "database unavailable; retry later"
            status, _, page = served.get("/market/ETH")
            assert status == 503 and "Traceback" not in page
            own.start()
            status, _, body = served.get(ranking)
            assert status == 200, (go_away.__name__, body)
            assert sorted(pair["symbol"] for pair in json.loads(body)) == sorted(symbols)
            assert served.get(f"/pair/{symbols[0]}")[0] == 200
    finally:
        if served is not None:
            served.stop()
        own.close()


def test_the_exchange_asked_picks_the_pairs(db_url):
    """The same synthetic pairs quoted in ETH on binance (SYN001ETH) and on poloniex
    (SYN001_ETH), with different histories: each exchange's ranking lists its own pairs, a
    pair is read on the exchange asked (and refused in another exchange's form), and
    ``serve --exchange`` changes what a request naming none gets."""
    engine = db.open_database(db_url)
    binance = synthetic_history.build(engine, pairs=2, hours=60, seed=3)
    poloniex = synthetic_history.build(engine, pairs=2, hours=60, seed=4, exchange="poloniex")
    with engine.connect() as conn:
        stored = {symbol: {row.window: row for row in db.stored_track_records(
            conn, "1h", [db.coin_by_symbol(conn, symbol).id])} for symbol in binance + poloniex}
    engine.dispose()
    assert poloniex == ["SYN001_ETH", "SYN002_ETH"]
    server = Served("--db", db_url)
    try:
        for query, expected in (("", binance), ("&exchange=binance", binance),
                                ("&exchange=poloniex", poloniex),
                                ("&exchange=Poloniex", poloniex)):
            status, _, body = server.get(f"/api/markets/ETH/ranking?interval=1h{query}")
            assert status == 200, (query, body)
            assert sorted(p["symbol"] for p in json.loads(body)) == expected, query
        for symbol, exchange in ((binance[0], "binance"), (poloniex[0], "poloniex")):
            status, _, body = server.get(f"/api/pairs/{symbol}/track-record?exchange={exchange}")
            assert status == 200, body
            windows = {w["window"]: w for w in json.loads(body)}
            assert windows["all"]["scored"] == stored[symbol]["all"].scored == 59
            assert windows["all"]["rmse"] == pytest.approx(stored[symbol]["all"].rmse, rel=1e-5)
            status, _, body = server.get(f"/api/pairs/{symbol}/history?exchange={exchange}"
                                         "&days=1")
            assert status == 200 and json.loads(body)["exchange"] == exchange
            assert server.get(f"/pair/{symbol}?exchange={exchange}")[0] == 200
        assert stored[binance[0]]["all"].rmse != stored[poloniex[0]]["all"].rmse
        status, _, page = server.get("/market/ETH?exchange=poloniex")
        assert status == 200 and f"/pair/{poloniex[0]}?interval=1h&amp;exchange=poloniex" in page
        assert binance[0] not in page
        refused = {
            "/api/markets/ETH/ranking?exchange=kraken": "unknown exchange 'kraken'",
            f"/api/pairs/{poloniex[0]}/track-record": "invalid symbol 'SYN001_ETH'",
            f"/api/pairs/{binance[0]}/history?exchange=poloniex":
                "invalid poloniex symbol 'SYN001ETH'",
            f"/api/pairs/{poloniex[0]}/model?exchange=bithumb": "invalid bithumb symbol",
            "/api/markets/ETH/ranking?exchange=bithumb": None,
        }
        for path, message in refused.items():
            status, _, body = server.get(path)
            if message is None:  # a known exchange without pairs in ETH
                assert status == 404 and "no pairs of market ETH on bithumb" in body
                continue
            assert status == 422, (path, body)
            assert message in _one_line_error(body), (path, body)
    finally:
        server.stop()
    other = Served("--db", db_url, "--exchange", "poloniex")
    try:
        status, _, body = other.get("/api/markets/ETH/ranking")
        assert sorted(p["symbol"] for p in json.loads(body)) == poloniex
        status, _, body = other.get(f"/api/pairs/{poloniex[0]}/track-record")
        assert status == 200
        request = urllib.request.Request(other.url + "/", method="GET")
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=30)
        assert redirect.value.code == 303
        assert redirect.value.headers["location"] == "/market/ETH?exchange=poloniex"
    finally:
        other.stop()
    refused = run_cli("serve", "--exchange", "kraken", "--db", db_url, timeout=60)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'kraken'" in refused.stderr


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_non_loopback_bind_needs_a_token(sqlite_url):
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--db", sqlite_url,
                      env={ENV_SERVE_TOKEN: ""}, timeout=60)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "token" in refused.stderr
    assert refused.stdout == ""


def test_with_a_token_every_request_needs_it(market_db):
    url, symbols = market_db
    server = Served("--db", url, env={ENV_SERVE_TOKEN: TOKEN})
    try:
        status, _, body = server.get("/api/markets/ETH/ranking")
        assert status == 401 and "token" in _one_line_error(body)
        assert server.get("/market/ETH")[0] == 401
        assert server.get("/api/markets/ETH/ranking",
                          {"Authorization": "Bearer wrong-token-x"})[0] == 401
        assert server.get("/api/markets/ETH/ranking",
                          {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        # The login form sets a cookie that then opens the pages.
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        form = f"token={TOKEN}&next=/market/ETH".encode()
        with opener.open(urllib.request.Request(server.url + "/login", data=form,
                                                method="POST"), timeout=30) as reply:
            assert reply.status == 200 and "ETH market" in reply.read().decode()
        with opener.open(server.url + f"/pair/{symbols[0]}", timeout=30) as reply:
            assert reply.status == 200
    finally:
        server.stop()


@pytest.mark.mysql
def test_a_select_only_mysql_user_is_enough(mysql_url):
    """docs/dashboard.md's GRANT: the dashboard reads with SELECT and nothing else."""
    engine = db.open_database(mysql_url)
    symbols = synthetic_history.build(engine, pairs=2, hours=60)
    user, password = "dash_" + secrets.token_hex(4), secrets.token_hex(8)
    # Identifiers cannot be bound; the database name is the fixture's (hex), quoted.
    database = engine.dialect.identifier_preparer.quote_identifier(engine.url.database)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE USER :user@'127.0.0.1' IDENTIFIED BY :password"),
                     {"user": user, "password": password})
        conn.execute(sa.text(f"GRANT SELECT ON {database}.* TO :user@'127.0.0.1'"),
                     {"user": user})
    url = engine.url.set(username=user, password=password).render_as_string(
        hide_password=False)
    server = Served("--db", url)
    try:
        status, _, body = server.get("/api/markets/ETH/ranking")
        assert status == 200 and len(json.loads(body)) == len(symbols)
        assert server.get(f"/pair/{symbols[0]}")[0] == 200
    finally:
        server.stop()
        with engine.begin() as conn:
            conn.execute(sa.text("DROP USER :user@'127.0.0.1'"), {"user": user})
        engine.dispose()


def test_a_port_in_use_is_one_line(sqlite_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = run_cli("serve", "--port", port, "--db", sqlite_url, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"coinlstm serve: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
