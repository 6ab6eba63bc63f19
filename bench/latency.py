"""Benchmark: from the close of the hour's candle to the last forecast in the database, for a
30-pair and a 400-pair market, side by side: the tutorial's stack, today's cold path and the
warm path.

Markets (bench/latency_markets.py): ``eth30``, the 9 real ETH pairs of ../shared/data/binance-1h
(19,692 candles each) completed with 21 SYNTHETIC pairs of 8,400 candles (the shared folder has
only the 9), and ``syn400``, 400 SYNTHETIC pairs of one year of hourly candles (8,760). Each is
served by the replay server on 127.0.0.1 with its clock 1 s after the close of a candle the
database does not hold yet, so every job crawls one new candle per pair, then trains and
forecasts every pair, as cron's hourly run does.

Paths, each measured in this run on the same market:

1. ``tutorial``: the tutorial's stack (bench/tutorial_stack.py: Keras on TensorFlow, its code
   and settings), a fresh process per pair, one pair at a time after the crawl (``coinlstm
   crawl``). Only the first ``--tutorial-pairs`` pairs (picked across the market's pair
   lengths) are run; the rest of the market is EXTRAPOLATED from them by pair length.
2. ``cold``: today's job, ``run_all.py --market ETH``, with full refits and a fresh process per
   pair (the flags that force that are found in ``run --help``).
3. ``warm``: the same job an hour later (replay clock one hour on, one new candle per pair),
   with the job's defaults (warm start and the pre-imported worker pool, where this checkout
   has them) after the cold run's full fits.

Before the cold run a 1-pair job on a scratch copy fills JAX's compile cache (unmeasured): an
hourly job finds it filled by the hours before.

Figures per path: close -> last forecast written (wall: from the candle's close on the replay
clock to the newest commit of a forecast, taken from each pair's result file, written right
after its commit; the rows' time_create, taken before the store, is said beside), the job's
wall time,
per-pair p50/p95 seconds (the job's JSON report), the driver's peak RSS and the largest
child's (the report's wait4 figures). Then the training throughput of the default model in
GFLOP/s beside numpy's float32 matmul at the same shapes (bench/train_flops.py). The machine
is shared: figures are noisy, compare the rows of one run.

    .venv/bin/python bench/latency.py                            # both markets (long)
    .venv/bin/python bench/latency.py --pairs30-only             # the 30-pair market only
    .venv/bin/python bench/latency.py --skip-30 --synthetic-pairs 40 --tutorial-pairs 2
    .venv/bin/python bench/latency.py --skip-tutorial --synthetic-pairs 40 --skip-30
    .venv/bin/python bench/latency.py --workdir /tmp/lat -- --epochs 2   # flags for the job
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bench/ is sys.path[0] when this runs, and bench/crawl.py would shadow the crawl package.
sys.path.insert(0, str(REPO))

import latency_markets as markets  # noqa: E402 - bench/ sibling, after the path fix

HOUR_MS = 3_600_000
#: The replay clock stands this long after the close when a job starts ("just after").
AFTER_CLOSE_MS = 1_000
WORKERS = 2


@dataclass
class PathResult:
    """One path's figures on one market (None: not measured)."""

    market: str
    path: str
    pairs: int
    measured_pairs: int
    latency: float | None
    extrapolated: bool = False
    job_wall: float | None = None
    crawl: float | None = None
    p50: float | None = None
    p95: float | None = None
    driver_mb: float | None = None
    child_mb: float | None = None
    ok: int | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between order statistics (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def estimate_seconds(samples: dict[int, list[float]], candles: int) -> float:
    """A pair's seconds from measured pairs, by length: the mean of those of its length; else
    a straight line through the lengths measured (two or more), else their mean."""
    if candles in samples:
        return statistics.fmean(samples[candles])
    means = {length: statistics.fmean(times) for length, times in samples.items()}
    if len(means) >= 2:
        slope, intercept = statistics.linear_regression(list(means), list(means.values()))
        return intercept + slope * candles
    return next(iter(means.values()))


def sample_pairs(pairs: tuple[markets.Pair, ...], count: int) -> list[markets.Pair]:
    """``count`` pairs in market order, taken in turn from each pair length (longest first),
    so the extrapolation has every length the market has when it can."""
    by_length: dict[int, list[markets.Pair]] = {}
    for pair in pairs:
        by_length.setdefault(pair.candles, []).append(pair)
    queues = [by_length[length] for length in sorted(by_length, reverse=True)]
    picked: list[markets.Pair] = []
    while len(picked) < min(count, len(pairs)):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


def run_measured(argv: list[str], env: dict, log_path: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB of the largest process of its tree, exit code)."""
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
    return (time.perf_counter() - started, usage.ru_maxrss / 1024.0,
            os.waitstatus_to_exitcode(status))


def close_wall_time(server, close_ms: int) -> float:
    """The wall-clock time (time.time()) at which the replay clock read ``close_ms``."""
    return time.time() - (server.now_ms() - close_ms) / 1000.0


def job_help() -> str:
    completed = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--help"],
                               capture_output=True, text=True, cwd=REPO, check=True)
    return completed.stdout


def path_flags(help_text: str) -> tuple[list[str], dict[str, str], list[str], list[str]]:
    """(cold flags, cold environment, warm flags, notes) for this checkout's ``run``: the cold
    path forces full refits and fresh processes where the job has flags for them; the warm
    path is the job's defaults."""
    cold: list[str] = []
    notes: list[str] = []
    if "--refit-every" in help_text:
        cold += ["--refit-every", "0"]
    elif "--cold" in help_text:
        cold.append("--cold")
    else:
        notes.append("no warm start in this checkout (no --refit-every/--cold): the warm path "
                     "is a second full run")
    if "--fresh-processes" in help_text:
        cold.append("--fresh-processes")
    elif "fork" not in help_text.lower():
        notes.append("no worker pool in this checkout: both paths start fresh processes")
    return cold, {"COINLSTM_FORK_SERVER": "0"}, [], notes


# --------------------------------------------------------------------------- the paths


class MarketBench:
    """The three paths on one built market, in a fresh run folder."""

    def __init__(self, market: markets.Market, run_dir: Path, home: Path,
                 args: argparse.Namespace,
                 flags: tuple[list[str], dict[str, str], list[str], list[str]]) -> None:
        self.market = market
        self.run_dir = run_dir
        self.args = args
        self.cold_flags, self.cold_env, self.warm_flags, self.notes = flags
        #: COINLSTM_HOME: logs/ and the JAX compile cache, shared by the markets' runs.
        self.home = home
        self.artifacts = run_dir / "artifacts"
        run_dir.mkdir(parents=True)

    def prime(self) -> float:
        """One pair's job on a scratch copy of the database, unmeasured, so that JAX's compile
        cache holds what the hours before left in it: an hourly job finds it filled."""
        scratch = self.run_dir / "prime.sqlite"
        shutil.copy(self.market.base_db, scratch)
        argv = [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--skip-crawl",
                "--only", self.market.pairs[0].symbol, "--workers", "1", "--no-progress",
                "--db", f"sqlite:///{scratch}", "--artifacts", str(self.run_dir / "primed"),
                *self.cold_flags, *self.args.job_flags]
        wall, _, code = run_measured(argv, self._env(self.cold_env),
                                     self.run_dir / "prime.log")
        for leftover in self.run_dir.glob(f"{scratch.name}*"):  # with its lock files
            leftover.unlink()
        if code != 0:
            raise SystemExit(f"{self.market.name}: the priming run failed (exit {code}); see "
                             f"{self.run_dir / 'prime.log'}")
        return wall

    def _server(self, now_ms: int):
        from crawl.replay import ReplayServer

        return ReplayServer(self.market.serve_dir, now=now_ms)

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, "COINLSTM_HOME": str(self.home), **(extra or {})}

    def jobs(self) -> Iterator[PathResult]:
        """The cold run, then the warm run an hour later on the same database and models
        (each result as soon as its run ends)."""
        database = self.run_dir / "job.sqlite"
        shutil.copy(self.market.base_db, database)
        first_close = markets.LAST_OPEN_MS  # the close of the second newest candle
        cold = self._job("cold", database, first_close, self.cold_flags, self.cold_env)
        cold.notes += [note for note in self.notes if "warm" not in note]
        yield cold
        warm = self._job("warm", database, first_close + HOUR_MS, self.warm_flags, {})
        warm.notes += self.notes
        yield warm

    def _job(self, label: str, database: Path, close_ms: int, flags: list[str],
             env: dict[str, str]) -> PathResult:
        report = self.run_dir / f"{label}.json"
        argv = [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--workers",
                str(self.args.workers), "--report", str(report), "--no-progress", "--db",
                f"sqlite:///{database}", "--artifacts", str(self.artifacts), *flags,
                *self.args.job_flags]
        with self._server(close_ms + AFTER_CLOSE_MS) as server:
            argv[2:2] = ["--binance-url", server.url]
            close_wall = close_wall_time(server, close_ms)
            wall, tree_mb, code = run_measured(argv, self._env(env),
                                               self.run_dir / f"{label}.log")
        if not report.is_file():
            log = (self.run_dir / f"{label}.log").read_text()[-3000:]
            raise SystemExit(f"{self.market.name} {label}: the job failed (exit {code}):\n{log}")
        data = json.loads(report.read_text())
        pairs = data["pairs"]
        seconds = [pair["seconds"] for pair in pairs if pair["status"] == "ok"]
        last, how = self._last_forecast(data["run_id"], database)
        result = PathResult(
            self.market.name, label, len(self.market.pairs), len(pairs),
            None if last is None else last - close_wall, job_wall=data["wall_seconds"],
            crawl=(data.get("crawl") or {}).get("seconds"), p50=percentile(seconds, 50),
            p95=percentile(seconds, 95), driver_mb=data["driver_peak_rss_mb"],
            child_mb=max((pair.get("peak_rss_mb") or 0.0 for pair in pairs), default=None),
            ok=data["totals"]["ok"], notes=[how, f"exit {code}"])
        if code not in (0, 3):
            result.notes.append(f"the job exited {code}: see {self.run_dir / label}.log")
        result.notes.append(f"driver start-up {wall - data['wall_seconds']:.1f} s; largest "
                            f"process of the tree {tree_mb:.0f} MB")
        fits = Counter((pair.get("result") or {}).get("fit") for pair in pairs)
        fits.pop(None, None)
        if fits:  # warm start says which pairs were fine-tuned and which fitted from scratch
            result.notes.append("fits: " + ", ".join(f"{kind} {count}"
                                                     for kind, count in sorted(fits.items())))
        result.notes += [line for line in (self.run_dir / f"{label}.log").read_text()
                         .splitlines() if line.startswith("fork server")]
        return result

    def _last_forecast(self, run_id: str, database: Path) -> tuple[float | None, str]:
        """When the run's newest forecast was committed: the newest result file of its pairs
        (written right after the pair's commit), else the rows' time_create (seconds)."""
        results = list((self.home / "logs" / run_id).glob("*.result.json"))
        newest_file = max((path.stat().st_mtime for path in results), default=None)
        import sqlalchemy as sa

        from coinlstm import db

        engine = sa.create_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as conn:
                table = db.historical_price_predictions
                newest_row = conn.execute(sa.select(sa.func.max(table.c.time_create))
                                          .where(table.c.run_id == run_id)).scalar()
        finally:
            engine.dispose()
        if newest_file is not None:
            if newest_row is None:
                return newest_file, "last forecast: the pairs' result files (no rows?)"
            # time_create is taken before the store (artifacts, plot, commit), to the second
            return newest_file, (f"last forecast: the pairs' result files, "
                                 f"{newest_file - newest_row:.1f} s after the newest row's "
                                 f"time_create")
        if newest_row is not None:
            return newest_row + 1.0, "last forecast: time_create + 1 s (no result files)"
        return None, "no forecast written"

    def tutorial(self) -> PathResult:
        """The crawl, then the sampled pairs one at a time, each in a fresh TF process."""
        database = self.run_dir / "tutorial.sqlite"
        shutil.copy(self.market.base_db, database)
        db_url = f"sqlite:///{database}"
        close_ms = markets.LAST_OPEN_MS
        sample = sample_pairs(self.market.pairs, self.args.tutorial_pairs)
        folder = self.run_dir / "tutorial"
        folder.mkdir()
        ids = _coin_ids(db_url, [pair.symbol for pair in sample])
        walls: dict[int, list[float]] = {}
        peaks, skills = [], []
        with self._server(close_ms + AFTER_CLOSE_MS) as server:
            close_wall = close_wall_time(server, close_ms)
            crawl_wall, crawl_mb, code = run_measured(
                [sys.executable, "-m", "coinlstm", "crawl", "--market", "ETH", "--db", db_url,
                 "--binance-url", server.url, "--no-progress"], self._env(),
                folder / "crawl.log")
        if code != 0:
            raise SystemExit(f"{self.market.name} tutorial: the crawl failed (exit {code}); "
                             f"see {folder / 'crawl.log'}")
        for pair in sample:
            result_path = folder / f"{pair.symbol}.json"
            wall, peak, code = run_measured(
                [sys.executable, str(REPO / "bench" / "tutorial_stack.py"), "--db", db_url,
                 "--coin-id", str(ids[pair.symbol]), "--symbol", pair.symbol, "--artifacts",
                 str(folder / "artifacts"), "--result-json", str(result_path)],
                self._env({"KERAS_BACKEND": "tensorflow"}), folder / f"{pair.symbol}.log")
            if code != 0:
                raise SystemExit(f"{self.market.name} tutorial {pair.symbol}: exit {code}; see "
                                 f"{folder / pair.symbol}.log")
            walls.setdefault(pair.candles, []).append(wall)
            peaks.append(peak)
            skills.append(json.loads(result_path.read_text())["skill"])
        measured_end = time.time()
        rest = [pair for pair in self.market.pairs if pair not in sample]
        estimated = sum(estimate_seconds(walls, pair.candles) for pair in rest)
        seconds = [wall for times in walls.values() for wall in times]
        lengths = ", ".join(f"{len(times)} of {length:,} candles: "
                            f"{statistics.fmean(times):.1f} s" for length, times in walls.items())
        return PathResult(
            self.market.name, "tutorial", len(self.market.pairs), len(sample),
            measured_end - close_wall + estimated, extrapolated=bool(rest),
            job_wall=crawl_wall + sum(seconds) + estimated, crawl=crawl_wall,
            p50=percentile(seconds, 50), p95=percentile(seconds, 95), driver_mb=crawl_mb,
            child_mb=max(peaks), ok=len(sample),
            notes=[f"measured {len(sample)} pairs ({lengths}); "
                   + (f"{len(rest)} more EXTRAPOLATED by length ({estimated:.0f} s)"
                      if rest else "none extrapolated"),
                   "driver = the crawl process (the tutorial's cron had no driver)",
                   f"tutorial skill vs naive on its 48 validation candles: median "
                   f"{statistics.median(skills):+.3f}"])


