"""Benchmark: a day of the hourly job on a SYNTHETIC market, hour after hour.

Builds ``--pairs`` SYNTHETIC pairs (``SYN0001ETH`` ..., AR(1) candles of the demo's generator,
``coinlstm.app.demo.synthetic_klines``) in one or several quote markets (``--markets``), every
pair ending at the same hour, each of ``--candles`` candles or, with ``--mixed-candles
LOW:HIGH``, of lengths spread evenly from LOW to HIGH. The database (SQLite, or a fresh
MySQL/MariaDB database with ``--db mysql``) holds all but each pair's newest ``--hours - 1``
candles. Then it replays ``--hours`` consecutive hours (default 26: the first hour, a whole
24-hour refit cycle and one more): before every hour but the first, the next candle of every
pair is inserted, as the crawl would bring it, and the real hourly job runs
(``run_all.py --market ... --skip-crawl`` with the job's defaults and the flags after ``--``).

Per hour it prints: close -> last forecast (from the moment the hour's candles are in the
database to the newest forecast's commit, read from the pairs' result files, written right
after each pair's commit: the crawl is not in it), the job's wall time, the counts of full
and warm fits (the forecasts' fits) and of the refits run after the forecasts (``after``:
``--refits after``, the default), the driver's and the largest child's peak RSS (the job's
report: the driver's own VmHWM, each child's wait4; a report of a checkout before 136cd8d
gives the driver's ru_maxrss, at least this bench's own peak), the CPU seconds (user+sys) of
the job's driver and every process under it (what survives a loaded machine: the wall time
it would take on one idle core) and the load average;
then the max and the median over the hours after the first. The machine may be shared: the
figures are noisy, compare runs made one right after the other.

``--checkout DIR`` runs another checkout's job (its ``run_all.py`` with DIR first on
PYTHONPATH, the same interpreter), so today's main and a branch run side by side on the same
built market:

    .venv/bin/python bench/day.py --pairs 100                     # 100 pairs x 26 hours
    .venv/bin/python bench/day.py --pairs 400 --checkout /tmp/day-main
    .venv/bin/python bench/day.py --pairs 1500 --markets ETH,BTC,USDT --mixed-candles 1000:20000
    .venv/bin/python bench/day.py --pairs 48 --skip-to 11   # the first hour, then 11 to 25
    .venv/bin/python bench/day.py --pairs 48 --hours 4 --candles 400 -- --epochs 2

The built market (SQLite) is kept in ``--workdir`` and reused by later runs of the same spec.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bench/ is sys.path[0] when this runs, and bench/crawl.py would shadow the crawl package.
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402 - after the path fix

from coinlstm import db  # noqa: E402
from coinlstm.app.demo import synthetic_klines  # noqa: E402

HOUR_MS = 3_600_000
#: Open time of every pair's newest candle (2024-06-30 23:00 UTC).
LAST_OPEN_MS = 1_719_788_400_000
MYSQL_SERVER = os.environ.get("COINLSTM_TEST_MYSQL_URL",
                              "mysql+mysqlconnector://root@127.0.0.1:3306")
BUILD_VERSION = 1  # bump when the build changes: a kept market of another is rebuilt


@dataclass(frozen=True)
class Spec:
    """What the synthetic market is: its pairs' markets and lengths, and the held-back hours."""

    pairs: int
    markets: tuple[str, ...]
    low: int
    high: int
    hours: int

    def symbol(self, number: int) -> str:
        return f"SYN{number:04d}{self.market(number)}"

    def market(self, number: int) -> str:
        return self.markets[(number - 1) % len(self.markets)]

    def candles(self, number: int) -> int:
        """Pair ``number``'s length: LOW..HIGH evenly over the pairs (one length if equal)."""
        if self.pairs == 1 or self.low == self.high:
            return self.high
        return self.low + (self.high - self.low) * (number - 1) // (self.pairs - 1)

    def key(self) -> str:
        return (f"v{BUILD_VERSION}-p{self.pairs}-{'-'.join(self.markets)}-c{self.low}-"
                f"{self.high}-h{self.hours}")


