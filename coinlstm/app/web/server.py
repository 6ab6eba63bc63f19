"""The dashboard's web application: read-only pages and JSON API over the forecast database.

Safe by default (issue 12): the command binds loopback; with a token every request needs it
(``Authorization: Bearer T`` or the cookie the login form sets); only GET reads data (the
login form's POST sets a cookie and writes nothing); every parameter is checked and a bad
one gets a 4xx with a one-line JSON error; templates escape everything; a strict
Content-Security-Policy (scripts only from this server, so the chart library is served from
the installed ``plotly`` package, never a CDN); no stack trace reaches a client; a database
that goes away gives 503 and the next request after it is back succeeds (SQLite: a fresh
connection per request; MySQL: pre-ping).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.resources
import logging
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.pool import NullPool
from starlette.exceptions import HTTPException

from coinlstm import db
from coinlstm.app.web import views
from coinlstm.core.config import DEFAULT_EXCHANGE, DEFAULT_INTERVAL, DEFAULT_MARKET, INTERVAL_MS
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import EXCHANGES, job_name
from coinlstm.core.exchanges import exchange as exchange_named
from coinlstm.core.klines import MARKET_PATTERN

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_FILES = {"style.css": "text/css", "sort.js": "text/javascript",
                "pair.js": "text/javascript", "icon.svg": "image/svg+xml"}
#: What the login page itself needs: open without the token.
PUBLIC_PATHS = ("/login", "/static/style.css", "/static/icon.svg")
SESSION_COOKIE = "coinlstm_session"
#: The path and query checks: the market rule of coinlstm.core.klines; a symbol has the
#: characters of some exchange's form here, and is then checked by its exchange's own rule
#: (coinlstm.core.exchanges: ADAETH, BTC_USDT, KRW-ETH, bitcoin-usd).
MARKET = f"^{MARKET_PATTERN.pattern}$"
SYMBOL = r"^[A-Za-z0-9_-]{2,20}$"
EXCHANGE_NAME = r"^[A-Za-z]{2,16}$"
SERIES_NAME = r"^[a-z0-9_-]{0,32}$"
MAX_DAYS = 90
MAX_RUNS = 500
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}


def read_engine(url: str) -> sa.Engine:
    """An engine that never creates a database or tables and recovers from an outage.

    A SQLite file is opened read-write but never created (``mode=rw``: a missing file is an
    error, not a new empty database) and connected afresh per request, so a file that was
    moved away and put back is seen again; MySQL keeps its pool with pre-ping.
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return db.create_engine(url)
    path = parsed.database
    if not path or path == ":memory:":
        raise BadInput("the dashboard needs a database file or server, not :memory:")

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=rw", uri=True,
                                     timeout=10, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def session_value(token: str) -> str:
    """The login cookie: a keyed hash of the token (the token itself never sits in a cookie)."""
    return hmac.new(token.encode(), b"coinlstm-dashboard-session", hashlib.sha256).hexdigest()


def error_json(status: int, message: str) -> JSONResponse:
    """The one-line JSON error every failure of the API gets."""
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


