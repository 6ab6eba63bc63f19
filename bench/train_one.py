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
    .venv/bin/python bench/train_one.py --warm --hours 6      # warm start vs full, default flags

``--warm``: the hourly schedule of one pair on its default settings (JAX). The pair's candles
but the newest ``--hours`` are imported and trained once from scratch (the full fit a warm run
continues; it also fills the compile cache, as the previous hour's run did). Then, hour by
hour, the next candle is inserted and the pair is trained twice: as the hourly job does
(warm: the saved model fine-tuned) and with ``--cold`` (a full fit from scratch, in its own
artifacts folder so the warm chain is left alone). Prints per kind the whole process
(median over the hours), the fit, peak RSS, epochs, and the test slice's skill beside naive.
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


def import_pair(db_url: str, csv_path: Path, rows: list[list[str]] | None = None) -> int:
    """The pair's candles (or ``rows`` of them) into the database, as the importer does;
    returns the coin id."""
    from coinlstm import db
    from coinlstm.core.klines import parse_kline, split_symbol

    engine = db.open_database(db_url)
    symbol = csv_path.stem
    base, quote = split_symbol(symbol)
    if rows is None:
        rows = read_rows(csv_path)
    with db.transaction(engine) as conn:
        coin_id = db.ensure_coin(conn, symbol, base, quote)
        db.insert_candles(conn, [parse_kline(coin_id, fields) for fields in rows])
    engine.dispose()
    return coin_id


def read_rows(csv_path: Path) -> list[list[str]]:
    return [line.split(",") for line in csv_path.read_text().splitlines() if line]


def run_once(home: Path, db_url: str, coin_id: int, symbol: str, backend: str,
             extra: list[str], artifacts: str = "art") -> dict:
    """One fresh process; its wall time, peak RSS and result JSON."""
    result_path = home / "result.json"
    result_path.unlink(missing_ok=True)
    env = dict(os.environ, COINLSTM_HOME=str(home), KERAS_BACKEND=backend)
    argv = [sys.executable, str(REPO / "train_one.py"), "-id", str(coin_id), "-symbol", symbol,
            "--db", db_url, "--artifacts", str(home / artifacts), "--backend", backend,
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


def warm_comparison(pair: str, hours: int) -> None:
    """The ``--warm`` measurement (module doc)."""
    from coinlstm import db
    from coinlstm.core.klines import parse_kline

    csv_path = SHARED / f"{pair}.csv"
    rows = read_rows(csv_path)
    with tempfile.TemporaryDirectory(prefix="coinlstm-bench-") as folder:
        home = Path(folder)
        db_url = f"sqlite:///{home / 'bench.sqlite'}"
        coin_id = import_pair(db_url, csv_path, rows[:-hours])
        print(f"{pair}: {len(rows) - hours} of {len(rows)} candles imported into a temporary "
              f"SQLite database; default settings on jax; {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.2f} at start")
        first = run_once(home, db_url, coin_id, pair, "jax", [])
        print(f"hour 0: full fit {first['wall']:.1f} s (fit {first['train_seconds']:.1f} s, "
              f"{first['epochs_run']} epochs): the model the warm runs continue")
        runs: dict[str, list[dict]] = {"warm": [], "full": []}
        engine = db.open_database(db_url)
        for hour in range(1, hours + 1):
            with db.transaction(engine) as conn:
                db.insert_candles(conn, [parse_kline(coin_id, rows[len(rows) - hours + hour - 1])])
            warm = run_once(home, db_url, coin_id, pair, "jax", [])
            cold = run_once(home, db_url, coin_id, pair, "jax", ["--cold"], artifacts="cold")
            runs["warm"].append(warm)
            runs["full"].append(cold)
            print(f"hour {hour}: {warm['fit']} {warm['wall']:.1f} s (fit "
                  f"{warm['train_seconds']:.2f} s, {warm['epochs_run']} epochs, skill "
                  f"{warm['skill']:+.4f}); {cold['fit']} {cold['wall']:.1f} s (fit "
                  f"{cold['train_seconds']:.2f} s, {cold['epochs_run']} epochs, skill "
                  f"{cold['skill']:+.4f})", flush=True)
        engine.dispose()
        header = ("fit", "runs", "wall s (median)", "fit s (median)", "peak RSS MB",
                  "epochs (median)", "skill (median)", "a (median)")
        print("  ".join(header))
        for kind, results in runs.items():
            assert all(r["fit"] == kind for r in results), [r["fit_reason"] for r in results]
            shrink = [r["shrinkage"] for r in results if r["shrinkage"] is not None]
            walls = ", ".join(f"{r['wall']:.1f}" for r in results)
            print(f"{kind:<4}  {len(results)}  "
                  f"{statistics.median(r['wall'] for r in results):6.2f} (runs {walls})  "
                  f"{statistics.median(r['train_seconds'] for r in results):6.2f}  "
                  f"{max(r['peak_mb'] for r in results):5.0f}  "
                  f"{statistics.median(r['epochs_run'] for r in results):4.0f}  "
                  f"{statistics.median(r['skill'] for r in results):+.4f}  "
                  f"{statistics.median(shrink) if shrink else float('nan'):.3f}")
        wall = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
        fit = {k: statistics.median(r["train_seconds"] for r in v) for k, v in runs.items()}
        print(f"warm vs full: whole process {wall['full'] / wall['warm']:.1f}x faster, fit "
              f"{fit['full'] / fit['warm']:.1f}x faster; skill is each run's 48-hour test "
              "slice beside the naive forecast (1 - RMSE / naive RMSE)")
        print(f"load {os.getloadavg()[0]:.2f} at end (2 cores shared: figures are noisy)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="ADAETH")
    parser.add_argument("--runs", type=int, default=3, help="runs per backend (default 3)")
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument("--no-window-24", action="store_true", help="skip the window-24 runs")
    parser.add_argument("--only-window-24", action="store_true",
                        help="only the window-24 runs (they take minutes each)")
    parser.add_argument("--warm", action="store_true",
                        help="warm start vs full fit, hour by hour (module doc)")
    parser.add_argument("--hours", type=int, default=5,
                        help="hours of the --warm comparison (default 5)")
    args = parser.parse_args(argv)
    if args.warm:
        warm_comparison(args.pair, args.hours)
        return 0
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