def klines(spec: Spec, number: int) -> list[list]:
    """Pair ``number``'s klines as the crawl stores them (times and trade count as int)."""
    lines = synthetic_klines(spec.candles(number) + spec.hours - 1, seed=9_000 + number,
                             start_price=0.0002 * (1 + number % 40), end_open_ms=LAST_OPEN_MS)
    rows = [line.split(",") for line in lines]
    for row in rows:
        row[0], row[6], row[8] = int(row[0]), int(row[6]), int(row[8])
    return rows


def build(spec: Spec, url: str) -> None:
    """Register the pairs (TRADING, consecutive coin ids) and store all but their newest
    ``hours - 1`` candles."""
    engine = db.open_database(url)
    try:
        with db.transaction(engine) as conn:
            ids = [db.ensure_coin(conn, spec.symbol(n), spec.symbol(n)[:7],
                                  spec.market(n), status="TRADING")
                   for n in range(1, spec.pairs + 1)]
        for number, coin_id in enumerate(ids, start=1):
            rows = klines(spec, number)[:-(spec.hours - 1) or None]
            with db.transaction(engine) as conn:
                for start in range(0, len(rows), 5_000):
                    db.insert_klines(conn, coin_id, rows[start:start + 5_000])
            if number % 50 == 0:
                print(f"built {number}/{spec.pairs} pairs", flush=True)
    finally:
        engine.dispose()


def sqlite_base(spec: Spec, workdir: Path) -> Path:
    """The built market's SQLite file, built once per spec."""
    base = workdir / f"market-{spec.key()}.sqlite"
    if not base.is_file():
        partial = base.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        build(spec, f"sqlite:///{partial}")
        partial.rename(base)
        print(f"market built in {time.perf_counter() - started:.0f} s: {base}", flush=True)
    return base


def mysql_database(spec: Spec, name: str) -> str:
    """A fresh MySQL/MariaDB database holding the built market."""
    server = sa.create_engine(MYSQL_SERVER + "/")
    with server.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))  # a fixed bench name
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    server.dispose()
    url = f"{MYSQL_SERVER}/{name}"
    started = time.perf_counter()
    build(spec, url)
    print(f"market built in {time.perf_counter() - started:.0f} s: {url}", flush=True)
    return url


def add_next_hour(url: str, spec: Spec, hour: int) -> None:
    """The next candle of every pair, as the crawl would bring it (one transaction)."""
    engine = db.open_database(url)
    try:
        with db.transaction(engine) as conn:
            for number in range(1, spec.pairs + 1):
                coin_id = int(db.coin_by_symbol(conn, spec.symbol(number)).id)
                db.insert_klines(conn, coin_id, [klines_tail(spec, number)[hour - 1]])
    finally:
        engine.dispose()


_TAILS: dict[int, list[list]] = {}


def klines_tail(spec: Spec, number: int) -> list[list]:
    """Pair ``number``'s held-back candles, oldest first (made once per process)."""
    if number not in _TAILS:
        _TAILS[number] = klines(spec, number)[-(spec.hours - 1):] if spec.hours > 1 else []
    return _TAILS[number]


@dataclass
class Hour:
    hour: int
    latency: float | None
    wall: float
    fits: Counter
    failed: int
    driver_mb: float
    child_mb: float
    code: int
    #: User+sys CPU seconds of the job's driver and every process under it (what the wall
    #: time would be on one idle core), and the load average (1 min) when the hour began.
    cpu: float = 0.0
    load: float = 0.0


