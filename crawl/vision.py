"""``coinlstm import``: load Binance's kline dumps (data.binance.vision) into the database.

Accepted: monthly ``SYMBOL-1h-YYYY-MM.zip`` and daily ``SYMBOL-1h-YYYY-MM-DD.zip`` dumps (a
``.CHECKSUM`` beside a zip is verified), the CSV inside one, plain ``SYMBOL.csv`` files in the
same 12-column kline order, and folders of any of these (walked recursively, so Binance's own
``data/spot/monthly/klines/SYMBOL/1h/`` layout works as it is).

Each file's candles go to the table of its interval (``candlestick_data`` for 1h,
``candlestick_data_5m`` for 5m, ...), so one import may hold several intervals, even of one
symbol: they are separate series.

An import runs in two passes so that bad input never half-lands: the first reads and checks
every file completely (names, checksums, zips, every field of every line through
:func:`coinlstm.core.klines.parse_kline`, time order) without touching the database; only when all
files are good does the second pass load them, one transaction per file. A file that changes
between the passes (its SHA-256 differs) is refused before its transaction starts.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from coinlstm import db
from coinlstm.core.config import DEFAULT_INTERVAL
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import (
    SYMBOL_PATTERN,
    check_interval,
    check_symbol,
    ms_to_utc,
    parse_kline,
    split_symbol,
    to_milliseconds,
)

#: Candles per insert statement: a month of hourly candles in one go, and a few hundred kB
#: per statement, far below MySQL's default 16 MB max_allowed_packet.
BATCH_ROWS = 5000
#: data.binance.vision names: SYMBOL-INTERVAL-YYYY-MM(.zip|.csv) and SYMBOL-INTERVAL-YYYY-MM-DD.
DUMP_NAME = re.compile(
    r"(?P<symbol>[^-]+)-(?P<interval>[^-]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)")
#: A plain per-pair file, as in /work/shared/data/binance-1h: SYMBOL.csv.
PLAIN_NAME = re.compile(r"(?P<symbol>[^-.]+)\.csv")
KLINE_SUFFIXES = (".zip", ".csv")
CHECKSUM_SUFFIX = ".CHECKSUM"
#: A kline line as Binance writes it, which parse_kline accepts as it is (see stored_kline):
#: integer times and trade count, decimals that DECIMAL(38, 8) holds exactly, no quotes or
#: spaces. ASCII digits only: Python's \d and int() also take other scripts' digits.
_INTEGER = r"[0-9]{1,19}"
_DECIMAL = r"-?[0-9]{1,30}(?:\.[0-9]{1,8})?"
_PLAIN_LINE = re.compile(",".join(
    (_INTEGER, *[_DECIMAL] * 5, _INTEGER, _DECIMAL, _INTEGER, _DECIMAL, _DECIMAL,
     r"[^,\"\s]{0,40}")))
_TIME_FIELDS = (0, 6)
_TRADES_FIELD = 8
_HIGH, _LOW = 2, 3
#: Times from 1970 up to the year 5138 in ms (to_milliseconds turns larger ones from µs).
_MAX_MS = 10**14
_IGNORE_WIDTH: int = db.candlestick_data.c["ignore"].type.length
_ASSET_WIDTH: int = db.coin_info.c["baseAsset"].type.length


@dataclass(frozen=True)
class KlineFile:
    """One file to import and what its name says about its candles."""

    path: Path
    symbol: str
    interval: str


@dataclass(frozen=True)
class CheckedFile:
    """A file the first pass found good: what the second pass loads and how to know it."""

    source: KlineFile
    base: str
    quote: str
    sha256: str
    candles: int


@dataclass
class ImportSummary:
    """What an import did; ``symbols`` maps each imported symbol to the candles it added
    (keyed ``"SYMBOL 5m"`` for an interval other than 1h: another series)."""

    files: int = 0
    candles_seen: int = 0
    candles_added: int = 0
    symbols: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line report of the command."""
        shown = [f"{symbol} +{added}" for symbol, added in sorted(self.symbols.items())]
        if len(shown) > 12:
            shown = shown[:12] + [f"and {len(shown) - 12} more"]
        return (f"imported {self.files} file{'s' * (self.files != 1)}: "
                f"{self.candles_seen} candles read, {self.candles_added} new"
                + (f" ({', '.join(shown)})" if shown else ""))


