"""Soak: N consecutive hours of the hourly job under random faults, then what the database
must hold (bench/soak_checks.py), each check printed PASS or FAIL; exit 1 when one fails.

The market is served by the project's replay server on 127.0.0.1, its clock moved one hour
per run (as ``make demo`` does): the 9 real ETH pairs of ../shared/data/binance-1h (their
last ``--history`` + ``--hours`` candles; ``--pairs`` takes the first N), or ``--synthetic``
pairs. Each hour but the first (the backfill) and the last (the recovery of the one before)
gets one fault, the kinds taken in a seeded shuffled cycle so that every kind occurs; its
parameters (when, how long, which pair) drawn from ``--seed``:

- ``db_kill``: the soak's own MariaDB (never the shared one) SIGKILLed 2-10 s while pairs
  train, then restarted on the same data (``--db mysql`` only);
- ``driver_kill``: the job's driver process SIGKILLed mid-run (the next hour must take the
  lock and mark the run abandoned);
- ``exchange_storm``: the replay server answers 429 (Retry-After 1) and 500 to every few
  requests for the whole hour;
- ``pair_kill``: one pair's process (a grandchild of the driver, found in /proc) SIGKILLed;
- ``disk_full``: the artifacts tmpfs (``--artifacts-mb``, mounted by the soak: root) filled
  to the last byte for the hour.

A read-only ``coinlstm serve`` on loopback is polled every ``--poll`` seconds throughout.

    .venv/bin/python bench/soak.py --db sqlite --hours 48 --pairs 9 --seed 1
    .venv/bin/python bench/soak.py --db mysql --hours 6 --pairs 2 --faults driver_kill,db_kill
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# bench/ is sys.path[0] when this runs, and bench/crawl.py would shadow the crawl package.
sys.path.insert(0, str(REPO))

import soak_checks as checks  # noqa: E402 - bench/ sibling, after the path fix

from tests.helpers import children_of, descendants  # noqa: E402 - after the path fix

SHARED = REPO.parent / "shared" / "data" / "binance-1h"
REAL_PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH",
              "TRXETH", "XRPETH")
HOUR_MS = 3_600_000
KINDS = ("db_kill", "driver_kill", "exchange_storm", "pair_kill", "disk_full")
#: The job's flags: tiny networks and epochs, so that 9 pairs train in seconds. The close
#: target: its forecasts differ from the last close (a tiny return model shrinks to it), so
#: the recomputed errors, skill and Diebold-Mariano figures are not all zero.
FAST = ["--target", "close", "--epochs", "2", "--warm-epochs", "1", "--units", "16",
        "--val-size", "96", "--test-size", "24", "--calibration-size", "0",
        "--batch-size", "128", "--no-progress"]
RUN_LINE = re.compile(r"^run \S+: \d+ pairs")


@dataclass
class Fault:
    hour: int
    kind: str
    target: str = ""
    delay: float = 0.0
    seconds: float = 0.0
    happened: str = ""


def plan_faults(hours: int, kinds: list[str], rng: random.Random,
                kill_within: float = 1.5) -> dict[int, Fault]:
    """hour -> its fault: hours 2 .. N-1, the kinds in shuffled cycles."""
    plan: dict[int, Fault] = {}
    cycle: list[str] = []
    for hour in range(2, hours):
        if not cycle:
            cycle = list(kinds)
            rng.shuffle(cycle)
        kind = cycle.pop()
        # A process is killed within ``kill_within`` s of the first pair's start (a warm
        # pair of a small market is done in 1-4 s); the database a few seconds into training.
        latest = 3.0 if kind == "db_kill" else kill_within
        plan[hour] = Fault(hour, kind, delay=round(rng.uniform(0.0, latest), 1),
                           seconds=round(rng.uniform(2.0, 10.0), 1))
    return plan


# --------------------------------------------------------------------------- processes


def pair_processes(driver: int) -> list[int]:
    """The driver's grandchildren: the fork server's (or a fresh process's) pair processes."""
    return [grandchild for child in children_of(driver) for grandchild in children_of(child)]


class Job:
    """One hourly run of ``coinlstm run`` in the background, its stdout read as it comes."""

    def __init__(self, argv: list[str], env: dict, log: Path) -> None:
        self.lines: list[str] = []
        self.log = log
        self.process = subprocess.Popen([sys.executable, "-m", "coinlstm", "run", *argv],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with open(self.log, "a") as log:
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                log.write(line)

    def wait_line(self, pattern: re.Pattern, timeout: float = 300) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pattern.search(line) for line in self.lines):
                return True
            if self.process.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def wait_pairs(self, timeout: float = 300) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if found := pair_processes(self.process.pid):
                return found
            time.sleep(0.1)
        return []

    def finish(self, timeout: float = 900) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
            self.lines.append("soak: job killed after its timeout")
        self._reader.join(timeout=30)
        return code


# --------------------------------------------------------------------------- dashboard


class DashboardPoller:
    """``coinlstm serve`` on loopback, polled every few seconds on a few pages and APIs."""

    def __init__(self, db_url: str, env: dict, symbol: str, every: float, log: Path) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.every = every
        self.paths = ["/market/ETH", "/runs", "/api/runs", "/api/markets/ETH/ranking",
                      f"/pair/{symbol}", f"/api/pairs/{symbol}/track-record"]
        self.statuses: Counter = Counter()
        self.bad: list[str] = []
        self._stop = threading.Event()
        self._log = open(log, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coinlstm", "serve", "--db", db_url, "--port",
             str(self.port)], stdout=self._log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self._get("/api/runs") is None:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.3)
        self._thread.start()

    def _get(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=30) as reply:
                return reply.status
        except urllib.error.HTTPError as error:
            return error.code
        except (OSError, urllib.error.URLError):
            return None

    def _poll(self) -> None:
        turn = 0
        while not self._stop.wait(self.every):
            path = self.paths[turn % len(self.paths)]
            turn += 1
            status = self._get(path)
            self.statuses[status or "no answer"] += 1
            if status not in (200, 503) and len(self.bad) < 50:
                self.bad.append(f"{time.strftime('%H:%M:%S')} {path}: {status or 'no answer'}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


# --------------------------------------------------------------------------- market


def write_market(folder: Path, pairs: int, rows: int, synthetic: bool, seed: int) -> list[str]:
    """SYMBOL.csv files of ``rows`` candles each ending at the same candle; the symbols."""
    folder.mkdir(parents=True, exist_ok=True)
    if synthetic or not SHARED.is_dir():
        from coinlstm.app.demo import synthetic_klines

        symbols = [f"SYNTH{n}ETH" for n in range(1, pairs + 1)]
        for number, symbol in enumerate(symbols, start=1):
            lines = synthetic_klines(rows, seed + number, start_price=0.0005 * number)
            (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
        return symbols
    symbols = list(REAL_PAIRS[:pairs])
    for symbol in symbols:
        lines = (SHARED / f"{symbol}.csv").read_text().splitlines()[-rows:]
        (folder / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    return symbols


def last_open_ms(folder: Path) -> int:
    return max(int(path.read_text().splitlines()[-1].split(",")[0])
               for path in folder.glob("*.csv"))


def fill_disk(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to its last byte (unbuffered: a buffered file would
    fail again on close); the filler, to delete after."""
    filler = folder / "soak-filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


# --------------------------------------------------------------------------- the soak


@dataclass
class SoakResult:
    db_url: str
    symbols: list[str]
    hours: list[checks.Hour]
    faults: list[Fault]
    checks: list[checks.Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


class Soak:
    """The soak's state: the market, the database, the artifacts disk, the hours done."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.market = workdir / "market"
        self.symbols = write_market(self.market, args.pairs, args.history + args.hours,
                                    args.synthetic, args.seed)
        self.last_open = last_open_ms(self.market)
        self.artifacts = workdir / "artifacts"
        self.artifacts.mkdir(exist_ok=True)
        self.mounted = False
        self.mariadb = None
        self.seen_runs: set[str] = set()
        self.hours: list[checks.Hour] = []
        self.faults_done: list[Fault] = []
        home = workdir / "home"
        home.mkdir(exist_ok=True)
        cache = Path(args.cache).resolve()
        cache.mkdir(parents=True, exist_ok=True)
        if not (home / ".cache").exists():
            (home / ".cache").symlink_to(cache, target_is_directory=True)
        self.env = dict(os.environ, COINLSTM_HOME=str(home), RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
        self.env.pop("COINLSTM_DB_URL", None)
        self.db_url = ""

    # -- set-up and tear-down -----------------------------------------------------------

    def open(self) -> None:
        if self.args.db == "mysql":
            from tests.own_mariadb import OwnMariaDB

            self.mariadb = OwnMariaDB()
            self.mariadb.install()
            self.mariadb.start()
            self.db_url = self.mariadb.new_database("soak")
        else:
            self.db_url = f"sqlite:///{self.workdir / 'soak.sqlite'}"
        if os.geteuid() == 0:
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.args.artifacts_mb}m",
                            "tmpfs", str(self.artifacts)], check=True)
            self.mounted = True

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.artifacts)], check=False)
        if self.mariadb is not None:
            self.mariadb.close()

    def kinds(self) -> list[str]:
        kinds = [k for k in self.args.faults.split(",") if k] if self.args.faults else list(KINDS)
        if self.args.db != "mysql":
            kinds = [k for k in kinds if k != "db_kill"]
        if not self.mounted:
            kinds = [k for k in kinds if k != "disk_full"]
        return kinds

    # -- one hour -----------------------------------------------------------------------

    def target_ms(self, hour: int) -> int:
        """The open time of the candle hour ``hour``'s run forecasts (the one open then)."""
        return self.last_open - (self.args.hours - hour) * HOUR_MS

    def job_argv(self, url: str, hour: int) -> list[str]:
        return ["--market", "ETH", "--db", self.db_url, "--binance-url", url,
                "--artifacts", str(self.artifacts), "--workers", str(self.args.workers),
                "--history", str(self.args.history), "--timeout", "600",
                "--report", str(self.workdir / "reports" / f"hour{hour:02d}.json"), *FAST]

    def run_hour(self, hour: int, fault: Fault | None) -> None:
        from crawl.replay import Faults, ReplayServer

        kind = fault.kind if fault else ""
        server_faults = Faults()
        if kind == "exchange_storm":
            too_many, error = self.rng.randint(2, 4), self.rng.randint(3, 6)
            server_faults = Faults(too_many_every=too_many, error_every=error, retry_after=1)
            fault.target = f"exchange: 429 every {too_many}, 500 every {error} requests"
        filler = fill_disk(self.artifacts) if kind == "disk_full" else None
        if filler is not None:
            fault.target = f"artifacts tmpfs ({self.args.artifacts_mb} MB) filled"
        now = self.target_ms(hour) + 10 * 60_000
        try:
            with ReplayServer(self.market, now=now, faults=server_faults) as server:
                job = Job(self.job_argv(server.url, hour), self.env, self.workdir / "job.log")
                if fault is not None:
                    self.inject(fault, job)
                code = job.finish()
                refused = sum(1 for entry in server.request_log if entry.status in (429, 500))
        finally:
            if filler is not None:
                filler.unlink()
        outcome = _outcome(job.lines, code)
        if fault is not None:
            if kind == "exchange_storm":
                fault.happened = f"{refused} replies 429/500; " + outcome
            else:
                fault.happened = (fault.happened + "; " if fault.happened else "") + outcome
        previous = self.faults_done[-1] if self.faults_done else None
        if previous is not None and previous.kind == "driver_kill" and previous.hour == hour - 1:
            previous.happened += ("; the next hour marked its run abandoned"
                                  if "marked a run abandoned" in outcome else
                                  "; the next hour did NOT mark its run abandoned")
        if fault is not None:
            self.faults_done.append(fault)
        self.hours.append(checks.Hour(hour, self.target_ms(hour), tuple(self.new_runs())))
        print(f"hour {hour:2d}/{self.args.hours} {kind or 'no fault':15s} {outcome}", flush=True)

    def new_runs(self) -> list[str]:
        import sqlalchemy as sa

        engine = sa.create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                ids = [row[0] for row in conn.execute(sa.text("SELECT run_id FROM job_runs"))]
        finally:
            engine.dispose()
        new = sorted(set(ids) - self.seen_runs)
        self.seen_runs.update(new)
        return new

    # -- the faults ---------------------------------------------------------------------

    def inject(self, fault: Fault, job: Job) -> None:
        if fault.kind not in ("db_kill", "driver_kill", "pair_kill"):
            return
        if not job.wait_pairs():
            fault.happened = "no pair process appeared: not injected"
            return
        time.sleep(fault.delay)
        if job.process.poll() is not None:
            fault.happened = f"the job ended within {fault.delay} s: not injected"
            return
        if fault.kind == "db_kill":
            fault.target = f"own MariaDB :{self.mariadb.port}"
            self.mariadb.kill()
            time.sleep(fault.seconds)
            self.mariadb.start()
            fault.happened = f"down {fault.seconds} s from {fault.delay} s into training"
        elif fault.kind == "driver_kill":
            self.kill_driver(fault, job)
        else:
            self.kill_pair(fault, job)

    def kill_driver(self, fault: Fault, job: Job) -> None:
        pid = job.process.pid
        family = descendants(pid)
        fault.target = f"driver pid {pid} ({len(family)} children)"
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        while time.monotonic() - started < 60 and any(_alive(p) for p in family):
            time.sleep(0.2)
        orphans = [p for p in family if _alive(p)]
        for orphan in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)
        fault.happened = (f"{len(orphans)} orphans alive after 60 s, killed" if orphans else
                          f"its children gone {time.monotonic() - started:.1f} s later")

    def kill_pair(self, fault: Fault, job: Job) -> None:
        pids = pair_processes(job.process.pid) or job.wait_pairs(timeout=30)
        if not pids:
            fault.happened = "no pair process left to kill"
            return
        pid = self.rng.choice(sorted(pids))
        try:
            log = os.readlink(f"/proc/{pid}/fd/1")
        except OSError:
            log = "?"
        fault.target = f"pair pid {pid} ({Path(log).stem})"
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        fault.happened = "SIGKILLed"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _outcome(lines: list[str], code: int) -> str:
    """What the job said: its exit code, its pairs' summary, abandoned runs, failures."""
    said = [f"exit {code}"]
    failed: dict[str, list[str]] = {}
    for line in lines:
        if "marked abandoned" in line:
            said.append("marked a run abandoned")
        if line.startswith("pairs ok "):
            said.append(line.split(";")[0])
        match = re.match(r"^([A-Z0-9]+) failed: (.*)$", line)
        if match:
            failed.setdefault(match[2][:70], []).append(match[1])
    for reason, symbols in failed.items():
        who = symbols[0] if len(symbols) == 1 else f"{len(symbols)} pairs"
        said.append(f"{who} failed: {reason}")
    return "; ".join(said)


