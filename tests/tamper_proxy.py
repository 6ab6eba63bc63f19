"""A loopback HTTP proxy in front of the replay server that alters klines on their way.

Why: the crawler must never store a wrong candle, whatever the exchange sends. The replay
server only serves sound files, so this proxy sits between it and the real python-binance
client (real HTTP on 127.0.0.1) and breaks one candle of one pair's replies in one of the
ways in :data:`ALTERATIONS`, every time or only the first few times.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
KLINES_PATH = "/api/v3/klines"
#: Headers of the replay server's replies the client reads (weight, rate limits).
_FORWARDED = ("X-MBX-USED-WEIGHT-1M", "Retry-After")


def _set(index: int, value: str) -> Callable[[list, int], object]:
    def alter(page: list, at: int) -> list:
        page[at] = [*page[at][:index], value, *page[at][index + 1:]]
        return page
    return alter


def _low_above_high(page: list, at: int) -> list:
    row = list(page[at])
    row[3] = format(Decimal(row[2]) * 2, "f")
    page[at] = row
    return page


def _close_above_high(page: list, at: int) -> list:
    row = list(page[at])
    row[4] = format(Decimal(row[2]) + Decimal("0.00000001"), "f")
    page[at] = row
    return page


def _short_row(page: list, at: int) -> list:
    page[at] = page[at][:11]
    return page


def _swap_with_next(page: list, at: int) -> list:
    page[at], page[at + 1] = page[at + 1], page[at]
    return page


def _duplicate(page: list, at: int) -> list:
    page.insert(at + 1, list(page[at]))
    return page


def _not_a_list(page: list, at: int) -> dict:
    return {"code": 0, "msg": "klines (altered by the test proxy)"}


#: name -> alteration of a klines reply (the page, the index of the target candle in it).
ALTERATIONS: dict[str, Callable[[list, int], object]] = {
    "non-numeric price": _set(4, "0.0x12"),
    "NaN price": _set(2, "NaN"),
    "infinite price": _set(1, "Infinity"),
    "negative price": _set(4, "-0.00010000"),
    "zero price": _set(3, "0.00000000"),
    "short row": _short_row,
    "low above high": _low_above_high,
    "close outside [low, high]": _close_above_high,
    "negative volume": _set(5, "-1.00000000"),
    "rows out of order": _swap_with_next,
    "duplicated row": _duplicate,
    "reply not a list": _not_a_list,
}


@dataclass
class Tamper:
    """Alter the candle of ``symbol`` opening at ``open_ms`` in every reply that holds it,
    ``times`` times (None: always)."""

    symbol: str
    open_ms: int
    alteration: str
    times: int | None = None
    done: int = 0


class TamperProxy:
    """``with TamperProxy(replay.url, Tamper(...)) as proxy: proxy.url``: a loopback HTTP
    proxy that forwards every request to ``upstream`` and alters klines replies."""

    def __init__(self, upstream: str, tamper: Tamper | None = None):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.tamper = tamper
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    @property
    def altered(self) -> int:
        """Replies altered so far."""
        return 0 if self.tamper is None else self.tamper.done

    def __enter__(self) -> TamperProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def forward(self, target: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request("GET", target)
            reply = connection.getresponse()
            body = reply.read()
            headers = {name: reply.headers[name] for name in _FORWARDED if name in reply.headers}
            status = reply.status
        finally:
            connection.close()
        parts = urlsplit(target)
        if status == 200 and parts.path == KLINES_PATH:
            body = self._alter(parse_qs(parts.query).get("symbol", [""])[0], body)
        return status, headers, body

    def _alter(self, symbol: str, body: bytes) -> bytes:
        tamper = self.tamper
        if tamper is None or symbol != tamper.symbol:
            return body
        page = json.loads(body)
        at = next((i for i, row in enumerate(page) if row[0] == tamper.open_ms), None)
        if at is None or at + 1 >= len(page):  # the target (and the row after it) not here
            return body
        with self._lock:
            if tamper.times is not None and tamper.done >= tamper.times:
                return body
            tamper.done += 1
        return json.dumps(ALTERATIONS[tamper.alteration](page, at)).encode()


def _handler_for(proxy: TamperProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            status, headers, body = proxy.forward(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - base signature
            pass

    return Handler
