"""Memory over a long market: the fork server's children return their memory pair by pair.

Builds a SYNTHETIC market of ``--pairs`` pairs (AR(1) random walks of coinlstm.app.demo,
``--candles`` hourly candles each, labelled BENCHnnnETH), imports it into SQLite and runs the
hourly job on it with ``--skip-crawl`` and tiny epochs, once with the fork server (the default)
and once with ``--fresh-processes``, in the same run. While each job runs, its process tree is
sampled every 0.1 s from /proc.

Prints, per mode: wall time, per-pair median seconds, the driver's peak RSS (the job's
report), the fork server's RSS when ready and at the end (the job's own lines) and its largest
sampled, the pairs' peak RSS (wait4's ru_maxrss, the job's report: for a forked child it
counts the pages it shares with the server) over the first and the last ``--window`` pairs,
the largest, and the largest sampled private memory (Private_Clean + Private_Dirty of
/proc/PID/smaps_rollup: what a pair's process adds to the machine). Flat memory: the last
pairs' figures equal the first pairs'.

    .venv/bin/python bench/pool.py                      # 32 pairs, both modes, 2 workers
    .venv/bin/python bench/pool.py --pairs 60 --modes fork
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
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # bench/crawl.py would shadow the crawl package

from tests.helpers import descendants  # noqa: E402 - after the path fix


def write_market(folder: Path, pairs: int, candles: int) -> list[Path]:
    from coinlstm.app.demo import synthetic_klines

    folder.mkdir(parents=True)
    paths = []
    for number in range(1, pairs + 1):
        path = folder / f"BENCH{number:03d}ETH.csv"
        path.write_text("\n".join(synthetic_klines(candles, seed=number)) + "\n")
        paths.append(path)
    return paths


def build_database(workdir: Path, pairs: int, candles: int) -> Path:
    from coinlstm import db
    from crawl.vision import import_paths

    database = workdir / "base.sqlite"
    engine = db.open_database(f"sqlite:///{database}")
    import_paths(engine, write_market(workdir / "candles", pairs, candles))
    engine.dispose()
    return database


class TreeSampler:
    """Every 0.1 s: the RSS of the driver and of the fork server, and each other descendant's
    private memory (its peak kept per pid)."""

    def __init__(self, driver: int) -> None:
        self.driver = driver
        self.server_rss: list[float] = []
        self.private_peak: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            tree = descendants(self.driver)
            for pid in tree:
                if _is_fork_server(pid):
                    rss = _status_mb(pid, "VmRSS:")
                    if rss is not None:
                        self.server_rss.append(rss)
                    continue
                private = _private_mb(pid)
                if private is not None:
                    self.private_peak[pid] = max(private, self.private_peak.get(pid, 0.0))


def _is_fork_server(pid: int) -> bool:
    """The server itself, not one of its children (which share its command line)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        parent_cmdline = Path(f"/proc/{parent}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"forkserver" in cmdline and b"forkserver" not in parent_cmdline


def _status_mb(pid: int, key: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        return None
    return None


def _private_mb(pid: int) -> float | None:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    kb = sum(int(line.split()[1]) for line in lines
             if line.startswith(("Private_Clean:", "Private_Dirty:")))
    return kb / 1024.0


def run_job(mode: str, workdir: Path, base_db: Path, workers: int, flags: list[str]) -> dict:
    database = workdir / f"{mode}.sqlite"
    shutil.copy(base_db, database)
    report = workdir / f"{mode}.json"
    argv = [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--skip-crawl",
            "--workers", str(workers), "--report", str(report), "--no-progress",
            "--db", f"sqlite:///{database}", "--artifacts", str(workdir / f"art-{mode}"),
            *flags, *(["--fresh-processes"] if mode == "fresh" else [])]
    env = dict(os.environ, COINLSTM_HOME=str(workdir / f"home-{mode}"))
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO, env=env)
    sampler = TreeSampler(process.pid)
    out, err = process.communicate()
    sampler.stop()
    wall = time.monotonic() - started
    if not report.exists():
        raise SystemExit(f"{mode}: job failed (exit {process.returncode}):\n{out[-3000:]}\n"
                         f"{err[-3000:]}")
    data = json.loads(report.read_text())
    data.update(bench_wall=wall, bench_out=out, sampler=sampler)
    return data


def describe(mode: str, data: dict, window: int) -> list[str]:
    pairs = sorted(data["pairs"], key=lambda p: p["symbol"])
    peaks = [p["peak_rss_mb"] for p in pairs if p.get("peak_rss_mb")]
    seconds = [p["seconds"] for p in pairs]
    sampler: TreeSampler = data["sampler"]
    server = sampler.server_rss
    private = list(sampler.private_peak.values())
    lines = [
        f"{mode:<6} pairs ok {data['totals']['ok']}/{data['totals']['pairs']}  wall "
        f"{data['bench_wall']:.1f} s  per-pair median {statistics.median(seconds):.2f} s  "
        f"driver peak RSS {data['driver_peak_rss_mb']:.0f} MB",
        f"       pair peak RSS (ru_maxrss): first {window} pairs mean "
        f"{statistics.mean(peaks[:window]):.0f} MB, last {window} "
        f"{statistics.mean(peaks[-window:]):.0f} MB, largest {max(peaks):.0f} MB",
        f"       pair private memory (sampled): largest {max(private):.0f} MB, median "
        f"{statistics.median(private):.0f} MB over {len(private)} processes"
        if private else "       pair private memory: no sample",
    ]
    if server:
        lines.append(f"       fork server RSS (sampled): largest {max(server):.0f} MB, last "
                     f"{server[-1]:.0f} MB ({len(server)} samples)")
    notes = [line for line in data["bench_out"].splitlines() if line.startswith("fork server")]
    lines += [f"       job: {line}" for line in notes]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--candles", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--window", type=int, default=5,
                        help="pairs averaged at the start and at the end (default 5)")
    parser.add_argument("--modes", default="fork,fresh", help="fork, fresh or both")
    args = parser.parse_args()
    flags = ["--epochs", str(args.epochs), "--val-size", "96", "--test-size", "24"]
    with tempfile.TemporaryDirectory(prefix="coinlstm-pool-") as tmp:
        workdir = Path(tmp)
        base_db = build_database(workdir, args.pairs, args.candles)
        print(f"SYNTHETIC market: {args.pairs} pairs x {args.candles} hourly candles, "
              f"{args.epochs} epochs, {args.workers} workers, {os.cpu_count()} cores", flush=True)
        for mode in args.modes.split(","):
            for line in describe(mode, run_job(mode, workdir, base_db, args.workers, flags),
                                 args.window):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
