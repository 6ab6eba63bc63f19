"""``make demo``: the whole hourly job, offline, on a SYNTHETIC sample market, then the
dashboard.

No network is needed: the project writes a small synthetic market (three made-up ETH pairs,
clearly named SYNTH1ETH..SYNTH3ETH, random-walk prices; not market data), serves it with its
own Binance-compatible replay server on 127.0.0.1, and replays the real hourly job over
consecutive hours by moving the replay server's clock an hour at a time, into an embedded
SQLite database under data/demo/: each run crawls the new candle, scores the previous
forecasts against it, trains and forecasts. Before those live hours, ``coinlstm backfill``
replays the hourly job over the last ``--backfill-days`` days of the crawled candles, so
the verdicts rest on a record from the start (marked backfilled). Then ``coinlstm serve``
shows the result on 127.0.0.1 until Ctrl-C (``--no-serve``: stop after the runs). Every
figure is measured.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

from coinlstm.app.cli import main as cli_main
from coinlstm.app.commands.serve import serve
from coinlstm.core import config
from coinlstm.core.klines import ms_to_utc
from crawl.replay import ReplayServer

SYMBOLS = ("SYNTH1ETH", "SYNTH2ETH", "SYNTH3ETH")
HOUR_MS = 3_600_000
#: The synthetic market ends here, so every demo run is the same.
END_OPEN_MS = 1_735_686_000_000  # 2024-12-31 23:00 UTC
#: Candles of history a backfilled hour has at least: more than a warm run reads (its
#: training, validation, calibration and test slices), so every replayed warm hour fine-tunes
#: on the same whole batches (one compiled step) as the live job on a long-listed pair.
BACKFILL_HISTORY = 2400
#: The demo's schedule and fine-tune, the same for its backfill and its live hours (a
#: backfill replays exactly the job it continues): a full fit once a week of data time, on
#: the newest BACKFILL_HISTORY candles (every full fit the same shapes: its compiled steps
#: are reused), and between them one epoch on the newest 256 samples (two whole batches).
#: Why: 30 backfilled days of three pairs at the live job's defaults (a full fit a day on all
#: candles, five epochs on 768 samples an hour) would cost several times the CPU the demo may
#: add; a demo, not a tuned model (docs/backfill.md, "In the demo").
DEMO_TRAINING = ("--refit-every", "168", "--warm-epochs", "1", "--warm-samples", "256",
                 "--history", str(BACKFILL_HISTORY))


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
    parser.add_argument("--epochs", type=int, default=5,
                        help="training epochs (default 5: a quick demo, not a tuned model)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hours", type=int, default=4,
                        help="consecutive hourly runs replayed (default %(default)s)")
    parser.add_argument("--backfill-days", type=int, default=30,
                        help="days of the hourly job backfilled before the live hours "
                             "(coinlstm backfill; default %(default)s: the track record's "
                             "30-day window; 0: none)")
    parser.add_argument("--port", type=int, default=8000,
                        help="dashboard port on 127.0.0.1 (default %(default)s; 0: any free)")
    parser.add_argument("--no-serve", action="store_true",
                        help="build the track record and stop (no dashboard)")
    args = parser.parse_args(argv)
    if args.hours < 1 or args.epochs < 1 or args.workers < 1 or args.backfill_days < 0:
        parser.error("--hours, --epochs and --workers must be at least 1, --backfill-days "
                     "at least 0")

    settings = config.load()
    demo_dir = settings.data_dir / "demo"
    market_dir = demo_dir / "synthetic-market"
    backfill_hours = args.backfill_days * 24
    write_synthetic_market(market_dir, candles=1500 if not backfill_hours
                           else BACKFILL_HISTORY + backfill_hours + args.hours)
    database = demo_dir / "demo.sqlite"
    for stale in demo_dir.glob("demo.sqlite*"):  # a fresh record: the replay starts over
        stale.unlink()
    db_url = f"sqlite:///{database}"
    report = demo_dir / "report.json"
    print(f"SYNTHETIC demo market ({', '.join(SYMBOLS)}) in {market_dir}; database {db_url}")
    print(f"replaying {args.hours} consecutive hours of the hourly job ({args.epochs} epochs: "
          "a quick demo, not a tuned model); each run first scores the previous hour's "
          "forecasts against the close that came")
    common = ["--market", "ETH", "--db", db_url, "--artifacts", str(demo_dir), "--epochs",
              str(args.epochs), *DEMO_TRAINING, "--workers", str(args.workers),
              "--no-progress"]
    code = _backfill(market_dir, db_url, common, args) if backfill_hours else 0
    if code not in (0, 3):
        return code
    for hour in range(args.hours):
        # The replay clock stands 10 minutes after a candle closed; each run is an hour later,
        # the last one 10 minutes after the last synthetic candle closed.
        now_ms = END_OPEN_MS - (args.hours - 1 - hour) * HOUR_MS + HOUR_MS + 10 * 60_000
        with ReplayServer(market_dir, now=now_ms) as server:
            print(f"--- hour {hour + 1}/{args.hours}: replay clock {_utc(now_ms)} UTC, "
                  f"server {server.url}", flush=True)
            code = cli_main(["run", *common, "--binance-url", server.url, "--report",
                             str(report)])
        if code not in (0, 3):
            return code
    print(f"plots: {demo_dir / 'plots'}/SYMBOL.png; models: {demo_dir / 'models'}; "
          f"report: {report}")
    print("live: python run_all.py --market ETH   (crawls api.binance.com into "
          f"{config.default_sqlite_url(settings.home)} unless --db / COINLSTM_DB_URL is set)")
    if args.no_serve:
        return code

    print(f"the record: {args.backfill_days} backfilled days and {args.hours} live hours; "
          "the verdict says 'no evidence' until 168 forecasts are scored, as it should")
    try:
        serve(db_url, "127.0.0.1", args.port, None)
    except KeyboardInterrupt:
        pass
    return code


def _backfill(market_dir: Path, db_url: str, common: list[str],
              args: argparse.Namespace) -> int:
    """Crawl the candles the hour before the first live run sees (the replay clock an hour
    before its), then backfill the last days of them: the live hours continue the record."""
    clock = END_OPEN_MS - (args.hours - 1) * HOUR_MS + 10 * 60_000
    with ReplayServer(market_dir, now=clock) as server:
        print(f"--- crawling the market at {_utc(clock)} UTC, then backfilling its last "
              f"{args.backfill_days} days (coinlstm backfill)", flush=True)
        code = cli_main(["crawl", "--market", "ETH", "--db", db_url, "--binance-url",
                         server.url, "--no-progress"])
    if code != 0:
        return code
    return cli_main(["backfill", "--days", str(args.backfill_days), *common])


def _utc(ms: int) -> str:
    return ms_to_utc(ms)


if __name__ == "__main__":
    sys.exit(main())
