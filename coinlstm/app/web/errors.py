"""Every failure's answer and every response's headers, in one place.

:func:`install` registers the handlers (a one-line 4xx/503, never a stack trace) and wraps
the application in :class:`Shield`, the outermost layer the application owns. The shield
refuses a ``Host`` the server does not answer to (400), answers HEAD as GET without the
body, turns a failure nothing else handled into a 500 logged once, puts the security
headers on every response (a 500 included) and makes every redirect relative (a
``Location`` never names a host, so none is built from a ``Host`` header).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coinlstm.app.web import views
from coinlstm.app.web.hosts import AllowedHosts
from coinlstm.app.web.site import Site
from coinlstm.core.errors import BadInput

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}
#: A path is echoed in a 404 only when it is this short and plain.
_SHOWN_PATH = re.compile(r"/[A-Za-z0-9/_.-]{0,80}")


def install(app: FastAPI, site: Site, hosts: AllowedHosts) -> None:
    """The handlers on ``app``, and the shield around it (added last: outermost)."""

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = (exc.errors() or [{}])[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return site.failure(request, 422, f"invalid {where}: {first.get('msg', 'bad value')}")

    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            path = request.url.path
            message = f"no such page: {path}" if _SHOWN_PATH.fullmatch(path) else \
                "no such page"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request)
        return site.failure(request, exc.status_code, message, headers or None)

    async def not_found(request: Request, exc: views.NotFound) -> Response:
        return site.failure(request, 404, str(exc))

    async def bad_input(request: Request, exc: BadInput) -> Response:
        return site.failure(request, 400, str(exc))

    async def database_down(request: Request, exc: sa.exc.DBAPIError) -> Response:
        log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
        return site.failure(request, 503, "database unavailable; retry later")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(views.NotFound, not_found)
    app.add_exception_handler(BadInput, bad_input)
    app.add_exception_handler(sa.exc.DBAPIError, database_down)
    app.add_middleware(Shield, site=site, hosts=hosts)


class Shield:
    """See the module's docstring: hosts, HEAD, the last-resort 500, headers, redirects."""

    def __init__(self, app: ASGIApp, site: Site, hosts: AllowedHosts) -> None:
        self.app, self.site, self.hosts = app, site, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
        started = False

        async def shielded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _secure(MutableHeaders(scope=message))
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        connection = HTTPConnection(scope)
        if not self.hosts.accepts(connection.headers.get("host")):
            refusal = self.site.failure(connection, 400, "this server does not answer to "
                                        "that Host (serve --allowed-hosts)")
            await refusal(scope, receive, shielded)
            return
        try:
            await self.app(scope, receive, shielded)
        except Exception as exc:  # the last resort: logged here, once, and answered 500
            log.error("%s %s failed: %s", scope["method"], scope["path"][:200],
                      type(exc).__name__, exc_info=exc)
            if not started:
                await self.site.failure(connection, 500, "internal error")(
                    scope, receive, shielded)


def _allowed(request: Request) -> str:
    """The methods some route answers on the request's path (``Allow``), each tried against
    the routes; HEAD wherever GET is, as the shield answers it."""
    allowed = [method for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                      for route in request.app.router.routes)]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return ", ".join(allowed)


def _secure(headers: MutableHeaders) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    location = headers.get("location")
    if location is not None:
        parts = urlsplit(location)
        if parts.scheme or parts.netloc:
            headers["location"] = urlunsplit(("", "", parts.path or "/", parts.query, ""))