def _coin_ids(db_url: str, symbols: list[str]) -> dict[str, int]:
    from coinlstm import db

    engine = db.open_database(db_url)
    try:
        with engine.connect() as conn:
            return {symbol: int(db.coin_by_symbol(conn, symbol).id) for symbol in symbols}
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- output


def _figure(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[PathResult]) -> str:
    from coinlstm.core.tables import format_table

    header = ("market", "path", "pairs", "close -> last forecast s", "job wall s", "crawl s",
              "per-pair p50 s", "p95 s", "driver peak MB", "largest child MB")
    rows = [(r.market, r.path, f"{r.ok}/{r.pairs}" if not r.extrapolated
             else f"{r.measured_pairs} run, {r.pairs}",
             _figure(r.latency) + (" extrapolated" if r.extrapolated else ""),
             _figure(r.job_wall) + (" extrap." if r.extrapolated else ""), _figure(r.crawl),
             _figure(r.p50), _figure(r.p95), _figure(r.driver_mb, ".0f"),
             _figure(r.child_mb, ".0f")) for r in results]
    return format_table([header, *rows], left=2)


def comparisons(results: list[PathResult]) -> list[str]:
    """The issue's targets, each with the figures it is read from."""
    lines = []
    by = {(r.market, r.path): r for r in results}
    for market in dict.fromkeys(r.market for r in results):
        tutorial, cold, warm = (by.get((market, path)) for path in ("tutorial", "cold",
                                                                       "warm"))
        for path in (cold, warm):
            if tutorial and path and tutorial.latency and path.latency:
                lines.append(f"{market}: {path.path} path {tutorial.latency / path.latency:.1f}x "
                             f"faster than the tutorial's stack (extrapolated), close -> last "
                             f"forecast")
        if warm and warm.latency is not None:
            target = "<= 15 s for 30 pairs" if market == "eth30" else "<= 120 s for 400 pairs"
            lines.append(f"{market}: warm path close -> last forecast {warm.latency:.1f} s "
                         f"(target {target})")
    small = by.get(("eth30", "warm"))
    big = next((r for r in results if r.market != "eth30" and r.path == "warm"), None)
    if small and big and small.driver_mb and big.driver_mb and small.child_mb and big.child_mb:
        lines.append(f"memory, {big.market} / eth30 (warm runs): driver peak "
                     f"{big.driver_mb / small.driver_mb:.2f}x, largest child "
                     f"{big.child_mb / small.child_mb:.2f}x (target within 1.10x)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs30-only", "--skip-400", dest="skip_big", action="store_true",
                        help="only the 30-pair market (no synthetic big market)")
    parser.add_argument("--skip-30", action="store_true", help="only the synthetic market")
    parser.add_argument("--synthetic-pairs", type=int, default=400, metavar="N",
                        help="pairs of the synthetic market (default 400; try 40 first)")
    parser.add_argument("--tutorial-pairs", type=int, default=3, metavar="N",
                        help="pairs the tutorial's stack runs per market; the rest is "
                             "extrapolated (default 3)")
    parser.add_argument("--skip-tutorial", action="store_true")
    parser.add_argument("--no-flops", action="store_true", help="skip the GFLOP/s figures")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                        help="keep the built markets (and the runs' files) here and reuse "
                             "them next time (default: a temporary folder, deleted)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write every figure as JSON")
    parser.add_argument("job_flags", nargs="*", help="extra flags for the job, after --")
    args = parser.parse_args(argv)
    if args.synthetic_pairs < 1 or args.tutorial_pairs < 1 or args.workers < 1:
        parser.error("--synthetic-pairs, --tutorial-pairs and --workers must be at least 1")
    if args.skip_big and args.skip_30:
        parser.error("--pairs30-only and --skip-30 leave nothing to run")
    if not args.skip_30 and not (markets.SHARED / "ADAETH.csv").is_file():
        print(f"needs the real candles in {markets.SHARED} (or --skip-30)", file=sys.stderr)
        return 2
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    flags = path_flags(job_help())
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start; {args.workers} "
          f"workers; cold path flags: {' '.join(flags[0]) or '(none)'} with "
          f"{' '.join(f'{k}={v}' for k, v in flags[1].items())}; warm path: the job's "
          f"defaults; extra job flags: {' '.join(args.job_flags) or '(none)'}", flush=True)
    for note in flags[3]:
        print(f"note: {note}")
    results: list[PathResult] = []
    flops = None
    with tempfile.TemporaryDirectory(prefix="coinlstm-latency-") as temporary:
        workdir = args.workdir or Path(temporary)
        runs = workdir / "runs" / time.strftime("%Y%m%dT%H%M%S")
        specs = []
        if not args.skip_30:
            specs.append(("eth30", markets.market30_pairs()))
        if not args.skip_big:
            specs.append((f"syn{args.synthetic_pairs}",
                          markets.synthetic_pairs(args.synthetic_pairs)))
        for name, pairs in specs:
            started = time.perf_counter()
            market = markets.build(name, pairs, workdir / "markets" / name)
            print(f"{market.describe()}; ready in {time.perf_counter() - started:.0f} s",
                  flush=True)
            bench = MarketBench(market, runs / name, runs / "home", args, flags)
            print(f"  compile cache primed by a 1-pair job ({bench.prime():.0f} s, not "
                  "measured)", flush=True)
            for result in bench.jobs():
                results.append(result)
                print(f"  {describe(result)}", flush=True)
            if not args.skip_tutorial:
                results.append(bench.tutorial())
                print(f"  {describe(results[-1])}", flush=True)
        if not args.no_flops:
            completed = subprocess.run([sys.executable, str(REPO / "bench" / "train_flops.py"),
                                        "--json"], capture_output=True, text=True, cwd=REPO)
            if completed.returncode == 0:
                flops = json.loads(completed.stdout.strip().splitlines()[-1])
            else:
                print(f"train_flops.py failed: {completed.stderr.strip()[-500:]}")
        if args.workdir:
            print(f"runs kept in {runs}")
    print()
    print(table(results))
    for line in comparisons(results):
        print(line)
    if args.job_flags:
        print(f"the jobs ran with {' '.join(args.job_flags)}: the tutorial's stack did not, "
              "so its ratios above compare different work")
    if flops is not None:
        from train_flops import describe as describe_flops

        print(describe_flops(flops))
    print(f"load {os.getloadavg()[0]:.1f} at end (2 cores shared with other sessions: "
          "figures are noisy)")
    if args.json:
        args.json.write_text(json.dumps({"results": [asdict(r) for r in results],
                                         "flops": flops}, indent=2))
    return 0


def describe(result: PathResult) -> str:
    figures = (f"{result.path}: close -> last forecast {_figure(result.latency)} s"
               + (" (extrapolated)" if result.extrapolated else "")
               + f", per-pair p50 {_figure(result.p50)} s p95 {_figure(result.p95)} s, "
               f"driver {_figure(result.driver_mb, '.0f')} MB, largest child "
               f"{_figure(result.child_mb, '.0f')} MB")
    return "; ".join([figures, *result.notes])


if __name__ == "__main__":
    sys.exit(main())
