"""Plain helpers of the tests: paths, real candle files, the CLI as a user runs it.

Test modules import these (``from tests.helpers import ...``); the fixtures are in
tests/conftest.py, which no module imports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests import forked_cli

REPO = Path(__file__).resolve().parents[1]
#: The pytest-xdist worker this process is (gw0, gw1 ..), None in a serial run.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
#: COINLSTM_HOME of what the tests run without a home of their own: the checkout, as for a user
#: running from it; under pytest-xdist a home per worker (REPO/.cache/xdist/gwN, which
#: tests/conftest.py exports), so that workers running at once share no logs or default database
#: (the compile caches they do share: SHARED_STEPS, SHARED_JAX).
TEST_HOME = REPO / ".cache" / "xdist" / XDIST_WORKER if XDIST_WORKER else REPO
#: Under pytest-xdist, the compiled train steps' store of every worker (tests/conftest.py links
#: each TEST_HOME's ``.cache/steps`` to it): written atomically, so workers can share it.
SHARED_STEPS = REPO / ".cache" / "xdist" / "steps"
#: Under pytest-xdist, JAX's persistent compile cache of every worker (each TEST_HOME's
#: ``.cache/jax`` links to it): shared under JAX's file lock, which tests/conftest.py turns on.
SHARED_JAX = REPO / ".cache" / "xdist" / "jax"
SHARED_DATA = REPO.parent / "shared" / "data" / "binance-1h"
ETH_PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH",
             "TRXETH", "XRPETH")
HOUR_MS = 3_600_000


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped by whoever adopted it, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    """The living processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_of(int(entry.name)) == pid and alive(int(entry.name)):
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def descendants(pid: int) -> list[int]:
    """The living processes under ``pid``, at any depth, from one pass over /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except (OSError, IndexError, ValueError):
                continue
            if state not in ("Z", "X"):
                parents[int(entry.name)] = int(parent)
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found += children
        todo += children
    return found


def wait_for(condition, timeout: float = 60, what: str = "a condition") -> None:
    """Poll ``condition`` every 0.1 s; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def fingerprint(url: str) -> dict[str, int]:
    """Row counts of every table: equal before and after means 'the database is unchanged'."""
    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return db.table_fingerprint(conn)
    finally:
        engine.dispose()


def read_csv_rows(path: Path, limit: int | None = None, tail: bool = False) -> list[list[str]]:
    """A kline CSV's rows as the text fields Binance wrote (what tests compare against)."""
    lines = path.read_text().splitlines()
    if limit is not None:
        lines = lines[-limit:] if tail else lines[:limit]
    return [line.split(",") for line in lines if line]


def write_sample(src: Path, dest_dir: Path, rows: int, tail: bool = False) -> Path:
    """Copy the first (or last) ``rows`` candles of a candle CSV: small data for tests."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    lines = src.read_text().splitlines()
    chosen = lines[-rows:] if tail else lines[:rows]
    dest.write_text("\n".join(chosen) + "\n")
    return dest


def write_market(source: Path, folder: Path, pairs, rows: int, tail: bool = False) -> Path:
    """A folder to serve: the first (or last) ``rows`` candles of each pair of ``source``."""
    for symbol in pairs:
        write_sample(source / f"{symbol}.csv", folder, rows, tail=tail)
    return folder


def after_last(folder: Path) -> int:
    """A server time just after every candle in the folder has closed (a minute later)."""
    last = max(int(read_csv_rows(path)[-1][0]) for path in folder.glob("*.csv"))
    return last + HOUR_MS + 60_000


def link_folder(link: Path, target: Path) -> None:
    """Make ``link`` a link to the folder ``target`` (created if missing); a folder of its own
    left at ``link`` by an older run is replaced by the link."""
    target.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        return
    if link.exists():
        shutil.rmtree(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


def share_caches(home: Path) -> Path:
    """``home`` (made if missing) with TEST_HOME's compile caches as its ``.cache`` (a link):
    JAX's cache and the compiled train steps, shared by every worker (tests/conftest.py). A
    test's own home then loads what other tests compiled instead of compiling it again; only
    for tests whose assertions do not concern the caches. Returns ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    cache = TEST_HOME / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    if not (home / ".cache").exists():
        (home / ".cache").symlink_to(cache, target_is_directory=True)
    return home