def plotly_js() -> bytes:
    """plotly.js from the installed ``plotly`` package (its package data), read once."""
    return (importlib.resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()


def create_app(db_url: str, token: str | None = None,
               exchange: str = DEFAULT_EXCHANGE) -> FastAPI:
    """The application over ``db_url``; with ``token`` every request must carry it.
    ``exchange``: the one shown and asked when a request names none (``serve --exchange``).
    """
    default_exchange = exchange_named(exchange).name
    engine = read_engine(db_url)
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    templates.filters.update(num=_num, raw=_raw, trend=_trend)
    app = FastAPI(title="coinlstm dashboard API", version="1",
                  description="Read-only forecasts, forward scores and track records. "
                              "Definitions: docs/track-record.md.",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.engine = engine
    vendor: dict[str, bytes] = {}

    def render(name: str, status: int = 200, **context) -> HTMLResponse:
        html = templates.get_template(name).render(intervals=list(INTERVAL_MS),
                                                   exchanges=list(EXCHANGES), **context)
        return HTMLResponse(html, status_code=status)

    def chosen(name: str | None) -> str:
        """The exchange a request asks for (``?exchange=``), else the default; 422 for
        one we do not know."""
        if name is None:
            return default_exchange
        try:
            return exchange_named(name).name
        except BadInput as exc:
            raise HTTPException(422, str(exc)) from None

    def pair_of(symbol: str, name: str | None) -> tuple[str, str]:
        """(symbol, exchange): the symbol checked by its exchange's form (422 otherwise:
        ``ADA_ETH`` is no Binance symbol)."""
        picked = chosen(name)
        try:
            return EXCHANGES[picked].check_symbol(symbol), picked
        except BadInput as exc:
            raise HTTPException(422, str(exc)) from None

    def first_market(exchange_name: str) -> str:
        """The market a page without one shows: ETH where the exchange has it, else the
        exchange's first market in the database."""
        with engine.connect() as conn:
            known = db.markets(conn, exchange_name)
        return DEFAULT_MARKET if DEFAULT_MARKET in known or not known else known[0]

    def read(function: Callable, *args, **kwargs):
        with engine.connect() as conn:
            return function(conn, *args, **kwargs)

    def read_pair(function: Callable, symbol: str, exchange: str | None, *args):
        """``function(conn, coin, *args)`` for the pair (symbol, exchange) asked."""
        symbol, picked = pair_of(symbol, exchange)
        with engine.connect() as conn:
            return function(conn, views.pair(conn, symbol, picked), *args)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def failure(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return error_json(status, message)
        return render("error.html", status=status, status_code=status, message=message)

    # -- errors: one line, never a trace ---------------------------------------------

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return failure(request, 422, f"invalid {where}: {first.get('msg', 'bad value')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such page: {request.url.path}"
        return failure(request, exc.status_code, message)

    @app.exception_handler(views.NotFound)
    async def not_found(request: Request, exc: views.NotFound) -> Response:
        return failure(request, 404, str(exc))

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> Response:
        return failure(request, 400, str(exc))

    @app.exception_handler(sa.exc.DBAPIError)
    async def database_down(request: Request, exc: sa.exc.DBAPIError) -> Response:
        log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
        return failure(request, 503, "database unavailable; retry later")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed: %s", request.method, request.url.path,
                  type(exc).__name__, exc_info=exc)
        return failure(request, 500, "internal error")

    # -- middleware: token, headers ----------------------------------------------------

    @app.middleware("http")
    async def guard(request: Request, call_next) -> Response:
        if token is not None and not _authorised(request, token):
            if request.url.path in PUBLIC_PATHS:
                response = await call_next(request)
            elif wants_json(request):
                response = error_json(401, "a token is required (Authorization: Bearer T)")
            else:
                response = render("login.html", status=401, next=_local(request.url.path),
                                  message=None)
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # -- pages -------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        market = first_market(default_exchange)
        query = urlencode({"exchange": default_exchange})
        return RedirectResponse(f"/market/{market}?{query}", status_code=303)

    @app.get("/market", include_in_schema=False)
    def market_form(market: str = Query(DEFAULT_MARKET, pattern=MARKET),
                    interval: str = Query(DEFAULT_INTERVAL),
                    exchange: str | None = Query(None, pattern=EXCHANGE_NAME)) -> Response:
        _interval(interval)
        picked = chosen(exchange)
        with engine.connect() as conn:
            known = db.markets(conn, picked)
        if known and market not in known:  # another exchange's market: its first one
            market = first_market(picked)
        query = urlencode({"interval": interval, "exchange": picked})
        return RedirectResponse(f"/market/{market}?{query}", status_code=303)

    @app.get("/market/{market}", include_in_schema=False)
    def market_page(market: str = PathParam(pattern=MARKET),
                    interval: str = Query(DEFAULT_INTERVAL),
                    exchange: str | None = Query(None, pattern=EXCHANGE_NAME)) -> Response:
        _interval(interval)
        picked = chosen(exchange)
        with engine.connect() as conn:
            data = views.ranking(conn, market, interval, picked)
            markets = db.markets(conn, picked)
        return render("market.html", data=data, markets=markets, page="market",
                      market=market, exchange=picked)

    @app.get("/pair/{symbol}", include_in_schema=False)
    def pair_page(symbol: str = PathParam(pattern=SYMBOL),
                  interval: str = Query(DEFAULT_INTERVAL),
                  days: int = Query(7, ge=1, le=MAX_DAYS),
                  exchange: str | None = Query(None, pattern=EXCHANGE_NAME)) -> Response:
        _interval(interval)
        symbol, picked = pair_of(symbol, exchange)
        with engine.connect() as conn:
            coin = views.pair(conn, symbol, picked)
            chart = views.history(conn, coin, interval, days)
            record = views.track_record(conn, coin, interval, chart["model"], chart["target"])
            model = views.model_info(conn, coin, interval)
        return render("pair.html", chart=chart, record=record, model=model,
                      market=coin.quoteAsset, exchange=picked, page="pair")

    @app.get("/runs", include_in_schema=False)
    def runs_page(limit: int = Query(50, ge=1, le=MAX_RUNS)) -> Response:
        return render("runs.html", data=read(views.runs, limit), page="runs")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> Response:
        return render("apidocs.html", spec=app.openapi(), page="api")

    @app.get("/login", include_in_schema=False)
    def login_page(next: str = Query("/", max_length=200)) -> Response:  # noqa: A002
        return render("login.html", next=_local(next), message=None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        target = _local((form.get("next") or ["/"])[0])
        if token is None or not hmac.compare_digest(given.encode(), token.encode()):
            return render("login.html", status=401, next=target, message="wrong token")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True,
                            samesite="strict", path="/")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str = PathParam(pattern=r"^[a-z]+\.(css|js|svg)$")) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no such file: {name}")
        return Response((HERE / "static" / name).read_bytes(), media_type=STATIC_FILES[name])

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        if "plotly" not in vendor:
            vendor["plotly"] = plotly_js()
        return Response(vendor["plotly"], media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    # -- JSON API ----------------------------------------------------------------------

    exchange_query = Query(None, pattern=EXCHANGE_NAME, examples=[DEFAULT_EXCHANGE],
                           description=f"one of {', '.join(EXCHANGES)}; default "
                                       f"{default_exchange}")

    @app.get("/api/markets", summary="The quote markets that have pairs on an exchange")
    def api_markets(exchange: str | None = exchange_query) -> dict:
        picked = chosen(exchange)
        return {"exchange": picked, "markets": read(db.markets, picked)}

    @app.get("/api/markets/{market}/ranking",
             summary="Every pair of a market: close, forecast, change %, verdict, forward "
                     "skill, the newest band's width and the bands' 30-day coverage, "
                     "staleness; edge first")
    def api_ranking(market: str = PathParam(pattern=MARKET, examples=["ETH"]),
                    interval: str = Query(DEFAULT_INTERVAL, examples=["1h"]),
                    exchange: str | None = exchange_query) -> list[dict]:
        _interval(interval)
        return read(views.ranking, market, interval, chosen(exchange))["pairs"]

    @app.get("/api/pairs/{symbol}/track-record",
             summary="A pair's forward track record per window (24h, 7d, 30d, all), with "
                     "its prediction bands' coverage beside their nominal level")
    def api_track_record(symbol: str = PathParam(pattern=SYMBOL, examples=["ADAETH"]),
                         interval: str = Query(DEFAULT_INTERVAL),
                         model: str | None = Query(None, pattern=SERIES_NAME),
                         target: str | None = Query(None, pattern=SERIES_NAME),
                         exchange: str | None = exchange_query) -> list[dict]:
        _interval(interval)
        record = read_pair(views.track_record, symbol, exchange, interval, model, target)
        return [{**window, "model": record["model"], "target": record["target"],
                 "interval": interval} for window in record["windows"]]

    @app.get("/api/pairs/{symbol}/history",
             summary="Closes, past forecasts and their bands, naive forecasts, the next "
                     "forecast and its bands, and the cumulative squared-error difference "
                     "over the last N days")
    def api_history(symbol: str = PathParam(pattern=SYMBOL),
                    interval: str = Query(DEFAULT_INTERVAL),
                    days: int = Query(7, ge=1, le=MAX_DAYS),
                    exchange: str | None = exchange_query) -> dict:
        _interval(interval)
        return read_pair(views.history, symbol, exchange, interval, days)

    @app.get("/api/pairs/{symbol}/model",
             summary="The pair's newest training run: settings and test-slice metrics")
    def api_model(symbol: str = PathParam(pattern=SYMBOL),
                  interval: str = Query(DEFAULT_INTERVAL),
                  exchange: str | None = exchange_query) -> dict:
        _interval(interval)
        return read_pair(views.model_info, symbol, exchange, interval)

    @app.get("/api/runs", summary="The market job's runs, newest first")
    def api_runs(limit: int = Query(50, ge=1, le=MAX_RUNS),
                 market: str | None = Query(None, pattern=MARKET),
                 exchange: str | None = exchange_query) -> list[dict]:
        # A market's runs are its job's (one per exchange and market: job_name).
        job = None if market is None else job_name(chosen(exchange), market)
        return read(views.runs, limit, job)["runs"]

    return app


def _num(value, spec: str) -> str:
    """A figure as the table shows it; '-' for none."""
    return "-" if value is None else format(value, spec)


def _raw(value) -> str:
    """A cell's sort value (data-v): the number, or empty for none."""
    return "" if value is None else repr(value)


def _trend(value) -> str:
    return "up" if value and value > 0 else "down" if value and value < 0 else ""


def _interval(interval: str) -> None:
    if interval not in INTERVAL_MS:
        raise HTTPException(422, f"invalid interval {interval[:20]!r}: choose one of "
                                 f"{', '.join(INTERVAL_MS)}")


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(),
                                                            token.encode()):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def _local(path: str) -> str:
    """A redirect target on this server only (no //host or scheme: no open redirect)."""
    return path if re.fullmatch(r"/[A-Za-z0-9/_.?=&-]{0,200}", path) and not path.startswith(
        "//") else "/"
