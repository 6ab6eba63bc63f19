"""The one reader of kline files: what the import and the replay server both read.

A kline file is a data.binance.vision dump (``SYMBOL-1h-YYYY-MM.zip`` or
``SYMBOL-1h-YYYY-MM-DD.zip``, a ``.CHECKSUM`` beside it verified; or the CSV inside one) or a
plain ``SYMBOL.csv`` in the same 12-column kline order. Every line goes through the kline
rules of :mod:`coinlstm.core.klines` and the file's open times must rise on the interval's
grid; a broken one is BadInput naming the file, the line and the rule. One header rule for
everyone: blank lines are skipped, and so is a first line whose first field is
``open_time`` (newer dumps have one); any other line is a candle or an error.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, Exchange
from coinlstm.core.klines import (
    INTERVAL_MS,
    RULE_ORDER,
    BadKline,
    check_interval,
    check_kline,
    check_symbol,
    kline_from_line,
    ms_to_utc,
    plain_kline,
    split_plain_line,
)

#: data.binance.vision names: SYMBOL-INTERVAL-YYYY-MM(.zip|.csv) and SYMBOL-INTERVAL-YYYY-MM-DD.
DUMP_NAME = re.compile(
    r"(?P<symbol>[^-]+)-(?P<interval>[^-]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)")
#: A plain per-pair file, as in /work/shared/data/binance-1h: SYMBOL.csv.
PLAIN_NAME = re.compile(r"(?P<symbol>[^-.]+)\.csv")
#: The same names with another exchange's symbol, which may hold a '-' (Bithumb
#: ``KRW-ETH``, CoinGecko ``bitcoin-usd``): a dump's symbol is everything before its
#: interval, and the exchange's own symbol rule checks it after.
OTHER_DUMP_NAME = re.compile(
    r"(?P<symbol>.+)-(?P<interval>[^-]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?:zip|csv)")
OTHER_PLAIN_NAME = re.compile(r"(?P<symbol>[^.]+)\.csv")
KLINE_SUFFIXES = (".zip", ".csv")
CHECKSUM_SUFFIX = ".CHECKSUM"
_INTERVAL_BY_MS = {ms: name for name, ms in INTERVAL_MS.items()}


@dataclass(frozen=True)
class KlineFile:
    """One kline file and what its name says about its candles (``interval`` None: a plain
    SYMBOL.csv whose interval nobody gave; :func:`read_klines` then infers it)."""

    path: Path
    symbol: str
    interval: str | None


@dataclass(frozen=True)
class KlineText:
    """A file's checked candles in stored form (see coinlstm.core.klines), oldest first;
    ``plain`` when every line is as Binance writes it (a second read may skip the regex)."""

    label: str
    sha256: str
    interval: str
    klines: list[list]
    plain: bool = False


def describe_file(path: Path, interval: str | None = None,
                  exchange: Exchange | None = None) -> KlineFile:
    """Symbol and interval of a file from its name (the dumps hold no symbol column).

    A dump's name carries its interval, which must agree with ``interval`` if given; a plain
    ``SYMBOL.csv`` is of ``interval``. BadInput for a name that says neither, or a symbol
    or interval ``exchange`` (default Binance) does not have.
    """
    if exchange is not None and exchange.name == DEFAULT_EXCHANGE:
        exchange = None  # Binance's names and rules, as they always were
    dump = (DUMP_NAME if exchange is None else OTHER_DUMP_NAME).fullmatch(path.name)
    plain = (PLAIN_NAME if exchange is None else OTHER_PLAIN_NAME).fullmatch(path.name)
    if dump:
        symbol, file_interval = dump["symbol"], dump["interval"]
        if interval is not None and interval != file_interval:
            raise BadInput(f"{path}: the name says interval {file_interval}, "
                           f"--interval says {interval}")
    elif plain:
        symbol, file_interval = plain["symbol"], interval
    else:
        raise BadInput(f"{path}: cannot tell the symbol from the file name; expected "
                       "SYMBOL-1h-YYYY-MM.zip, SYMBOL-1h-YYYY-MM-DD.zip, their .csv, "
                       "or SYMBOL.csv")
    try:
        if exchange is None:
            check_symbol(symbol)
            if file_interval is not None:
                check_interval(file_interval)
        else:
            exchange.check_symbol(symbol)
            if file_interval is not None:
                exchange.check_interval(file_interval)
    except BadInput as exc:
        raise BadInput(f"{path}: {exc}") from None
    return KlineFile(path=path, symbol=symbol, interval=file_interval)


def read_klines(source: KlineFile, checked_sha256: str | None = None,
                plain: bool = False) -> KlineText:
    """Every candle of a file in stored form, checked: each by the kline rules, and their
    open times rising on the interval's grid. BadInput names the file, the line and the rule.

    ``checked_sha256``: the file was read and checked before, and had this SHA-256 (an
    import's second pass): BadInput if it changed since, else parsed without the rules, and
    with ``plain`` (KlineText.plain of that read) split without the regex.
    """
    text, label, sha256 = read_kline_text(source.path)
    checked = checked_sha256 is None
    if not checked and sha256 != checked_sha256:
        raise BadInput(f"{label}: changed while importing; run the import again")
    interval = source.interval
    step = None if interval is None or not checked else INTERVAL_MS[interval]
    klines: list[list] = []
    line_numbers: list[int] = []
    all_plain = True
    for line_number, line in kline_lines(text):
        if plain and not checked:
            klines.append(split_plain_line(line))
            continue
        kline = plain_kline(line)
        try:
            if kline is None:
                all_plain = False
                kline = kline_from_line(line, step)
            elif step is not None:
                try:
                    check_kline(kline, step)
                except BadKline:
                    kline = kline_from_line(line, step)  # raises, naming the rule
        except ValueError as exc:
            raise BadInput(f"{label}, line {line_number}: {exc}") from None
        klines.append(kline)
        line_numbers.append(line_number)
    if not klines:
        raise BadInput(f"{label}: no candles in this file")
    if interval is None:
        interval = infer_interval(label, klines)
        if checked:
            for line_number, kline in zip(line_numbers, klines, strict=True):
                try:
                    check_kline(kline, INTERVAL_MS[interval])
                except ValueError as exc:
                    raise BadInput(f"{label}, line {line_number}: {exc}") from None
    if checked:
        _check_order(label, interval, klines, line_numbers)
    return KlineText(label=label, sha256=sha256, interval=interval, klines=klines,
                     plain=all_plain)


def _check_order(label: str, interval: str, klines: list[list],
                 line_numbers: list[int]) -> None:
    step = INTERVAL_MS[interval]
    previous = klines[0][0] - step
    for line_number, kline in zip(line_numbers, klines, strict=True):
        open_time = kline[0]
        if open_time <= previous:
            raise BadInput(f"{label}, line {line_number}: open time {ms_to_utc(open_time)} "
                           f"is not after the previous line's {ms_to_utc(previous)} "
                           f"(rule: {RULE_ORDER})")
        if (open_time - previous) % step:
            raise BadInput(f"{label}, line {line_number}: open time {ms_to_utc(open_time)} "
                           f"is not on the {interval} grid of the previous candle "
                           f"(wrong --interval?)")
        previous = open_time


def infer_interval(label: str, klines: list[list]) -> str:
    """The interval of candles nobody named: the most common length (close - open + 1), which
    stays right across gaps and Binance's few irregular close times."""
    lengths = Counter(kline[6] - kline[0] + 1 for kline in klines)
    length = lengths.most_common(1)[0][0]
    if length not in _INTERVAL_BY_MS:
        raise BadInput(f"{label}: candles last {length} ms, not a Binance interval")
    return _INTERVAL_BY_MS[length]


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