def children_cpu() -> float:
    """User+sys CPU seconds of this process's children (and theirs) waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_hour(hour: int, argv: list[str], env: dict, home: Path, log: Path,
             closed: float) -> Hour:
    report = log.with_suffix(".json")
    cpu, load = children_cpu(), os.getloadavg()[0]
    with open(log, "wb") as out:
        code = subprocess.run([*argv, "--report", str(report)], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, env=env,
                              check=False).returncode
    wall, cpu = time.time() - closed, children_cpu() - cpu
    if not report.is_file():
        raise SystemExit(f"hour {hour}: the job wrote no report (exit {code}); see {log}")
    data = json.loads(report.read_text())
    pairs = data["pairs"]
    # The forecasts' result files (SYMBOL.result.json), not the refits' run after them
    # (SYMBOL.refit.result.json, --refits after).
    logs = home / "logs" / data["run_id"]
    results = [logs / f"{pair['symbol']}.result.json" for pair in pairs]
    newest = max((path.stat().st_mtime for path in results if path.is_file()), default=None)
    fits = Counter((pair.get("result") or {}).get("fit") for pair in pairs
                   if pair["status"] == "ok")
    refits = data.get("refits") or []
    fits["after"] = sum(refit["status"] == "ok" for refit in refits)
    everything = [*pairs, *refits]
    return Hour(hour, None if newest is None else newest - closed, wall, fits,
                sum(pair["status"] != "ok" for pair in everything), data["driver_peak_rss_mb"],
                max((pair.get("peak_rss_mb") or 0.0 for pair in everything), default=0.0),
                code, cpu, load)


def line(hour: Hour) -> str:
    latency = "-" if hour.latency is None else f"{hour.latency:.1f}"
    return (f"{hour.hour:>4} {latency:>9} {hour.wall:>8.1f} {hour.fits.get('full', 0):>5} "
            f"{hour.fits.get('warm', 0):>5} {hour.fits.get('after', 0):>5} {hour.failed:>6} "
            f"{hour.driver_mb:>9.0f} "
            f"{hour.child_mb:>8.0f} {hour.code:>4} {hour.cpu:>7.1f} {hour.load:>5.1f}")


HEADER = (f"{'hour':>4} {'latency':>9} {'wall':>8} {'full':>5} {'warm':>5} {'after':>5} "
          f"{'failed':>6} "
          f"{'driver_MB':>9} {'child_MB':>8} {'exit':>4} {'cpu_s':>7} {'load':>5}")


def summary(hours: list[Hour]) -> list[str]:
    later = [hour for hour in hours[1:] if hour.latency is not None]
    if not later:
        return ["no hour after the first"]
    latencies = [hour.latency for hour in later]
    walls = [hour.wall for hour in later]
    return [
        f"hours after the first ({len(later)}): close -> last forecast max "
        f"{max(latencies):.1f} s, median {statistics.median(latencies):.1f} s; job wall max "
        f"{max(walls):.1f} s, median {statistics.median(walls):.1f} s; job CPU max "
        f"{max(h.cpu for h in later):.1f} s, median {statistics.median(h.cpu for h in later):.1f} "
        f"s; load average {min(h.load for h in hours):.1f}-{max(h.load for h in hours):.1f}",
        f"full fits per hour after the first: max {max(h.fits.get('full', 0) for h in later)}"
        f" in the forecasts, {max(h.fits.get('after', 0) for h in later)} after them; "
        f"failed pairs in all: {sum(h.failed for h in hours)}",
        f"peak RSS over all hours: driver {max(h.driver_mb for h in hours):.0f} MB, largest "
        f"child {max(h.child_mb for h in hours):.0f} MB",
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--hours", type=int, default=26,
                        help="hours replayed, the first included (default 26)")
    parser.add_argument("--candles", type=int, default=8_760,
                        help="candles per pair at the first hour (default a year, 8,760)")
    parser.add_argument("--mixed-candles", default=None, metavar="LOW:HIGH",
                        help="history lengths spread evenly from LOW to HIGH instead")
    parser.add_argument("--markets", default="ETH",
                        help="quote markets, the pairs dealt round-robin (default ETH)")
    parser.add_argument("--skip-to", type=int, default=1, metavar="HOUR",
                        help="after the first hour, run the job again only from HOUR on: the "
                             "candles of the hours before arrive with HOUR's (default 1: every "
                             "hour). With --refit-every R no refit is due in the first R/2 "
                             "hours, so skipping them changes no fit, only saves their runs")
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--mysql-database", default="bench_day")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--checkout", type=Path, default=REPO,
                        help="the checkout whose job runs (default this one)")
    parser.add_argument("--workdir", type=Path, default=REPO / "data" / "bench-day")
    parser.add_argument("--label", default=None, help="run folder name (default a time stamp)")
    parser.add_argument("--keep-first", action="store_true",
                        help="SQLite: keep the state after the first hour (database, "
                             "artifacts, home) in RUN/first, for --from-first")
    parser.add_argument("--from-first", type=Path, default=None, metavar="RUN",
                        help="SQLite: start from the state an earlier run of the same spec "
                             "kept after its first hour (--keep-first) instead of running "
                             "it, so two checkouts' later hours start from the same models")
    parser.add_argument("job_flags", nargs="*", help="after --: flags for every hour's job")
    return parser.parse_args(argv)


def spec_of(args: argparse.Namespace) -> Spec:
    low = high = args.candles
    if args.mixed_candles:
        low, high = (int(part) for part in args.mixed_candles.split(":"))
    markets = tuple(name.strip().upper() for name in args.markets.split(","))
    return Spec(args.pairs, markets, low, high, args.hours)


def keep_first(run_dir: Path, hour: Hour) -> None:
    """The state after the first hour, for later runs' --from-first."""
    first = run_dir / "first"
    first.mkdir()
    shutil.copy(run_dir / "day.sqlite", first / "day.sqlite")
    for name in ("artifacts", "home"):
        if (run_dir / name).is_dir():
            shutil.copytree(run_dir / name, first / name,
                            ignore=shutil.ignore_patterns("logs"))
    (first / "hour.json").write_text(json.dumps({**vars(hour), "fits": dict(hour.fits)}))


