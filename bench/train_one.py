"""Benchmark of one pair's whole training process, per Keras backend.

Set-up: one full real pair of ../shared/data/binance-1h (19,692 hourly candles) imported into
a temporary SQLite database; each measurement is a fresh ``python train_one.py ...`` process,
as the market job starts it. The JAX compilation cache lives in a temporary home shared by
the runs (its first run fills it, as the first pair of an hourly job does).

Prints, per configuration: whole-process wall time (median of the runs), training time (fit
only, from the process's result JSON), peak RSS of the child (wait4's ru_maxrss), model RMSE
and naive RMSE on the test slice, and the JAX/TensorFlow speed ratio. Figures are noisy on
a shared machine: compare the rows of one run, not runs of different days.

    .venv/bin/python bench/train_one.py                      # ADAETH, jax and tensorflow
    .venv/bin/python bench/train_one.py --pair LTCETH --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "binance-1h"
sys.path.insert(0, str(REPO))


def import_pair(db_url: str, csv_path: Path) -> int:
    """The pair's candles into the database, as the importer does; returns the coin id."""
    from coinlstm import db
    from coinlstm.core.klines import parse_kline, split_symbol

    engine = db.open_database(db_url)
    symbol = csv_path.stem
    base, quote = split_symbol(symbol)
    rows = [line.split(",") for line in csv_path.read_text().splitlines() if line]
    with db.transaction(engine) as conn:
        coin_id = db.ensure_coin(conn, symbol, base, quote)
        db.insert_candles(conn, [parse_kline(coin_id, fields) for fields in rows])
    engine.dispose()
    return coin_id


def run_once(home: Path, db_url: str, coin_id: int, symbol: str, backend: str,
             extra: list[str]) -> dict:
    """One fresh process; its wall time, peak RSS and result JSON."""
    result_path = home / "result.json"
    result_path.unlink(missing_ok=True)
    env = dict(os.environ, COINLSTM_HOME=str(home), KERAS_BACKEND=backend)
    argv = [sys.executable, str(REPO / "train_one.py"), "-id", str(coin_id), "-symbol", symbol,
            "--db", db_url, "--artifacts", str(home / "art"), "--backend", backend,
            "--result-json", str(result_path), *extra]
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env, cwd=str(REPO))
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{backend} run failed: {stderr.strip()}")
    result = json.loads(result_path.read_text())
    return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024.0, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="ADAETH")
    parser.add_argument("--runs", type=int, default=3, help="runs per backend (default 3)")
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument("--no-window-24", action="store_true", help="skip the window-24 runs")
    parser.add_argument("--only-window-24", action="store_true",
                        help="only the window-24 runs (they take minutes each)")
    args = parser.parse_args(argv)
    csv_path = SHARED / f"{args.pair}.csv"
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="coinlstm-bench-") as folder:
        home = Path(folder)
        db_url = f"sqlite:///{home / 'bench.sqlite'}"
        coin_id = import_pair(db_url, csv_path)
        print(f"{args.pair}: {csv_path} imported into a temporary SQLite database; reference "
              f"settings (window 1, 2x LSTM(64), 50 epochs max, batch 128, patience 30); "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
        reference = ["--target", "close"]
        configs = [] if args.only_window_24 else [
            (backend, reference, args.runs) for backend in backends]
        if not args.no_window_24:
            configs += [(backend, [*reference, "--window", "24"], 1) for backend in backends]
        if not args.only_window_24:
            # The tool's default forecaster (return target, shrinkage), default backend.
            configs.append((backends[0], ["--target", "return"], args.runs))
        header = ("backend", "flags", "runs", "wall s (median)", "fit s (median)",
                  "peak RSS MB", "epochs", "RMSE", "naive RMSE", "skill")
        print("  ".join(header))
        medians: dict[tuple[str, str], float] = {}
        for backend, extra, runs in configs:
            results = [run_once(home, db_url, coin_id, args.pair, backend, extra)
                       for _ in range(runs)]
            walls = [r["wall"] for r in results]
            flags = " ".join(extra).replace("--target close", "reference").strip()
            medians[(backend, flags)] = statistics.median(walls)
            last = results[-1]
            print(f"{backend:<10}  {flags:<21}  {runs}  {statistics.median(walls):7.1f} "
                  f"(runs {', '.join(f'{w:.1f}' for w in walls)})  "
                  f"{statistics.median(r['train_seconds'] for r in results):6.1f}  "
                  f"{max(r['peak_mb'] for r in results):7.0f}  {last['epochs_run']:3d}  "
                  f"{last['rmse']:.4g}  {last['naive_rmse']:.4g}  {last['skill']:+.3f}",
                  flush=True)
        for flags in ("reference", "reference --window 24"):
            if ("jax", flags) in medians and ("tensorflow", flags) in medians:
                ratio = medians[("tensorflow", flags)] / medians[("jax", flags)]
                print(f"{flags}: JAX whole process {ratio:.1f}x faster than TensorFlow")
        print(f"load {os.getloadavg()[0]:.2f} at end (2 cores shared with other engineers' "
              "tests: figures are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