# --------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="dump zips, kline CSVs, or folders holding them (walked)")
    parser.add_argument("--quote", default=None, metavar="ASSET",
                        help="quote asset of the symbols (needed when it is not a known one, "
                             "e.g. a new stablecoin)")
    parser.add_argument("--interval", default=None,
                        help="interval of plain SYMBOL.csv files (default "
                             f"{DEFAULT_INTERVAL}); dump names carry their own, which must "
                             "then agree. Each interval has its own table "
                             "(candlestick_data_5m, ...)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    # Names and paths are checked before the database is even opened.
    find_kline_files(args.paths, args.interval)
    engine = db.open_database(args.settings.db_url)
    try:
        summary = import_paths(engine, args.paths, quote=args.quote, interval=args.interval,
                               progress=not args.no_progress and sys.stderr.isatty())
    finally:
        engine.dispose()
    print(f"{summary.line()} into {db.describe_url(args.settings.db_url)} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------- import


def import_paths(engine: Engine, paths: list[Path], quote: str | None = None,
                 interval: str | None = None, progress: bool = False) -> ImportSummary:
    """Check every file, then load each in its own transaction; BadInput before any write.

    ``quote`` names the quote asset when a symbol's is not a known one; ``interval`` is that
    of plain ``SYMBOL.csv`` files (default 1h) and, if given, must match the dumps' names.
    Importing the same files again adds nothing.
    """
    quote = _check_quote(quote)
    sources = find_kline_files(paths, interval)
    first_files = {source.symbol: source for source in reversed(sources)}
    with engine.connect() as conn:
        pairs = {symbol: _base_and_quote(conn, source, quote)
                 for symbol, source in first_files.items()}
    checked = [check_file(source, *pairs[source.symbol])
               for source in _progress(sources, "checking", progress)]
    summary = ImportSummary()
    for item in _progress(checked, "importing", progress):
        added = load_file(engine, item)
        summary.files += 1
        summary.candles_seen += item.candles
        summary.candles_added += added
        key = item.source.symbol if item.source.interval == DEFAULT_INTERVAL \
            else f"{item.source.symbol} {item.source.interval}"
        summary.symbols[key] = summary.symbols.get(key, 0) + added
    return summary


def find_kline_files(paths: Sequence[Path], interval: str | None = None) -> list[KlineFile]:
    """Every kline file named by ``paths`` (folders walked), in a stable order.

    BadInput for a missing path, an empty folder, a name that yields no symbol or interval.
    One symbol may come at several intervals: each goes to its own table.
    """
    if interval is not None:
        check_interval(interval)
    if not paths:
        raise BadInput("no files given: name dump zips, kline CSVs or folders")
    found: dict[Path, KlineFile] = {}
    for path in paths:
        for file in _walk(Path(path)):
            found.setdefault(file.resolve(), describe_file(file, interval))
    return sorted(found.values(), key=lambda s: (s.symbol, s.path.name, str(s.path)))


def _walk(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInput(f"{path}: no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and p.suffix.lower() in KLINE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise BadInput(f"{path}: no kline files (*.zip, *.csv) in this folder")
    return files


def describe_file(path: Path, interval: str | None = None) -> KlineFile:
    """Symbol and interval of a file from its name (the dumps hold no symbol column)."""
    dump = DUMP_NAME.fullmatch(path.name)
    plain = PLAIN_NAME.fullmatch(path.name)
    if dump:
        symbol, file_interval = dump["symbol"], dump["interval"]
        if interval is not None and interval != file_interval:
            raise BadInput(f"{path}: the name says interval {file_interval}, "
                           f"--interval says {interval}")
    elif plain:
        symbol, file_interval = plain["symbol"], interval or DEFAULT_INTERVAL
    else:
        raise BadInput(f"{path}: cannot tell the symbol from the file name; expected "
                       "SYMBOL-1h-YYYY-MM.zip, SYMBOL-1h-YYYY-MM-DD.zip, their .csv, "
                       "or SYMBOL.csv")
    try:
        check_symbol(symbol)
        check_interval(file_interval)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None
    return KlineFile(path=path, symbol=symbol, interval=file_interval)


def _check_quote(quote: str | None) -> str | None:
    if quote is None:
        return None
    if not SYMBOL_PATTERN.fullmatch(quote.upper()) or len(quote) > _ASSET_WIDTH:
        raise BadInput(f"invalid quote asset {quote!r}: expected 2-{_ASSET_WIDTH} characters "
                       "A-Z or 0-9")
    return quote.upper()


def _base_and_quote(conn: Connection, source: KlineFile, quote: str | None) -> tuple[str, str]:
    """The pair's assets: as the database knows them (the exchange said so), else by name."""
    known = db.coin_by_symbol(conn, source.symbol)
    if known is not None:
        if quote not in (None, known.quoteAsset):
            raise BadInput(f"{source.path}: {source.symbol} is registered with quote asset "
                           f"{known.quoteAsset}, not {quote}")
        return known.baseAsset, known.quoteAsset
    try:
        base, quote = split_symbol(source.symbol, quote)
    except BadInput as exc:
        raise BadInput(f"{source.path}: {exc}") from None
    if len(base) > _ASSET_WIDTH:
        raise BadInput(f"{source.path}: base asset {base!r} of {source.symbol} is longer than "
                       f"{_ASSET_WIDTH} characters; is --quote right?")
    return base, quote


def _progress(items: list, what: str, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, unit="file", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- first pass


def check_file(source: KlineFile, base: str, quote: str) -> CheckedFile:
    """Read and check a whole file: every line as the database would take it, in time order.

    BadInput names the file and the line: wrong field count, a non-numeric or non-finite
    number, a low above a high, an open time not after the previous one or off the
    interval's grid, an empty file, a bad checksum, a corrupt zip.
    """
    text, label, sha256 = read_kline_text(source.path)
    step = check_interval(source.interval)
    previous: int | None = None
    candles = 0
    for line_number, line in kline_lines(text):
        try:
            kline = stored_kline(line)
            check_ranges(kline)
        except ValueError as exc:
            raise BadInput(f"{label}, line {line_number}: {exc}") from None
        open_time = kline[0]
        if previous is not None and open_time <= previous:
            raise BadInput(f"{label}, line {line_number}: open time {ms_to_utc(open_time)} "
                           f"is not after the previous line's {ms_to_utc(previous)}")
        if previous is not None and (open_time - previous) % step:
            raise BadInput(f"{label}, line {line_number}: open time {ms_to_utc(open_time)} "
                           f"is not on the {source.interval} grid of the previous candle "
                           f"(wrong --interval?)")
        previous = open_time
        candles += 1
    if not candles:
        raise BadInput(f"{label}: no candles in this file")
    return CheckedFile(source=source, base=base, quote=quote, sha256=sha256, candles=candles)


def read_kline_text(path: Path) -> tuple[str, str, str]:
    """(CSV text, label naming it in messages, SHA-256 of the file) of a zip or a CSV."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    sha256 = hashlib.sha256(data).hexdigest()
    label = str(path)
    if path.suffix.lower() == ".zip":
        verify_checksum(path, sha256)
        member, data = _unzip_csv(path, data)
        label = f"{path} ({member})"
    try:
        return data.decode("utf-8-sig"), label, sha256
    except UnicodeDecodeError as exc:
        raise BadInput(f"{label}: not a text CSV (byte {exc.start} is not UTF-8)") from None


def verify_checksum(path: Path, sha256: str) -> None:
    """Compare a zip with the ``.CHECKSUM`` Binance publishes beside it, when there is one."""
    checksum_path = path.with_name(path.name + CHECKSUM_SUFFIX)
    if not checksum_path.is_file():
        return
    parts = checksum_path.read_text(errors="replace").split()
    if not parts or not re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
        raise BadInput(f"{checksum_path}: not a checksum file ('<sha256>  <file name>')")
    if len(parts) > 1 and parts[1].lstrip("*") != path.name:
        raise BadInput(f"{checksum_path}: is the checksum of {parts[1]}, not of {path.name}")
    if parts[0].lower() != sha256:
        raise BadInput(f"{path}: SHA-256 {sha256} does not match {checksum_path.name} "
                       f"({parts[0].lower()}); download it again")


def _unzip_csv(path: Path, data: bytes) -> tuple[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(members) != 1:
                found = ", ".join(members) if members else "none"
                raise BadInput(f"{path}: expected one CSV in the zip, found {found}")
            return members[0], archive.read(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        raise BadInput(f"{path}: corrupt zip: {exc}") from None


def kline_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of each candle line; blank lines and a header line skipped."""
    for line_number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        if line_number == 1 and _is_header(line):
            continue
        yield line_number, line


def _is_header(line: str) -> bool:
    """Newer dumps start with ``open_time,open,high,...``; no candle starts with a letter."""
    first = line.split(",", 1)[0].strip().strip('"').lower()
    return first.replace("_", "").replace(" ", "") == "opentime"


# --------------------------------------------------------------------------- second pass


def load_file(engine: Engine, item: CheckedFile) -> int:
    """Load a checked file into its interval's table in one transaction (all of it or
    none); candles added."""
    text, label, sha256 = read_kline_text(item.source.path)
    if sha256 != item.sha256:
        raise BadInput(f"{label}: changed while importing; run the import again")
    klines = [stored_kline(line) for _, line in kline_lines(text)]
    added = 0
    with db.transaction(engine) as conn:
        coin_id = db.ensure_coin(conn, item.source.symbol, item.base, item.quote, status=None)
        interval = item.source.interval
        stored = db.stored_open_times(conn, coin_id, klines[0][0], klines[-1][0],
                                      interval=interval)
        if stored:
            klines = [kline for kline in klines if kline[0] not in stored]
        for start in range(0, len(klines), BATCH_ROWS):
            added += db.insert_klines(conn, coin_id, klines[start:start + BATCH_ROWS],
                                      interval=interval)
    return added


def stored_kline(line: str) -> list:
    """A kline line's 12 fields as stored: ms ints, exact decimal text, the ignore text.

    :func:`coinlstm.core.klines.parse_kline` is the judge of a kline, but it builds eight
    Decimals and a dict per line (~30 µs, most of an import's time). Lines as Binance writes
    them (see _PLAIN_LINE) take a shortcut that accepts only what parse_kline accepts, with the same
    values (tests/unit/test_klines.py holds the two together); every other line is split as CSV
    and goes through parse_kline itself, which accepts it or raises ValueError saying why.
    """
    if _PLAIN_LINE.fullmatch(line):
        kline: list = line.split(",")
        if Decimal(kline[_LOW]) <= Decimal(kline[_HIGH]):
            for index in _TIME_FIELDS:
                kline[index] = to_milliseconds(kline[index])
            kline[_TRADES_FIELD] = int(kline[_TRADES_FIELD])
            return kline
    fields = next(csv.reader([line]))
    row = parse_kline(0, fields)
    return [format(value, "f") if isinstance(value, Decimal) else value
            for value in (row[name] for name in db.CANDLE_COLUMNS[1:])]


def check_ranges(kline: Sequence) -> None:
    """ValueError for times or a trade count the database cannot hold or that make no sense."""
    for index, name in ((0, "open time"), (6, "close time")):
        if not 0 <= kline[index] < _MAX_MS:
            raise ValueError(f"{name} {kline[index]} is not a time in ms or µs since 1970")
    if not 0 <= kline[_TRADES_FIELD] < 2**63:
        raise ValueError(f"number of trades {kline[_TRADES_FIELD]} out of range")
    if len(kline[-1]) > _IGNORE_WIDTH:
        raise ValueError(f"the last field is longer than {_IGNORE_WIDTH} characters")
