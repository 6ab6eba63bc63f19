"""``coinlstm import``: load Binance's kline dumps (data.binance.vision) into the database,
or another exchange's candles in the same 12-column files (``--exchange``).

Accepted: monthly ``SYMBOL-1h-YYYY-MM.zip`` and daily ``SYMBOL-1h-YYYY-MM-DD.zip`` dumps (a
``.CHECKSUM`` beside a zip is verified), the CSV inside one, plain ``SYMBOL.csv`` files in the
same 12-column kline order, and folders of any of these (walked recursively, so Binance's own
``data/spot/monthly/klines/SYMBOL/1h/`` layout works as it is).

Each file's candles go to the table of its interval (``candlestick_data`` for 1h,
``candlestick_data_5m`` for 5m, ...), so one import may hold several intervals, even of one
symbol: they are separate series.

``--exchange NAME`` (default binance) says whose candles they are: each file's symbol must
have that exchange's form (``BTC_USDT.csv`` for poloniex, ``KRW-ETH.csv`` for bithumb,
``bitcoin-usd.csv`` for coingecko; coinlstm.core.exchanges), its interval must be one the
exchange has, and a new pair is registered on that exchange with the base and quote its
symbol names, as that exchange's crawl would register it.

An import runs in two passes so that bad input never half-lands: the first reads and checks
every file completely (names, checksums, zips, every line through the kline rules, time
order: :func:`crawl.klinefiles.read_klines`) without touching the database; only when all
files are good does the second pass load them, one transaction per file. A file that changes
between the passes (its SHA-256 differs) is refused before its transaction starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from coinlstm import db
from coinlstm.core.errors import BadInput
from coinlstm.core.exchanges import DEFAULT_EXCHANGE, Exchange, add_exchange_argument
from coinlstm.core.exchanges import exchange as exchange_named
from coinlstm.core.klines import DEFAULT_INTERVAL, SYMBOL_PATTERN, check_interval
from crawl.klinefiles import KLINE_SUFFIXES, KlineFile, describe_file, read_klines

#: Candles per insert statement: a month of hourly candles in one go, and a few hundred kB
#: per statement, far below MySQL's default 16 MB max_allowed_packet.
BATCH_ROWS = 5000
_ASSET_WIDTH: int = db.coin_info.c["baseAsset"].type.length


@dataclass(frozen=True)
class CheckedFile:
    """A file the first pass found good: what the second pass loads and how to know it."""

    source: KlineFile
    base: str
    quote: str
    sha256: str
    exchange: str
    candles: int
    #: Every line as Binance writes it: the second pass splits them without the regex.
    plain: bool = False


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
    add_exchange_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    # Names and paths are checked before the database is even opened.
    exchange = args.settings.exchange
    find_kline_files(args.paths, args.interval, exchange)
    engine = db.open_database(args.settings.db_url)
    try:
        summary = import_paths(engine, args.paths, quote=args.quote, interval=args.interval,
                               progress=not args.no_progress and sys.stderr.isatty(),
                               exchange=exchange)
    finally:
        engine.dispose()
    print(f"{summary.line()} into {db.describe_url(args.settings.db_url)} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


# --------------------------------------------------------------------------- import


def import_paths(engine: Engine, paths: list[Path], quote: str | None = None,
                 interval: str | None = None, progress: bool = False,
                 exchange: str = DEFAULT_EXCHANGE) -> ImportSummary:
    """Check every file, then load each in its own transaction; BadInput before any write.

    ``quote`` names the quote asset when a symbol's is not a known one; ``interval`` is that
    of plain ``SYMBOL.csv`` files (default 1h) and, if given, must match the dumps' names.
    ``exchange``: whose candles they are (symbols and intervals checked by its rules).
    Importing the same files again adds nothing.
    """
    quote = _check_quote(quote)
    facts = exchange_named(exchange)
    sources = find_kline_files(paths, interval, facts.name)
    first_files = {source.symbol: source for source in reversed(sources)}
    with engine.connect() as conn:
        pairs = {symbol: _base_and_quote(conn, source, quote, facts)
                 for symbol, source in first_files.items()}
    checked = [check_file(source, *pairs[source.symbol], exchange=facts.name)
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


def find_kline_files(paths: Sequence[Path], interval: str | None = None,
                     exchange: str = DEFAULT_EXCHANGE) -> list[KlineFile]:
    """Every kline file named by ``paths`` (folders walked), in a stable order.

    BadInput for a missing path, an empty folder, a name that yields no symbol or interval
    (or one ``exchange`` does not have). One symbol may come at several intervals: each goes
    to its own table.
    """
    facts = exchange_named(exchange)
    if interval is not None:
        check_interval(interval)
        facts.check_interval(interval)
    if not paths:
        raise BadInput("no files given: name dump zips, kline CSVs or folders")
    found: dict[Path, KlineFile] = {}
    for path in paths:
        for file in _walk(Path(path)):
            found.setdefault(file.resolve(), _describe(file, interval, facts))
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


def _describe(path: Path, interval: str | None, exchange: Exchange) -> KlineFile:
    """A file's symbol and interval; a plain SYMBOL.csv is hourly unless --interval says."""
    source = describe_file(path, interval, exchange)
    return source if source.interval else replace(source, interval=DEFAULT_INTERVAL)