def run_soak(args: argparse.Namespace, workdir: Path) -> SoakResult:
    started = time.monotonic()
    soak = Soak(args, workdir)
    (workdir / "reports").mkdir(exist_ok=True)
    plan: dict[int, Fault] = {}
    dashboard = None
    try:
        soak.open()
        plan = (plan_faults(args.hours, soak.kinds(), soak.rng, args.kill_within)
                if soak.kinds() else {})
        for hour in range(1, args.hours + 1):
            soak.run_hour(hour, plan.get(hour))
            if dashboard is None:  # after the backfill: the pairs exist
                dashboard = DashboardPoller(soak.db_url, soak.env, soak.symbols[0], args.poll,
                                            workdir / "serve.log")
                dashboard.start()
        dashboard.stop()
        import sqlalchemy as sa

        engine = sa.create_engine(soak.db_url)
        try:
            found = checks.database_checks(engine, soak.hours, soak.symbols)
        finally:
            engine.dispose()
        found.append(checks.check_dashboard(dict(dashboard.statuses), dashboard.bad))
    finally:
        if dashboard is not None and dashboard.process.poll() is None:
            dashboard.stop()
        soak.close()
    return SoakResult(soak.db_url, soak.symbols, soak.hours, list(plan.values()), found,
                      time.monotonic() - started)


