"""The token guard: with a token every request must carry it, as ``Authorization: Bearer
T`` (the scheme in any case) or the session cookie the login form sets.

A session is a random id the server keeps (never the token, nor anything derived from it),
good for :data:`SESSION_LIFETIME_S` and ended by ``POST /logout``; sessions live in the
server's memory, so a restart signs everyone out. Wrong tokens are limited per client
address (:class:`FailureLimiter`): past the limit every token attempt from there gets 429
until the oldest failure ages out, so guessing runs at a few tries a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from coinlstm.app.web.deps import SiteDep
from coinlstm.app.web.site import Site, error_json, wants_json

SESSION_COOKIE = "coinlstm_session"
SESSION_LIFETIME_S = 12 * 3600
#: What the login page itself needs, and the logout: open without the token.
PUBLIC_PATHS = ("/login", "/logout", "/static/style.css", "/static/icon.svg")
#: The login form is two short fields: a body past this is refused (413) unread.
MAX_LOGIN_BODY = 4096
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
#: Bounds on the memory the guard keeps (the oldest entries go first).
MAX_SESSIONS = 10_000
MAX_ADDRESSES = 10_000

router = APIRouter(include_in_schema=False)


class Sessions:
    """Session ids issued at login, each valid until its expiry or its logout. Only the
    ids' SHA-256 is kept."""

    def __init__(self, lifetime_s: float = SESSION_LIFETIME_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime_s, self.clock = lifetime_s, clock
        self._expiry: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            while self._expiry and (len(self._expiry) >= MAX_SESSIONS
                                    or next(iter(self._expiry.values())) <= now):
                self._expiry.popitem(last=False)
            self._expiry[_digest(session)] = now + self.lifetime_s
        return session

    def valid(self, session: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(_digest(session))
        return expiry is not None and self.clock() < expiry

    def end(self, session: str) -> None:
        with self._lock:
            self._expiry.pop(_digest(session), None)


def _digest(session: str) -> bytes:
    return hashlib.sha256(session.encode("utf-8", "replace")).digest()


class FailureLimiter:
    """Wrong tokens per client address: :data:`MAX_FAILURES` within ``window_s`` lock the
    address out until the oldest of them is ``window_s`` old."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s, self.clock = max_failures, window_s, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        with self._lock:
            times = self._recent(address)
            if len(times) < self.max_failures:
                return None
            return max(1, math.ceil(times[0] + self.window_s - self.clock()))

    def fail(self, address: str) -> None:
        with self._lock:
            times = self._recent(address)
            times.append(self.clock())
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def _recent(self, address: str) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= self.clock() - self.window_s:
            times.popleft()
        while len(times) > self.max_failures:
            times.popleft()
        return times


class Auth:
    """The token, its sessions and its failure limit."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self.sessions = Sessions()
        self.limiter = FailureLimiter()

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the token, in constant time."""
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._token)

    def refusal(self, site: Site, connection: HTTPConnection) -> Response | None:
        """None when the request may pass; else what it gets (401, or 429 when its address
        tried too many wrong tokens)."""
        path = connection.url.path
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given:
            wait = self.limiter.retry_after(client_address(connection))
            if wait is not None:
                return too_many(site, connection, wait)
            if self.matches(given.strip()):
                return None
            self.limiter.fail(client_address(connection))
        elif self.sessions.valid(connection.cookies.get(SESSION_COOKIE, "")):
            return None
        if path in PUBLIC_PATHS:
            return None
        if wants_json(connection):
            return error_json(401, "a token is required (Authorization: Bearer T)")
        return site.render("login.html", status=401, next=local_target(path), message=None)


class AuthGate:
    """The ASGI layer that lets a request through only with the token (``auth``)."""

    def __init__(self, app: ASGIApp, site: Site, auth: Auth) -> None:
        self.app, self.site, self.auth = app, site, auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = None
        if scope["type"] == "http":
            refusal = self.auth.refusal(self.site, HTTPConnection(scope))
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await refusal(scope, receive, send)


def client_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "unknown"


def too_many(site: Site, connection: HTTPConnection, wait: int) -> Response:
    return site.failure(connection, 429, f"too many wrong tokens; retry in {wait} s",
                        headers={"Retry-After": str(wait)})


def local_target(path: str) -> str:
    """A redirect target on this server only (no //host or scheme: no open redirect)."""
    return path if re.fullmatch(r"/[A-Za-z0-9/_.?=&-]{0,200}", path) and not path.startswith(
        "//") else "/"


async def bounded_body(request: Request, limit: int = MAX_LOGIN_BODY) -> bytes:
    """The request's body, refused with 413 past ``limit`` bytes: by its Content-Length
    before reading, else while streaming (a chunked body), so at most ``limit`` plus one
    chunk is ever held."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413 if declared.isdigit() else 400,
                            f"the form takes at most {limit} bytes",
                            headers={"Connection": "close"})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the form takes at most {limit} bytes",
                                headers={"Connection": "close"})
    return bytes(body)


@router.get("/login")
def login_page(site: SiteDep, next: str = Query("/", max_length=200)) -> Response:  # noqa: A002
    return site.render("login.html", next=local_target(next), message=None)


@router.post("/login")
async def login(site: SiteDep, request: Request) -> Response:
    auth: Auth | None = request.app.state.auth
    address = client_address(request)
    wait = None if auth is None else auth.limiter.retry_after(address)
    if wait is not None:
        return too_many(site, request, wait)
    form = parse_qs((await bounded_body(request)).decode("utf-8", "replace"))
    given = (form.get("token") or [""])[0]
    target = local_target((form.get("next") or ["/"])[0])
    if auth is None or not auth.matches(given):
        if auth is not None:
            auth.limiter.fail(address)
        return site.render("login.html", status=401, next=target, message="wrong token")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, auth.sessions.issue(), max_age=SESSION_LIFETIME_S,
                        httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """Ends the session the request carries (server side) and clears its cookie."""
    auth: Auth | None = request.app.state.auth
    if auth is not None:
        auth.sessions.end(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