def _check_quote(quote: str | None) -> str | None:
    if quote is None:
        return None
    if not SYMBOL_PATTERN.fullmatch(quote.upper()) or len(quote) > _ASSET_WIDTH:
        raise BadInput(f"invalid quote asset {quote!r}: expected 2-{_ASSET_WIDTH} characters "
                       "A-Z or 0-9")
    return quote.upper()


def _base_and_quote(conn: Connection, source: KlineFile, quote: str | None,
                    exchange: Exchange) -> tuple[str, str]:
    """The pair's assets: as the database knows them (the exchange said so), else by name."""
    known = db.coin_by_symbol(conn, source.symbol)
    if known is not None:
        if known.exchange not in (None, exchange.name):
            raise BadInput(f"{source.path}: {source.symbol} is a pair of {known.exchange}, "
                           f"not {exchange.name}")
        if quote not in (None, known.quoteAsset):
            raise BadInput(f"{source.path}: {source.symbol} is registered with quote asset "
                           f"{known.quoteAsset}, not {quote}")
        return known.baseAsset, known.quoteAsset
    try:
        base, quote = exchange.assets(source.symbol, quote)
    except BadInput as exc:
        raise BadInput(f"{source.path}: {exc}") from None
    if len(base) > _ASSET_WIDTH:
        raise BadInput(f"{source.path}: base asset {base!r} of {source.symbol} is longer than "
                       f"{_ASSET_WIDTH} characters; is --quote right?")
    return base, quote


def _progress(items: list, what: str, enabled: bool):
    if not enabled:
        return items
    return tqdm(items, desc=what, unit="file", file=sys.stderr, leave=False)


# --------------------------------------------------------------------------- first pass


def check_file(source: KlineFile, base: str, quote: str,
               exchange: str = DEFAULT_EXCHANGE) -> CheckedFile:
    """Read and check a whole file (:func:`crawl.klinefiles.read_klines`): every line by the
    kline rules, in time order on the interval's grid; BadInput names the file, the line
    and the rule, or says what else is wrong (an empty file, a bad checksum, a corrupt zip).
    """
    text = read_klines(source)
    return CheckedFile(source=source, base=base, quote=quote, sha256=text.sha256,
                       candles=len(text.klines), plain=text.plain, exchange=exchange)


# --------------------------------------------------------------------------- second pass


def load_file(engine: Engine, item: CheckedFile) -> int:
    """Load a checked file into its interval's table in one transaction (all of it or
    none); candles added."""
    # The bytes the first pass checked (BadInput if they changed): not checked again.
    klines = read_klines(item.source, checked_sha256=item.sha256, plain=item.plain).klines
    added = 0
    with db.transaction(engine) as conn:
        coin_id = db.ensure_coin(conn, item.source.symbol, item.base, item.quote, status=None,
                                 exchange=item.exchange)
        interval = item.source.interval
        stored = db.stored_open_times(conn, coin_id, klines[0][0], klines[-1][0],
                                      interval=interval)
        if stored:
            klines = [kline for kline in klines if kline[0] not in stored]
        for start in range(0, len(klines), BATCH_ROWS):
            added += db.insert_klines(conn, coin_id, klines[start:start + BATCH_ROWS],
                                      interval=interval)
    return added