def cli_env(env: dict | None = None, cwd: Path | None = None) -> dict[str, str]:
    full_env = dict(os.environ)
    full_env.setdefault("COINLSTM_HOME", str(cwd or TEST_HOME))
    if env:
        full_env.update(env)
    return full_env


def run_cli(*args: str, env: dict | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m coinlstm ARGS`` as a user would: in a child forked from a server that
    imported the package (tests/forked_cli.py) or, where that would differ, a fresh process."""
    return _run(["-m", "coinlstm"], args, env, timeout, cwd)


def run_job(*args: str, env: dict | None = None, timeout: float = 600,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python run_all.py ARGS``, the hourly job as cron runs it, launched as :func:`run_cli`
    launches the CLI."""
    return _run([str(REPO / "run_all.py")], args, env, timeout, cwd)


def _run(entry: list[str], args: tuple[str, ...], env: dict | None, timeout: float,
         cwd: Path | None) -> subprocess.CompletedProcess:
    argv, full_env, folder = [sys.executable, *entry, *args], cli_env(env, cwd), cwd or REPO
    if forked_cli.forkable(args, env):
        done = forked_cli.run_forked(argv, full_env, folder, timeout, TEST_HOME / "logs")
        if done is not None:
            return done
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=str(folder))


class CliRunner:
    """``python -m coinlstm``: ``runner(*args)`` runs to the end (:func:`run_cli`),
    ``runner.start(*args)`` returns the running process (a fresh one, for the test to signal
    and read); whatever is still running at teardown is killed."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def __call__(self, *args: str, env: dict | None = None, timeout: float = 600,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        return run_cli(*args, env=env, timeout=timeout, cwd=cwd)

    def start(self, *args: str, env: dict | None = None, cwd: Path | None = None,
              **popen) -> subprocess.Popen:
        options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
        process = subprocess.Popen([sys.executable, "-m", "coinlstm", *args],
                                   env=cli_env(env, cwd), cwd=str(cwd or REPO), **options)
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.communicate()


# --------------------------------------------------------------------------- the dashboard


class Served:
    """``coinlstm serve`` started as a user starts it, on a free loopback port: the
    dashboard's API and browser tests. ``get`` answers (status, headers, body) for any
    status; ``stop`` ends its process group."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coinlstm", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(env),
            cwd=REPO, start_new_session=True)
        line = self.process.stdout.readline()
        if not line.startswith("dashboard on "):
            self.stop()
            raise AssertionError(f"serve did not start: {line} {self.process.stderr.read()}")
        self.url = line.split()[2].rstrip("/")

    def get(self, path: str, headers: dict | None = None, method: str = "GET",
            data: bytes | None = None):
        request = urllib.request.Request(self.url + path, headers=headers or {},
                                         method=method, data=data)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# --------------------------------------------------------------------------- candles in a DB

#: The header line data.binance.vision puts in some dumps.
VISION_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                 "taker_buy_volume,taker_buy_quote_volume,ignore")


def as_tuples(lines: list[str]) -> list[tuple[str, ...]]:
    """Kline CSV lines as the text tuples ``db.candle_text_rows`` returns."""
    return [tuple(line.split(",")) for line in lines]


