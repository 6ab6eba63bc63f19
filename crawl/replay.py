"""A Binance-compatible REST server on 127.0.0.1 that replays kline files.

Why it exists: the crawler, the market job and the offline demo must be tested against real
HTTP and the real python-binance client, with real candles, without the internet, and under
the exchange's misbehaviour (rate limits, bans, 5xx, slow and truncated replies). The server
loads ``SYMBOL.csv`` files and/or a data.binance.vision tree of monthly zips once, keeps
every line's original text, and answers ``ping``, ``time``, ``exchangeInfo`` and ``klines``
like the real API, with a real per-minute weight counter.

Its clock can stand anywhere in the data (``now``) and run faster than real time
(``speed``), so a test can put "the present" in the middle of the files: later candles do
not exist yet and the current one is served still open, as Binance does.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import socket
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, fields
from decimal import ROUND_DOWN, Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from coinlstm.core.errors import BadInput
from coinlstm.core.klines import SYMBOL_PATTERN, parse_time, split_symbol
from crawl.klinefiles import DUMP_NAME, KlineFile, describe_file, read_klines
from crawl.replayformats import REPLAY_EXCHANGES, ReplyError, dumps, reply_format
from crawl.replayformats.coarser import coarser_klines

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MINUTE_MS = 60_000
DEFAULT_WEIGHT_LIMIT = 6000
#: Request weights of the real API (spot, 2024): what X-MBX-USED-WEIGHT-1M adds up.
ENDPOINT_WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
}
KLINES_DEFAULT_LIMIT = 500
KLINES_MAX_LIMIT = 1000


# --------------------------------------------------------------------------- faults


def _fault(default: int, flag: str, metavar: str = "N", help_text: str | None = None):
    """A field of :class:`Faults`: its default and its ``coinlstm replay`` flag."""
    return field(default=default, metadata={"flag": flag, "metavar": metavar, "help": help_text})


@dataclass(frozen=True)
class Faults:
    """Misbehaviour to inject, counted over every request the server receives (1-based).

    ``*_every = N`` hits requests N, 2N, 3N, ...; 0 disables. Injected 429/418/500 replies
    use no weight. Each field is also a flag of ``coinlstm replay``
    (:meth:`add_arguments`, :meth:`from_args`), declared once, here.
    """

    too_many_every: int = _fault(0, "--fail-429-every")
    banned_every: int = _fault(0, "--fail-418-every")
    error_every: int = _fault(0, "--fail-500-every")
    truncate_every: int = _fault(0, "--truncate-every",
                                 help_text="cut the JSON body of every Nth reply in half")
    retry_after: int = _fault(
        2, "--retry-after", "S",
        help_text="Retry-After seconds of injected 429/418 replies (default 2)")
    delay_ms: int = _fault(0, "--delay-ms", "MS", help_text="delay replies by MS milliseconds")
    delay_every: int = _fault(1, "--delay-every",
                              help_text="which replies --delay-ms slows down (default every one)")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("faults (every Nth request; 0 = never)")
        for item in fields(cls):
            group.add_argument(item.metadata["flag"], dest=item.name, type=int,
                               default=item.default, metavar=item.metadata["metavar"],
                               help=item.metadata["help"])

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Faults:
        """The faults the flags ask for; BadInput (naming the flag) for a negative number."""
        for item in fields(cls):
            if getattr(args, item.name) < 0:
                raise BadInput(f"{item.metadata['flag']} must not be negative")
        return cls(**{item.name: getattr(args, item.name) for item in fields(cls)})

    @staticmethod
    def hits(every: int, number: int) -> bool:
        return every > 0 and number % every == 0


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it: when it arrived (time.monotonic()), what, and the
    answer.

    ``used_weight`` is the X-MBX-USED-WEIGHT-1M the reply carried (0 for injected faults);
    ``replied`` when its reply was ready to send (time.monotonic()); ``concurrent`` how many
    requests the server was handling when it arrived, this one included.
    """

    time: float
    path: str
    status: int
    used_weight: int = 0
    replied: float = 0.0
    concurrent: int = 1


# --------------------------------------------------------------------------- data


@dataclass
class SymbolCandles:
    """One symbol's candles, oldest first, each kline pre-rendered as the API's JSON."""

    symbol: str
    interval: str
    open_times: list[int]
    close_times: list[int]
    rendered: list[str]


