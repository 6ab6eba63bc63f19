"""The two markets of bench/latency.py, built once into a folder: candle files to serve and a
SQLite database holding every candle but the newest ``FRESH`` of each pair.

- ``eth30``: the real ETH pairs of ../shared/data/binance-1h (9 of 19,692 candles), completed
  to 30 pairs with SYNTHETIC ones of 8,400 candles (``SYN01ETH`` ...), since the shared folder
  has only those 9 (the issue's market had 21 more real pairs of about 8,400 candles).
- ``synN``: N SYNTHETIC pairs of one year of hourly candles (8,760), ``SYN001ETH`` ...

Synthetic candles come from the demo's generator (``coinlstm.app.demo.synthetic_klines``:
AR(1) log returns, Binance's 12 columns as text). Every pair of a market ends at the same
open time (the real files' last candle, 2023-06-30 23:00 UTC), so one replay clock is "just
after the close" for all of them.

The served files hold only each pair's newest ``SERVE_TAIL`` candles: the job's crawl asks for
the candles after the newest stored one and nothing earlier, and a 400-pair replay server
would otherwise hold 3.5 million lines in memory for nothing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
REAL_PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH",
              "TRXETH", "XRPETH")
HOUR_MS = 3_600_000
#: Open time of the newest candle of every pair: the real files' last one (2023-06-30 23:00).
LAST_OPEN_MS = 1_688_166_000_000
#: Newest candles per pair missing from the database: one for the cold run's crawl, one more
#: for the warm run an hour later.
FRESH = 2
SERVE_TAIL = 1000
SHORT_CANDLES = 8_400
YEAR_CANDLES = 8_760
MARKET30_SIZE = 30
#: Bump when the way a market is built changes: a kept folder of another version is rebuilt.
BUILD_VERSION = 1


@dataclass(frozen=True)
class Pair:
    symbol: str
    candles: int
    synthetic: bool


@dataclass(frozen=True)
class Market:
    """A built market: ``serve_dir`` for the replay server, ``base_db`` for copies."""

    name: str
    folder: Path
    pairs: tuple[Pair, ...]

    @property
    def serve_dir(self) -> Path:
        return self.folder / "serve"

    @property
    def base_db(self) -> Path:
        return self.folder / "base.sqlite"

    @property
    def real_count(self) -> int:
        return sum(not pair.synthetic for pair in self.pairs)

    def describe(self) -> str:
        real = self.real_count
        synthetic = len(self.pairs) - real
        sizes = sorted({pair.candles for pair in self.pairs}, reverse=True)
        parts = []
        if real:
            parts.append(f"{real} real ETH pairs of ../shared")
        if synthetic:
            parts.append(f"{synthetic} SYNTHETIC pairs")
        counts = ", ".join(f"{sum(p.candles == size for p in self.pairs)} of {size:,}"
                           for size in sizes)
        return (f"{self.name}: {len(self.pairs)} pairs ({' + '.join(parts)}; candles per pair: "
                f"{counts}); the database holds all but the newest {FRESH} of each")


def market30_pairs() -> list[Pair]:
    real = [Pair(symbol, 0, False) for symbol in REAL_PAIRS if (SHARED / f"{symbol}.csv")
            .is_file()]
    synthetic = [Pair(f"SYN{number:02d}ETH", SHORT_CANDLES, True)
                 for number in range(1, MARKET30_SIZE - len(real) + 1)]
    return real + synthetic


def synthetic_pairs(count: int) -> list[Pair]:
    return [Pair(f"SYN{number:03d}ETH", YEAR_CANDLES, True) for number in range(1, count + 1)]


def _lines(pair: Pair, number: int) -> list[str]:
    if not pair.synthetic:
        return (SHARED / f"{pair.symbol}.csv").read_text().splitlines()
    from coinlstm.app.demo import synthetic_klines

    return synthetic_klines(pair.candles, seed=7_000 + number,
                            start_price=0.0002 * (1 + number % 40), end_open_ms=LAST_OPEN_MS)


def build(name: str, pairs: list[Pair], folder: Path) -> Market:
    """The market in ``folder``; reused as it is when a finished build of the same spec is
    there (``built.json`` is written last), else built from scratch."""
    spec = {"version": BUILD_VERSION, "name": name, "fresh": FRESH, "tail": SERVE_TAIL,
            "pairs": [asdict(pair) for pair in pairs]}
    marker = folder / "built.json"
    if marker.is_file():
        kept = json.loads(marker.read_text())
        if {key: kept.get(key) for key in spec if key != "pairs"} == \
                {key: value for key, value in spec.items() if key != "pairs"} and \
                [p["symbol"] for p in kept["pairs"]] == [p.symbol for p in pairs]:
            return Market(name, folder, tuple(Pair(**p) for p in kept["pairs"]))
    if folder.exists():
        shutil.rmtree(folder)
    from coinlstm import db
    from crawl.vision import import_paths

    history = folder / "history"
    market = Market(name, folder, ())
    for directory in (history, market.serve_dir):
        directory.mkdir(parents=True)
    built = []
    for number, pair in enumerate(pairs, start=1):
        lines = _lines(pair, number)
        if int(lines[-1].split(",", 1)[0]) != LAST_OPEN_MS:
            raise SystemExit(f"{pair.symbol}: its newest candle is not the market's "
                             f"({LAST_OPEN_MS} ms)")
        (history / f"{pair.symbol}.csv").write_text("\n".join(lines[:-FRESH]) + "\n")
        (market.serve_dir / f"{pair.symbol}.csv").write_text(
            "\n".join(lines[-SERVE_TAIL:]) + "\n")
        built.append(Pair(pair.symbol, len(lines), pair.synthetic))
    engine = db.open_database(f"sqlite:///{market.base_db}")
    try:
        import_paths(engine, sorted(history.glob("*.csv")))
        with db.transaction(engine) as conn:  # as the crawler would have registered them
            for pair in built:
                db.ensure_coin(conn, pair.symbol, pair.symbol[:-3], "ETH", status="TRADING")
    finally:
        engine.dispose()
    shutil.rmtree(history)
    spec["pairs"] = [asdict(pair) for pair in built]
    marker.write_text(json.dumps(spec))
    return Market(name, folder, tuple(built))
