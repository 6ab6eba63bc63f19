"""``make demo``: the whole hourly job, offline, on a SYNTHETIC sample market.

No network is needed: the project writes a small synthetic market (three made-up ETH pairs,
clearly named SYNTH1ETH..SYNTH3ETH, random-walk prices; not market data), serves it with its
own Binance-compatible replay server on 127.0.0.1, and runs the real job against it into an
embedded SQLite database under data/demo/. Everything the job prints is measured on that run.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

from coinlstm.core import config

SYMBOLS = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH")
HOUR_MS = 3_600_000
#: The synthetic market ends here, so every demo run is the same.
END_OPEN_MS = 1_735_686_000_000  # 2024-12-31 23:00 UTC


def synthetic_klines(candles: int, seed: int, ar: float = 0.25, start_price: float = 0.0005,
                     end_open_ms: int = END_OPEN_MS, volatility: float = 0.006,
                     interval_ms: int = HOUR_MS) -> list[str]:
    """Kline CSV lines (Binance's 12 columns) of a made-up pair whose log returns per candle
    are AR(1) with coefficient ``ar`` (0: a random walk, nothing to learn), one candle every
    ``interval_ms`` (hourly by default; the interval tests use 5 minutes). Synthetic, always."""
    rng = random.Random(seed)
    price = start_price
    last_return = 0.0
    lines = []
    first_open = end_open_ms - (candles - 1) * interval_ms
    for index in range(candles):
        open_ms = first_open + index * interval_ms
        last_return = ar * last_return + rng.gauss(0.0, volatility)
        open_price = price
        price = price * math.exp(last_return)
        high = max(open_price, price) * (1 + abs(rng.gauss(0, 0.002)))
        low = min(open_price, price) * (1 - abs(rng.gauss(0, 0.002)))
        volume = rng.uniform(1e5, 5e5)
        trades = rng.randint(100, 900)
        taker = volume * rng.uniform(0.3, 0.7)
        lines.append(",".join([
            str(open_ms), f"{open_price:.8f}", f"{high:.8f}", f"{low:.8f}", f"{price:.8f}",
            f"{volume:.8f}", str(open_ms + interval_ms - 1), f"{volume * price:.8f}",
            str(trades), f"{taker:.8f}", f"{taker * price:.8f}", "0"]))
    return lines


def write_synthetic_market(folder: Path, candles: int = 1500, seed: int = 7) -> list[Path]:
    """Write SYMBOL.csv files in Binance's 12-column kline order. Synthetic: a labelled toy."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text(
        "SYNTHETIC data written by coinlstm.app.demo (random walks), not market data.\n")
    rng = random.Random(seed)
    paths = []
    for number, symbol in enumerate(SYMBOLS, start=1):
        # returns with a little momentum, so a model has something to find
        lines = synthetic_klines(candles, rng.randrange(2**31), ar=0.25,
                                 start_price=0.0005 * number)
        path = folder / f"{symbol}.csv"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coinlstm.app.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs (default 5)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from coinlstm.app.cli import main as cli_main
    from crawl.replay import ReplayServer

    settings = config.load()
    demo_dir = settings.data_dir / "demo"
    market_dir = demo_dir / "synthetic-market"
    write_synthetic_market(market_dir)
    db_url = f"sqlite:///{demo_dir / 'demo.sqlite'}"
    report = demo_dir / "report.json"
    # The replay clock stands 10 minutes after the last synthetic candle closed.
    now_ms = END_OPEN_MS + HOUR_MS + 10 * 60_000
    print(f"SYNTHETIC demo market ({', '.join(SYMBOLS)}) in {market_dir}")
    with ReplayServer(market_dir, now=now_ms) as server:
        print(f"replay server on {server.url} (loopback only); database {db_url}")
        code = cli_main(["run", "--market", "ETH", "--db", db_url, "--binance-url", server.url,
                         "--artifacts", str(demo_dir), "--epochs", str(args.epochs),
                         "--workers", str(args.workers), "--report", str(report),
                         "--no-progress"])
    print(f"plots: {demo_dir / 'plots'}/SYMBOL.png; models: {demo_dir / 'models'}; "
          f"report: {report}")
    print("live: python run_all.py --market ETH   (crawls api.binance.com into "
          f"{config.default_sqlite_url(settings.home)} unless --db / COINLSTM_DB_URL is set)")
    return code


if __name__ == "__main__":
    sys.exit(main())
