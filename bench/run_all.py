"""Benchmark of the hourly market job on the 9 real ETH pairs of ../shared/data/binance-1h.

Set-up, as an hourly run finds it: the database holds every candle but the newest
``--fresh`` ones per pair; the replay server (loopback) serves all of them with its clock
just after the last close, so the job's crawl fetches the newest candles, then trains every
pair at the reference settings. Each configuration starts from a copy of that database.

Prints, per configuration: wall time of the whole job (crawl included), per-pair median
seconds, peak RSS of the driver and of the largest child, and the pairs' skill. Also the
driver's peak RSS for a 1-pair run, to show the driver's memory does not grow with pairs.
With the subprocess executor each worker count runs twice, side by side: the pairs forked
from the fork server (the default) and fresh processes (``--fresh-processes``), followed by
a per-pair table of both.

    .venv/bin/python bench/run_all.py                       # workers 1 and 2, fork and fresh
    .venv/bin/python bench/run_all.py --workers 2 --processes fork
    .venv/bin/python bench/run_all.py --executor ray --workers 2
    .venv/bin/python bench/run_all.py --warm --workers 2 --target return

Every configuration has an artifacts folder of its own, so each trains its pairs from scratch
(a saved model of the same settings would make a run warm: docs/training.md#warm-start).
``--warm``: instead, the hourly schedule of the market, two runs on one artifacts folder: the
replay server's clock one hour before the newest candle closes (the job crawls all but it and
fits every pair from scratch), then an hour later (the job crawls the newest candle and
fine-tunes every pair's saved model); both runs' figures and each pair's fit side by side.
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
# bench/ is sys.path[0] when this runs, and bench/crawl.py would shadow the crawl package.
sys.path.insert(0, str(REPO))
PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "LINKETH", "LTCETH", "NEOETH", "TRXETH",
         "XRPETH")
HOUR_MS = 3_600_000


def prepare(workdir: Path, fresh: int) -> tuple[Path, Path, int]:
    """The replay folder (all candles) and a database with all but the newest ``fresh``."""
    from coinlstm import db
    from crawl.vision import import_paths

    serve_dir = workdir / "serve"
    history_dir = workdir / "history"
    serve_dir.mkdir()
    history_dir.mkdir()
    last_open = 0
    for symbol in PAIRS:
        lines = (SHARED / f"{symbol}.csv").read_text().splitlines()
        (serve_dir / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
        (history_dir / f"{symbol}.csv").write_text("\n".join(lines[:-fresh]) + "\n")
        last_open = max(last_open, int(lines[-1].split(",")[0]))
    database = workdir / "base.sqlite"
    engine = db.open_database(f"sqlite:///{database}")
    import_paths(engine, sorted(history_dir.glob("*.csv")))
    with db.transaction(engine) as conn:  # as the crawler would have registered them
        for symbol in PAIRS:
            db.ensure_coin(conn, symbol, symbol[:-3], "ETH", status="TRADING")
    engine.dispose()
    return serve_dir, database, last_open + HOUR_MS + 10 * 60_000


def run_job(label: str, workdir: Path, base_db: Path, server_url: str, executor: str,
            workers: int, extra: list[str], database: Path | None = None,
            artifacts: Path | None = None) -> dict:
    """One job on a copy of ``base_db`` (or on ``database`` as it is) with artifacts of its
    own (or ``artifacts``)."""
    if database is None:
        database = workdir / f"{label}.sqlite"
        shutil.copy(base_db, database)
    report = workdir / f"{label}.json"
    argv = [sys.executable, str(REPO / "run_all.py"), "--market", "ETH", "--workers",
            str(workers), "--executor", executor, "--report", str(report), "--no-progress",
            "--db", f"sqlite:///{database}", "--binance-url", server_url,
            "--artifacts", str(artifacts or workdir / f"artifacts-{label}"), *extra]
    started = time.monotonic()
    completed = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - started
    if not report.exists():
        raise SystemExit(f"{label}: job failed (exit {completed.returncode}):\n"
                         f"{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
    data = json.loads(report.read_text())
    data["bench_wall_seconds"] = wall
    data["bench_exit_code"] = completed.returncode
    data["bench_notes"] = [line for line in completed.stdout.splitlines()
                           if line.startswith("fork server")]
    return data


def describe(label: str, data: dict) -> str:
    pairs = data["pairs"]
    seconds = [p["seconds"] for p in pairs]
    child_peak = max((p.get("peak_rss_mb") or 0.0) for p in pairs)
    skills = [p["result"].get("skill") for p in pairs if p["status"] == "ok"]
    crawl = data.get("crawl") or {}
    added = crawl.get("candles_added")
    added_total = sum(added.values()) if isinstance(added, dict) else added
    return (f"{label:<24} exit {data['bench_exit_code']}  pairs ok {data['totals']['ok']}/"
            f"{data['totals']['pairs']}  wall {data['bench_wall_seconds']:.1f} s  "
            f"(job {data['wall_seconds']:.1f} s)  per-pair median {statistics.median(seconds):.2f}"
            f" s, p95 {_p95(seconds):.2f} s  driver peak {data['driver_peak_rss_mb']:.0f} MB  "
            f"largest child "
            f"{child_peak:.0f} MB  crawled {added_total} candles  median skill "
            f"{statistics.median(skills) if skills else float('nan'):+.3f}"
            + "".join(f"\n{'':<26}{line}" for line in data.get("bench_notes", [])))


def _p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def warm_hours(workdir: Path, base_db: Path, serve_dir: Path, now_ms: int, executor: str,
               workers: int, flags: list[str]) -> None:
    """The ``--warm`` measurement (module doc)."""
    from crawl.replay import ReplayServer

    database = workdir / f"hours-w{workers}.sqlite"
    artifacts = workdir / f"artifacts-hours-w{workers}"
    shutil.copy(base_db, database)
    runs = {}
    for label, now in (("hour 1 (full)", now_ms - HOUR_MS), ("hour 2 (warm)", now_ms)):
        with ReplayServer(serve_dir, now=now) as server:
            runs[label] = run_job(f"w{workers}h{label.split()[1]}", workdir, base_db,
                                  server.url, executor, workers, flags, database=database,
                                  artifacts=artifacts)
        print(describe(f"{executor} workers={workers} {label}", runs[label]), flush=True)
    rows = [["pair", "hour 1 fit", "s", "fit s", "hour 2 fit", "s", "fit s"]]
    second = {p["symbol"]: p for p in runs["hour 2 (warm)"]["pairs"]}
    for pair in sorted(runs["hour 1 (full)"]["pairs"], key=lambda p: p["symbol"]):
        other = second[pair["symbol"]]
        rows.append([pair["symbol"], *_fit_cells(pair), *_fit_cells(other)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print("\n".join("  ".join(cell.rjust(width) if i else cell.ljust(width)
                              for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                    for row in rows))
    full, warm = (runs[label]["wall_seconds"] for label in runs)
    print(f"job wall (crawl included): full {full:.1f} s, warm {warm:.1f} s ({full / warm:.1f}x)")


def _fit_cells(pair: dict) -> list[str]:
    result = pair.get("result") or {}
    return [str(result.get("fit")), f"{pair['seconds']:.1f}",
            f"{result.get('train_seconds') or float('nan'):.2f}"]


def side_by_side(fork: dict, fresh: dict) -> str:
    """Per pair: seconds (start of its process to its end, as the driver measured) and peak
    RSS, forked and fresh."""
    rows = [["pair", "forked s", "fresh s", "forked peak MB", "fresh peak MB"]]
    fresh_pairs = {p["symbol"]: p for p in fresh["pairs"]}
    for pair in sorted(fork["pairs"], key=lambda p: p["symbol"]):
        other = fresh_pairs.get(pair["symbol"], {})
        rows.append([pair["symbol"], f"{pair['seconds']:.1f}",
                     f"{other.get('seconds', float('nan')):.1f}",
                     f"{pair.get('peak_rss_mb') or 0:.0f}",
                     f"{other.get('peak_rss_mb') or 0:.0f}"])
    medians = [statistics.median(p["seconds"] for p in data["pairs"]) for data in (fork, fresh)]
    rows.append(["median", f"{medians[0]:.1f}", f"{medians[1]:.1f}", "", ""])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(width) if i else cell.ljust(width)
                               for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executor", default="subprocess", choices=("subprocess", "ray"))
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--fresh", type=int, default=24,
                        help="newest candles per pair left for the job's crawl")
    parser.add_argument("--skip-single", action="store_true",
                        help="skip the 1-pair run (driver memory comparison)")
    parser.add_argument("--processes", default="fork,fresh",
                        help="subprocess executor: fork (children of the fork server), fresh "
                             "(--fresh-processes) or both, side by side (default)")
    parser.add_argument("--target", default="close", choices=("close", "return"),
                        help="close (default): the tutorial's reference model, as the "
                             "targets are stated; return: the tool's default forecaster")
    parser.add_argument("--warm", action="store_true",
                        help="a full hour then a warm hour on one artifacts folder (module doc)")
    parser.add_argument("train_flags", nargs="*", help="extra flags for the job, after --")
    args = parser.parse_args()
    args.train_flags = ["--target", args.target, *args.train_flags]
    if not (SHARED / "ADAETH.csv").is_file():
        raise SystemExit(f"needs the real candles in {SHARED}")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from crawl.replay import ReplayServer

    with tempfile.TemporaryDirectory(prefix="coinlstm-bench-") as tmp:
        workdir = Path(tmp)
        serve_dir, base_db, now_ms = prepare(workdir, args.fresh)
        print(f"9 real ETH pairs, {args.fresh} newest candles per pair left to crawl; "
              f"--target {args.target}; executor {args.executor}; {os.cpu_count()} cores")
        if args.warm:
            for workers in [int(w) for w in args.workers.split(",")]:
                warm_hours(workdir, base_db, serve_dir, now_ms, args.executor, workers,
                           args.train_flags)
            return 0
        results = {}
        with ReplayServer(serve_dir, now=now_ms) as server:
            modes = args.processes.split(",") if args.executor == "subprocess" else ["-"]
            for workers in [int(w) for w in args.workers.split(",")]:
                for mode in modes:
                    label = f"{args.executor} workers={workers}" + (
                        f" {mode}" if mode != "-" else "")
                    fresh_flag = ["--fresh-processes"] if mode == "fresh" else []
                    results[label] = run_job(f"w{workers}{mode}", workdir, base_db,
                                             server.url, args.executor, workers,
                                             [*args.train_flags, *fresh_flag])
                    print(describe(label, results[label]), flush=True)
                if modes == ["fork", "fresh"]:
                    print(side_by_side(results[f"{args.executor} workers={workers} fork"],
                                       results[f"{args.executor} workers={workers} fresh"]),
                          flush=True)
            if not args.skip_single:
                single = run_job("single", workdir, base_db, server.url, args.executor, 1,
                                 ["--only", "ADAETH", *args.train_flags])
                print(describe(f"{args.executor} 1 pair", single))
                many = max(results.values(), key=lambda d: d["totals"]["pairs"])
                ratio = many["driver_peak_rss_mb"] / single["driver_peak_rss_mb"]
                print(f"driver peak RSS, 9 pairs / 1 pair: {ratio:.3f} "
                      f"({many['driver_peak_rss_mb']:.0f} MB vs "
                      f"{single['driver_peak_rss_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