def from_first(source: Path, run_dir: Path) -> Hour:
    """Copy an earlier run's state after its first hour into ``run_dir``; its figures."""
    first = source / "first"
    shutil.copy(first / "day.sqlite", run_dir / "day.sqlite")
    for name in ("artifacts", "home"):
        if (first / name).is_dir():
            shutil.copytree(first / name, run_dir / name)
    figures = json.loads((first / "hour.json").read_text())
    return Hour(**{**figures, "fits": Counter(figures["fits"])})


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    spec = spec_of(args)
    if (args.keep_first or args.from_first) and args.db != "sqlite":
        raise SystemExit("--keep-first and --from-first keep a SQLite database only")
    run_dir = args.workdir / (args.label or time.strftime("run-%Y%m%dT%H%M%S"))
    run_dir.mkdir(parents=True)
    if args.db == "sqlite":
        database = run_dir / "day.sqlite"
        if args.from_first is None:
            shutil.copy(sqlite_base(spec, args.workdir), database)
        url = f"sqlite:///{database}"
    else:
        url = mysql_database(spec, args.mysql_database)
    checkout = args.checkout.resolve()
    home = run_dir / "home"
    env = {**os.environ, "COINLSTM_HOME": str(home), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout),
                                                       os.environ.get("PYTHONPATH")]))}
    argv_job = [sys.executable, str(checkout / "run_all.py"), "--market", ",".join(spec.markets),
                "--skip-crawl", "--db", url, "--artifacts", str(run_dir / "artifacts"),
                "--workers", str(args.workers), "--no-progress", *args.job_flags]
    commit = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"],
                            capture_output=True, text=True, check=False).stdout.strip()
    print(f"{spec.pairs} SYNTHETIC pairs in {','.join(spec.markets)}, candles "
          f"{spec.low:,}..{spec.high:,} at the first hour, {spec.hours} hours (run: the first "
          f"and {max(args.skip_to, 1)}..{spec.hours - 1}), {args.db}, "
          f"{args.workers} workers; checkout {checkout} ({commit[:70]}); {run_dir}", flush=True)
    print(HEADER, flush=True)
    hours = []
    if args.from_first is not None:
        hours.append(from_first(args.from_first, run_dir))
        print(line(hours[-1]) + f"  (the first hour of {args.from_first})", flush=True)
    for hour in range(len(hours), spec.hours):
        if 0 < hour < args.skip_to:
            add_next_hour(url, spec, hour)  # not run: its candles wait for the next run
            continue
        closed = time.time()
        if hour:
            add_next_hour(url, spec, hour)
        hours.append(run_hour(hour, argv_job, env, home, run_dir / f"hour{hour:02d}.log",
                              closed))
        print(line(hours[-1]), flush=True)
        if not hour and args.keep_first:
            keep_first(run_dir, hours[-1])
    for text in summary(hours):
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
