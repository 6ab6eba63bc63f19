"""Benchmark: a full crawl of the same candles from each exchange's replay, into SQLite.

The real hourly candles of three ETH pairs of ../shared/data/binance-1h (ADAETH, BNBETH,
XRPETH) are served by an in-process replay server (127.0.0.1) in each exchange's own
replies, and ``crawl.crawler.crawl_market`` stores them into a fresh SQLite file. Prints,
per exchange: candles stored, HTTP requests, seconds and candles per second. The sources
differ in page size (Binance 1000, Poloniex 500, Bithumb 200 per request, CoinGecko 89 days
of hours) and in what a page costs to parse (ccxt for Poloniex and Bithumb).

    .venv/bin/python bench/crawl_exchanges.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
PAIRS = ("ADAETH", "BNBETH", "XRPETH")


def main() -> int:
    from coinlstm import db
    from crawl.crawler import crawl_market
    from crawl.replay import ReplayServer
    from crawl.retry import RetryPolicy
    from crawl.sources import open_source

    if not all((SHARED / f"{pair}.csv").is_file() for pair in PAIRS):
        print(f"real candles not found in {SHARED}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        serve = Path(workdir) / "serve"
        serve.mkdir()
        for pair in PAIRS:
            (serve / f"{pair}.csv").write_text((SHARED / f"{pair}.csv").read_text())
        print(f"{'exchange':<10} {'candles':>8} {'requests':>9} {'seconds':>8} {'candles/s':>10}")
        for name in ("binance", "poloniex", "bithumb", "coingecko"):
            with ReplayServer(serve, exchange=name) as server:
                last = max(max(s.open_times) for s in server.symbols.values())
            with ReplayServer(serve, exchange=name, now=last + 3_660_000) as server:
                url = f"sqlite:///{workdir}/{name}.sqlite"
                engine = db.open_database(url)
                source = open_source(name, server.url, retry=RetryPolicy())
                started = time.perf_counter()
                summary = crawl_market(engine, server.url, "ETH", since_ms=None,
                                       progress=False, client=source, exchange_name=name)
                seconds = time.perf_counter() - started
                engine.dispose()
            print(f"{name:<10} {summary.total_added:>8} {summary.requests:>9} {seconds:>8.1f} "
                  f"{summary.total_added / seconds:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