def print_result(args: argparse.Namespace, result: SoakResult) -> None:
    market = "SYNTHETIC" if args.synthetic or not SHARED.is_dir() else "real (binance-1h)"
    print(f"\nsoak: --db {args.db} --hours {args.hours} --pairs {args.pairs} --seed {args.seed}; "
          f"{market} pairs {','.join(result.symbols)}; wall time {result.seconds / 60:.1f} min")
    print(f"\n{'hour':>4}  {'fault':15s} {'target':42s} what happened")
    for fault in result.faults:
        print(f"{fault.hour:4d}  {fault.kind:15s} {fault.target[:42]:42s} {fault.happened}")
    print()
    for check in result.checks:
        print("\n".join(check.lines()))
    print(f"\n{'all checks PASS' if result.passed else 'some check FAILED'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default="",
                        help=f"the fault kinds to cycle through (default all: {','.join(KINDS)})")
    parser.add_argument("--kill-within", type=float, default=1.5, metavar="S",
                        help="a driver or pair is killed 0-S s after the first pair started "
                             "(default %(default)s)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic pairs, not real")
    parser.add_argument("--history", type=int, default=500, help="candles before hour 1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--poll", type=float, default=2.0, help="dashboard poll seconds")
    parser.add_argument("--artifacts-mb", type=int, default=64)
    parser.add_argument("--workdir", default=None, help="default: a new temporary folder")
    parser.add_argument("--cache", default=str(REPO / ".cache" / "soak"),
                        help="the compile cache the hours share (kept between soaks)")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.faults.split(","))) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds: {','.join(sorted(unknown))}")
    if args.hours < 3 or not 1 <= args.pairs <= len(REAL_PAIRS) and not args.synthetic:
        parser.error("--hours must be at least 3 and --pairs 1..9 (more with --synthetic)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="coinlstm-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    print(f"soak in {workdir} (job output: {workdir / 'job.log'})", flush=True)
    result = run_soak(args, workdir)
    print_result(args, result)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