def write_csv(folder: Path, symbol: str, lines: list[str]) -> Path:
    """``folder/SYMBOL.csv`` holding ``lines``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{symbol}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_dump(folder: Path, name: str, lines: list[str], header: bool = False,
               checksum: bool = True) -> Path:
    """A data.binance.vision zip (and its .CHECKSUM) holding ``name``.csv."""
    import hashlib
    import io
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv",
                         "\n".join(([VISION_HEADER] if header else []) + lines) + "\n")
    path = folder / f"{name}.zip"
    path.write_bytes(body.getvalue())
    if checksum:
        digest = hashlib.sha256(body.getvalue()).hexdigest()
        (folder / f"{name}.zip.CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def import_into(url: str, paths: list[Path], **options):
    """``crawl.vision.import_paths`` into the database at ``url``: its ImportSummary."""
    from coinlstm import db
    from crawl import vision

    engine = db.open_database(url)
    try:
        return vision.import_paths(engine, paths, **options)
    finally:
        engine.dispose()


def text_rows(url: str, symbol: str, interval: str = "1h") -> list[tuple]:
    """The stored candles of ``symbol`` at ``interval`` as text tuples ([] if unknown)."""
    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            coin = db.coin_by_symbol(conn, symbol)
            return [] if coin is None else db.candle_text_rows(conn, coin.id, interval=interval)
    finally:
        engine.dispose()


def count_rows_by_name(url: str, table: str) -> int:
    """Rows of a table named as a dashboard names it, not through the code's schema."""
    import sqlalchemy as sa

    from coinlstm import db

    engine = db.open_database(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table)))
                       .scalar_one())
    finally:
        engine.dispose()


def kline_features(rows: list[list[str]]):
    """(open times, the 10 feature columns as a float array) of kline text rows: fields 1-5
    and 7-11, the order of ``db.FEATURE_COLUMNS``."""
    import numpy as np

    times = [int(row[0]) for row in rows]
    return times, np.array([[float(row[i]) for i in (1, 2, 3, 4, 5, 7, 8, 9, 10, 11)]
                            for row in rows])


def valid_samples(times, reach: int, horizon: int):
    """First target rows whose window, lead and K targets are consecutive hours (by hand)."""
    import numpy as np

    times = np.asarray(times)
    first = np.arange(reach, len(times) - horizon + 1)
    return first[times[first + horizon - 1] - times[first - reach]
                 == (reach + horizon - 1) * HOUR_MS]


# --------------------------------------------------------------------------- other exchanges

#: The replay test market of each non-Binance source: (market, interval, file name pattern).
EXCHANGE_MARKETS = {
    "poloniex": ("USDT", "1h", "SYNTH{}USDT"),
    "bithumb": ("KRW", "1h", "SYNTH{}KRW"),
    "coingecko": ("USD", "1d", "SYNTH{}USD"),
}
#: Each source's symbol of the test market's pair ``n``.
EXCHANGE_SYMBOLS = {
    "poloniex": "SYNTH{}_USDT",
    "bithumb": "KRW-SYNTH{}",
    "coingecko": "synth{}-usd",
}


def write_exchange_market(folder: Path, exchange: str, candles: int = 450,
                          pairs: int = 2) -> dict[str, list[str]]:
    """SYNTHnQUOTE.csv files of ``exchange``'s test market (synthetic, with a two-candle gap
    in the middle): source symbol -> kline lines."""
    from coinlstm.app.demo import END_OPEN_MS, synthetic_klines
    from coinlstm.core.klines import INTERVAL_MS

    _, interval, pattern = EXCHANGE_MARKETS[exchange]
    step = INTERVAL_MS[interval]
    end = END_OPEN_MS - END_OPEN_MS % step
    written = {}
    for number in range(1, pairs + 1):
        lines = synthetic_klines(candles + 2, seed=500 + number, interval_ms=step,
                                 end_open_ms=end, start_price=0.0004 * number)
        lines = lines[: candles // 2] + lines[candles // 2 + 2:]
        write_csv(folder, pattern.format(number), lines)
        written[EXCHANGE_SYMBOLS[exchange].format(number)] = lines
    return written


def as_source_rows(lines: list[str], columns) -> list[tuple[str, ...]]:
    """Kline lines as a source lacking some columns stores them: missing decimals 0 (open,
    high and low the close), a missing trade count 0 (see crawl/sources)."""
    from coinlstm.core.columns import CANDLE_COLUMNS, DECIMAL_COLUMNS

    names = CANDLE_COLUMNS[1:]
    rows = []
    for line in lines:
        fields = line.split(",")
        close = fields[names.index("close")]
        row = []
        for name, value in zip(names, fields, strict=True):
            if name in ("openTime", "ignore") or name in columns:
                row.append(value)
            elif name in ("open", "high", "low"):
                row.append(close)
            else:
                row.append("0.00000000" if name in DECIMAL_COLUMNS else "0")
        rows.append(tuple(row))
    return rows