def _render_kline(kline: list) -> str:
    """The API's JSON array of a stored-form kline: times and trades as integers, the rest
    as strings, each the file's own text (see coinlstm.core.klines.kline_from_line)."""
    return (f'[{kline[0]},"{kline[1]}","{kline[2]}","{kline[3]}","{kline[4]}","{kline[5]}",'
            f'{kline[6]},"{kline[7]}",{kline[8]},"{kline[9]}","{kline[10]}",'
            f'{json.dumps(kline[11])}]')


def _served_files(source_dir: Path) -> dict[str, list[KlineFile]]:
    """Each symbol's files: top-level ``SYMBOL.csv`` files and dump zips anywhere below."""
    files: dict[str, list[KlineFile]] = {}
    candidates = [path for path in sorted(source_dir.glob("*.csv"))
                  if SYMBOL_PATTERN.fullmatch(path.stem)]
    for path in sorted(source_dir.rglob("*.zip")):
        dump = DUMP_NAME.fullmatch(path.name)
        if dump and SYMBOL_PATTERN.fullmatch(dump["symbol"]):
            candidates.append(path)
    for path in candidates:
        source = describe_file(path)
        files.setdefault(source.symbol, []).append(source)
    return files


def load_klines(source_dir: Path) -> dict[str, SymbolCandles]:
    """Every symbol's candles from ``SYMBOL.csv`` files and data.binance.vision zips, read
    and checked by :func:`crawl.klinefiles.read_klines` (a bad line is BadInput)."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise BadInput(f"not a folder: {source_dir}")
    files = _served_files(source_dir)
    if not files:
        raise BadInput(f"no kline files in {source_dir}: expected SYMBOL.csv files or "
                       "data/spot/monthly/klines/SYMBOL/1h/SYMBOL-1h-YYYY-MM.zip")
    symbols: dict[str, SymbolCandles] = {}
    for symbol, sources in sorted(files.items()):
        rows: dict[int, list] = {}
        intervals = set()
        for source in sources:
            text = read_klines(source)
            intervals.add(text.interval)
            for kline in text.klines:
                rows.setdefault(kline[0], kline)
        if len(intervals) > 1:
            raise BadInput(f"{symbol}: files of several intervals ({', '.join(sorted(intervals))})"
                           "; serve one interval per symbol")
        open_times = sorted(rows)
        symbols[symbol] = SymbolCandles(
            symbol=symbol,
            interval=intervals.pop(),
            open_times=open_times,
            close_times=[rows[t][6] for t in open_times],
            rendered=[_render_kline(rows[t]) for t in open_times],
        )
    return symbols


def candles_at(candles: SymbolCandles, interval: str) -> SymbolCandles | None:
    """A symbol's candles at ``interval``: its own, or a coarser interval aggregated from
    them (crawl/replayformats/coarser.py; built on the first request and kept); None when
    that interval cannot be served from them."""
    if interval == candles.interval:
        return candles
    with _AGGREGATING:
        kept = vars(candles).setdefault("_coarser", {})
        if interval not in kept:
            klines = coarser_klines([json.loads(text) for text in candles.rendered],
                                    candles.interval, interval)
            kept[interval] = None if klines is None else SymbolCandles(
                candles.symbol, interval, [k[0] for k in klines], [k[6] for k in klines],
                [_render_kline(k) for k in klines])
        return kept[interval]


_AGGREGATING = threading.Lock()


# --------------------------------------------------------------------------- server


class _ApiError(Exception):
    """An error reply in Binance's shape: HTTP status and {"code", "msg"}."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ReplayServer:
    """The replay server. ``with ReplayServer(folder, now=ms) as server: server.url``.

    ``now`` (ms) sets the clock's start (default: real time), ``speed`` how fast it runs;
    ``statuses`` overrides a symbol's exchangeInfo status (e.g. ``{"EOSETH": "BREAK"}``).
    """

    def __init__(self, source_dir: Path, port: int = 0, now: int | None = None,
                 speed: float = 1.0, weight_limit: int = DEFAULT_WEIGHT_LIMIT,
                 faults: Faults | None = None, statuses: dict[str, str] | None = None,
                 exchange: str = "binance"):
        if speed <= 0:
            raise BadInput(f"speed must be positive, got {speed}")
        if weight_limit < 1:
            raise BadInput(f"weight limit must be at least 1, got {weight_limit}")
        self.symbols = load_klines(Path(source_dir))
        #: Another exchange's replies (crawl.replayformats); None: Binance's, below.
        self.format = reply_format(exchange, self.symbols)
        self.exchange = exchange
        self.port = port
        self.speed = float(speed)
        self.weight_limit = int(weight_limit)
        self.faults = faults or Faults()
        self.statuses = dict(statuses or {})
        self._now_origin = now
        self._mono_origin = time.monotonic()
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._request_count = 0
        self._in_flight = 0
        self._weight_minute = -1
        self._weight_used = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> ReplayServer:
        """Bind 127.0.0.1 and serve in a daemon thread; the clock starts now."""
        handler = _handler_for(self)
        self._httpd = _QuietServer((HOST, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._mono_origin = time.monotonic()
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name=f"replay-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (kept-alive ones included)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def request_log(self) -> list[LoggedRequest]:
        """Every request so far, in the order they arrived."""
        with self._lock:
            return sorted(self._log, key=lambda entry: entry.time)

    @property
    def most_concurrent(self) -> int:
        """The most requests the server has handled at once (what a concurrent crawl's
        worker limit bounds)."""
        with self._lock:
            return max((entry.concurrent for entry in self._log), default=0)

    @property
    def candle_count(self) -> int:
        return sum(len(s.open_times) for s in self.symbols.values())

    @property
    def clock_rate(self) -> float:
        """Server seconds per real second (speed only applies to a clock set by ``now``)."""
        return 1.0 if self._now_origin is None else self.speed

    def now_ms(self) -> int:
        """The server's clock: real time, or ``now`` advanced by elapsed time x speed."""
        if self._now_origin is None:
            return int(time.time() * 1000)
        elapsed = time.monotonic() - self._mono_origin
        return int(self._now_origin + elapsed * 1000 * self.speed)

    # -- request handling -------------------------------------------------------------

    def handle(self, target: str) -> _Reply:
        """Answer one GET; records it (time of arrival) in the request log."""
        arrived = time.monotonic()
        with self._lock:
            self._request_count += 1
            number = self._request_count
            self._in_flight += 1
            concurrent = self._in_flight
        try:
            faults = self.faults
            if Faults.hits(faults.delay_every, number) and faults.delay_ms > 0:
                time.sleep(faults.delay_ms / 1000)
            reply = self._answer(target, number)
            if reply.status == 200 and Faults.hits(faults.truncate_every, number):
                reply.body = reply.body[: max(1, len(reply.body) // 2)]
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            used = int(reply.headers.get("X-MBX-USED-WEIGHT-1M", 0))
            self._log.append(LoggedRequest(arrived, target, reply.status, used,
                                           time.monotonic(), concurrent))
        return reply

    def _answer(self, target: str, number: int) -> _Reply:
        if self.format is not None:
            return self._answer_as_format(target, number)
        faults = self.faults
        retry = {"Retry-After": str(faults.retry_after)}
        if Faults.hits(faults.too_many_every, number):
            return self._error(429, -1003, "Too many requests (injected).", retry)
        if Faults.hits(faults.banned_every, number):
            return self._error(418, -1003, "Way too many requests; IP banned (injected).",
                               retry)
        if Faults.hits(faults.error_every, number):
            return self._error(500, -1000, "An unknown error occurred (injected).")
        parts = urlsplit(target)
        weight = ENDPOINT_WEIGHTS.get(parts.path)
        if weight is None:
            return self._error(404, -1000, f"Unknown path {parts.path}.")
        used, over_by_ms = self._use_weight(weight)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if over_by_ms is not None:
            real_seconds = over_by_ms / 1000 / self.clock_rate
            headers["Retry-After"] = str(max(1, math.ceil(real_seconds)))
            return self._error(429, -1003, f"Too much request weight used; current limit is "
                               f"{self.weight_limit} request weight per 1 MINUTE.", headers)
        try:
            payload = self._payload(parts.path, parse_qs(parts.query))
        except _ApiError as exc:
            return self._error(exc.status, exc.code, exc.message, headers)
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return _Reply(200, body, headers)

    def _answer_as_format(self, target: str, number: int) -> _Reply:
        """Another exchange's reply: the same faults, its paths and bodies, no weights."""
        faults, shape = self.faults, self.format
        retry = {"Retry-After": str(faults.retry_after)}
        if Faults.hits(faults.too_many_every, number):
            return _Reply(429, dumps(shape.error_body(429, "Too many requests (injected).")),
                          retry)
        if Faults.hits(faults.banned_every, number):
            return _Reply(418, dumps(shape.error_body(418, "Banned (injected).")), retry)
        if Faults.hits(faults.error_every, number):
            return _Reply(500, dumps(shape.error_body(500, "Internal error (injected).")))
        parts = urlsplit(target)
        try:
            payload = shape.answer(parts.path, parse_qs(parts.query), self.now_ms())
        except ReplyError as exc:
            return _Reply(exc.status, dumps(exc.body))
        return _Reply(200, dumps(payload))

    def _use_weight(self, weight: int) -> tuple[int, int | None]:
        """Add a request's weight to this minute's; (used, ms to the next minute if over)."""
        now = self.now_ms()
        minute = now // MINUTE_MS
        with self._lock:
            if minute != self._weight_minute:
                self._weight_minute, self._weight_used = minute, 0
            if self._weight_used + weight > self.weight_limit:
                return self._weight_used, (minute + 1) * MINUTE_MS - now
            self._weight_used += weight
            return self._weight_used, None

    def _error(self, status: int, code: int, message: str,
               headers: dict[str, str] | None = None) -> _Reply:
        body = json.dumps({"code": code, "msg": message}).encode()
        return _Reply(status, body, dict(headers or {}))

    def _payload(self, path: str, query: dict[str, list[str]]) -> dict | bytes:
        if path == "/api/v3/ping":
            return {}
        if path == "/api/v3/time":
            return {"serverTime": self.now_ms()}
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info(query)
        return self._klines(query)

    def _exchange_info(self, query: dict[str, list[str]]) -> dict:
        wanted = set(self.symbols)
        if "symbol" in query:
            wanted = {_one(query, "symbol")}
        elif "symbols" in query:
            try:
                wanted = set(json.loads(_one(query, "symbols")))
            except (ValueError, TypeError):
                raise _ApiError(400, -1100, "Illegal characters found in parameter "
                                "'symbols'.") from None
        unknown = wanted - set(self.symbols)
        if unknown:
            raise _ApiError(400, -1121, "Invalid symbol.")
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.weight_limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
                 "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(symbol) for symbol in sorted(wanted)],
        }

    def _symbol_info(self, symbol: str) -> dict:
        base, quote = split_symbol(symbol)
        return {
            "symbol": symbol,
            "status": self.statuses.get(symbol, "TRADING"),
            "baseAsset": base,
            "baseAssetPrecision": 8,
            "quoteAsset": quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT",
                           "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [],
            "permissions": [],
            "permissionSets": [["SPOT"]],
        }

    def _klines(self, query: dict[str, list[str]]) -> bytes:
        symbol = _one(query, "symbol")
        if not symbol:
            raise _ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was "
                            "empty/null, or malformed.")
        candles = self.symbols.get(symbol)
        if candles is None:
            raise _ApiError(400, -1121, "Invalid symbol.")
        candles = candles_at(candles, _one(query, "interval"))
        if candles is None:
            raise _ApiError(400, -1120, "Invalid interval.")
        limit = _integer(query, "limit", KLINES_DEFAULT_LIMIT)
        if limit < 1:
            raise _ApiError(400, -1100, "Illegal characters found in parameter 'limit'.")
        limit = min(limit, KLINES_MAX_LIMIT)
        start = _integer(query, "startTime", None)
        end = _integer(query, "endTime", None)
        # Candles that have opened by the server's clock; the newest may still be open.
        visible_end = bisect_right(candles.open_times, self.now_ms())
        if end is not None:
            visible_end = min(visible_end, bisect_right(candles.open_times, end))
        first = 0 if start is None else bisect_left(candles.open_times, start)
        if start is None:
            first = max(first, visible_end - limit)
        last = min(visible_end, first + limit)
        rendered = candles.rendered[first:last]
        now = self.now_ms()
        if rendered and candles.close_times[last - 1] >= now:
            rendered[-1] = open_candle_so_far(rendered[-1], now)
        return ("[" + ",".join(rendered) + "]").encode()


def open_candle_so_far(rendered: str, now: int) -> str:
    """A still-open candle as Binance serves it at ``now``: its values so far, not its final
    ones. Volumes and trades are the final ones times the elapsed share of the interval;
    the close moves from the open towards the final close by that share, and the high and
    low so far lie between the open/close so far and the final ones (so every value stays
    inside the final candle's range, and a client storing it gets a candle that differs
    from the final one, as it would on the exchange). The open and both times are final."""
    kline = json.loads(rendered)
    open_time, close_time = int(kline[0]), int(kline[6])
    share = Decimal(max(0, now - open_time)) / Decimal(close_time + 1 - open_time)
    quantum = Decimal("1").scaleb(-8)

    def so_far(value: Decimal) -> str:
        return str(value.quantize(quantum, rounding=ROUND_DOWN))

    first, high, low, final = (Decimal(kline[i]) for i in (1, 2, 3, 4))
    close = first + (final - first) * share
    kline[2] = so_far(max(first, close) + (high - max(first, close)) * share)
    kline[3] = so_far(min(first, close) + (low - min(first, close)) * share)
    kline[4] = so_far(close)
    for index in (5, 7, 9, 10):
        kline[index] = so_far(Decimal(kline[index]) * share)
    kline[8] = int(int(kline[8]) * share)
    return _render_kline(kline)


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _integer(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    text = _one(query, name)
    if not text:
        return default
    if not text.isdigit() or len(text) > 20:
        raise _ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                        "range is '^[0-9]{1,20}$'.")
    return int(text)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (a killed crawler) is normal here, not a traceback."""

    # socketserver's default backlog is 5: a concurrent crawl opening more connections at
    # once than that had the extra ones dropped and retried by TCP a second or more later.
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("replay: %s from %s", type(error).__name__, client_address)
            return
        super().handle_error(request, client_address)


def _handler_for(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its balancer
        server_version = "coinlstm-replay"
        # The headers and the body leave in two writes: with Nagle's algorithm on, the body
        # waited for the client's delayed ACK, 40 ms per request on a kept-alive connection.
        disable_nagle_algorithm = True
        timeout = 30  # an idle kept-alive connection frees its thread

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            super().finish()

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            reply = server.handle(self.path)
            if server.format is not None:
                # The other exchanges' clock is their replies' Date: the server's clock.
                reply.headers["Date"] = formatdate(server.now_ms() / 1000, usegmt=True)
            self.log_request(reply.status)
            self.send_response_only(reply.status)
            self.send_header("Server", self.version_string())
            if "Date" not in reply.headers:
                self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - base signature
            log.debug("replay %s " + format, self.client_address[0], *args)

    return Handler


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source_dir", metavar="DIR", type=Path,
                        help="folder of SYMBOL.csv files and/or a data.binance.vision tree")
    parser.add_argument("--exchange", default="binance", choices=REPLAY_EXCHANGES,
                        help="whose replies to send: the same files in that exchange's "
                             "paths and JSON (default binance)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any)")
    parser.add_argument("--now", metavar="TIME", default=None,
                        help="start the server's clock at TIME (UTC, e.g. 2023-06-30T12:00); "
                             "default: real time")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="how many server seconds pass per real second (default 1)")
    parser.add_argument("--weight-limit", type=int, default=DEFAULT_WEIGHT_LIMIT,
                        help=f"REQUEST_WEIGHT per minute (default {DEFAULT_WEIGHT_LIMIT})")
    Faults.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    for name in ("port", "weight_limit"):
        if getattr(args, name) < 0:
            raise BadInput(f"--{name.replace('_', '-')} must not be negative")
    faults = Faults.from_args(args)
    now = parse_time(args.now) if args.now else None
    server = ReplayServer(args.source_dir, port=args.port, now=now, speed=args.speed,
                          weight_limit=args.weight_limit, faults=faults,
                          exchange=args.exchange)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server.start()
    except OSError as exc:
        raise BadInput(f"cannot listen on {HOST}:{args.port}: {exc.strerror}") from None
    exchange = f"{server.exchange}, " if server.format is not None else ""
    print(f"replay server listening on {server.url} ({exchange}{len(server.symbols)} symbols, "
          f"{server.candle_count} candles)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0
