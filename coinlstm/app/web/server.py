"""The dashboard's web application: read-only pages and JSON API over the forecast database.

Safe by default: the command binds loopback; with a token every request needs it
(coinlstm.app.web.auth); only GET (and HEAD) reads data, and nothing writes to the database
(the login and logout forms change the session only); every parameter is checked
(coinlstm.app.web.deps) and a bad one gets a 4xx with a one-line error; a Host the server
does not answer to gets 400; templates escape everything; a strict Content-Security-Policy
(scripts only from this server, so the chart library is served from the installed
``plotly`` package, never a CDN); no stack trace reaches a client (coinlstm.app.web.errors);
a database that goes away gives 503 and the next request after it is back succeeds
(SQLite: a fresh read-only connection per request; MySQL: pre-ping).

The application is four routers (pages, API, auth, static files) over one :class:`Site`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.pool import NullPool

from coinlstm import db
from coinlstm.app.web import api, auth, errors, pages, static
from coinlstm.app.web.hosts import AllowedHosts
from coinlstm.app.web.site import Site
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE
from coinlstm.core.exchanges import exchange as exchange_named


def read_engine(url: str) -> sa.Engine:
    """An engine that never creates or changes a database and recovers from an outage.

    A SQLite file is opened read-only (``mode=ro``: a missing file is an error, not a new
    empty database; a WAL database's ``-wal``/``-shm`` files are still created by SQLite
    when the folder is writable, as every reader needs them) and connected afresh per
    request, so a file that was moved away and put back is seen again; MySQL keeps its pool
    with pre-ping.
    """
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return db.create_engine(url)
    path = parsed.database
    if not path or path == ":memory:":
        raise BadInput("the dashboard needs a database file or server, not :memory:")

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True,
                                     timeout=10, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=10000")
        return connection

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def create_app(db_url: str, token: str | None = None, exchange: str = DEFAULT_EXCHANGE,
               hosts: AllowedHosts | None = None) -> FastAPI:
    """The application over ``db_url``; with ``token`` every request must carry it.
    ``exchange``: the one shown and asked when a request names none (``serve --exchange``);
    ``hosts``: the Host names answered (default: loopback's).
    """
    site = Site(read_engine(db_url), exchange_named(exchange).name, signed_in=bool(token))
    app = FastAPI(title="coinlstm dashboard API", version="1",
                  description="Read-only forecasts, forward scores and track records. "
                              "Definitions: docs/track-record.md.",
                  docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.engine = site.engine
    app.state.site = site
    app.state.auth = None if token is None else auth.Auth(token)
    for router in (pages.router, api.router, auth.router, static.router):
        app.include_router(router)
    if app.state.auth is not None:
        app.add_middleware(auth.AuthGate, site=site, auth=app.state.auth)
    errors.install(app, site, hosts or AllowedHosts())
    return app
