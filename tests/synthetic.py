"""A small deterministic SYNTHETIC candle set, so that a clone without ../shared tests the
crawl, import, train and run paths.

The candles are made by the demo's generator (``coinlstm.app.demo.synthetic_klines``: AR(1)
log returns, Binance's 12 kline columns as text with 8 decimals), never copied from market
data, and the pairs are named so (SYNTH1ETH ..). Every pair has the same open times: hourly from
2021-04-01 00:00 UTC (where the real shared files start, so the replay tests' clocks fit),
with five maintenance-like gaps placed as in the real ADAETH file (two in the first 1,200
candles, none in the newest 1,500). The session fixture ``synthetic_candles`` (tests/conftest.py)
writes it once per test run; as a script it writes the set where you ask::

    python -m tests.synthetic FOLDER

The --interval tests use two short series of one pair (``HOURLY``, ``FIVE_MINUTE``) from the
same generator.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from coinlstm.app.demo import synthetic_klines

HOUR_MS = 3_600_000
#: The open time of the first candle: 2021-04-01 00:00 UTC.
FIRST_OPEN_MS = 1_617_235_200_000
#: Candles per pair, after the gaps.
ROWS = 6000
PAIRS = tuple(f"SYNTH{number}ETH" for number in range(1, 7))
#: Before which stored row a gap falls, and how many hourly candles it lacks: far apart, two
#: within the first 1,200 rows and none within the newest 1,500 (as in the real ADAETH file).
GAPS = {458: 2, 579: 3, 3213: 4, 4342: 2, 4450: 1}

#: The --interval tests' pair: an hourly and a 5-minute series ending at the same open time
#: (END_OPEN_MS), so the same (idCoin, openTime) is stored twice, once per interval's table.
INTERVAL_SYMBOL = "SYNTH1ETH"
FIVE_MINUTES_MS = 300_000
HOURLY = synthetic_klines(200, seed=11)
FIVE_MINUTE = synthetic_klines(300, seed=12, interval_ms=FIVE_MINUTES_MS)


def pair_lines(number: int) -> list[str]:
    """The kline CSV lines of pair ``number`` (1-based): ROWS candles with the GAPS removed."""
    generated = ROWS + sum(GAPS.values())
    lines = synthetic_klines(generated, seed=1000 + number, ar=0.1,
                             start_price=0.0006 * number,
                             end_open_ms=FIRST_OPEN_MS + (generated - 1) * HOUR_MS)
    missing: set[int] = set()
    skipped = 0
    for row, hours in sorted(GAPS.items()):
        missing.update(range(row + skipped, row + skipped + hours))
        skipped += hours
    return [line for index, line in enumerate(lines) if index not in missing]


def write_wide_market(folder: Path, pairs: int, candles: int) -> dict[str, list[str]]:
    """A market of many SYNTHETIC pairs (SYN001ETH ..), ``candles`` hourly candles each ending
    at the demo's last candle, for the concurrent crawl's tests: symbol -> kline lines."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for number in range(1, pairs + 1):
        symbol = f"SYN{number:03d}ETH"
        lines = synthetic_klines(candles, seed=2000 + number, start_price=0.0001 * number)
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
        written[symbol] = lines
    return written


def write_candle_set(folder: Path) -> Path:
    """Write PAIR.csv for every synthetic pair (and a README saying what they are)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text(
        "SYNTHETIC candles written by tests/synthetic.py (AR(1) random walks), not market "
        "data.\n")
    for number, symbol in enumerate(PAIRS, start=1):
        (folder / f"{symbol}.csv").write_text("\n".join(pair_lines(number)) + "\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where to write SYNTHnETH.csv")
    folder = write_candle_set(parser.parse_args(argv).folder)
    print(f"wrote {len(PAIRS)} synthetic pairs of {ROWS} candles to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
