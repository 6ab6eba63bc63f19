"""What every part of the dashboard shares: the read engine, the templates, the default
exchange, and the two ways of answering (a page or a one-line JSON error)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader
from starlette.requests import HTTPConnection
from starlette.responses import Response

from coinlstm import db
from coinlstm.core.config import DEFAULT_MARKET
from coinlstm.core.exchanges import EXCHANGES
from coinlstm.core.klines import INTERVAL_MS

HERE = Path(__file__).resolve().parent


def error_json(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """The one-line JSON error every failure of the API gets."""
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status,
                        headers=headers)


def _num(value, spec: str) -> str:
    """A figure as the table shows it; '-' for none."""
    return "-" if value is None else format(value, spec)


def _raw(value) -> str:
    """A cell's sort value (data-v): the number, or empty for none."""
    return "" if value is None else repr(value)


def _trend(value) -> str:
    return "up" if value and value > 0 else "down" if value and value < 0 else ""


def _templates() -> Environment:
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    templates.filters.update(num=_num, raw=_raw, trend=_trend)
    return templates


@dataclass
class Site:
    """The dashboard over one database. ``signed_in``: whether pages offer a logout (a
    token guards the server)."""

    engine: sa.Engine
    default_exchange: str
    signed_in: bool = False
    templates: Environment = field(default_factory=_templates)

    def render(self, name: str, status: int = 200, headers: dict | None = None,
               **context) -> HTMLResponse:
        html = self.templates.get_template(name).render(
            intervals=list(INTERVAL_MS), exchanges=list(EXCHANGES),
            logout=self.signed_in and name != "login.html",
            **context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def failure(self, connection: HTTPConnection, status: int, message: str,
                headers: dict | None = None) -> Response:
        """A refusal as the client reads it: one line of JSON under /api/, a page else."""
        if wants_json(connection):
            return error_json(status, message, headers)
        return self.render("error.html", status=status, headers=headers,
                           status_code=status, message=message)

    def read(self, function: Callable, *args, **kwargs):
        """``function(conn, *args, **kwargs)`` on a connection of its own."""
        with self.engine.connect() as conn:
            return function(conn, *args, **kwargs)

    def first_market(self, exchange: str) -> str:
        """The market a page without one shows: ETH where the exchange has it, else the
        exchange's first market in the database."""
        known = self.read(db.markets, exchange)
        return DEFAULT_MARKET if DEFAULT_MARKET in known or not known else known[0]


def wants_json(connection: HTTPConnection) -> bool:
    return connection.url.path.startswith("/api/")
