"""Benchmark of a warm pair forked from the fork server: its CPU, wall, and JAX compiles, for
one or more checkouts side by side.

Set-up per checkout (in ``WORK/<n>``, once): real pairs of ../shared/data/binance-1h but their
newest candle imported into SQLite, each fitted in full (``python -m coinlstm train``, which
also fills the checkout's JAX compile cache under its own COINLSTM_HOME), then the newest
candle inserted and the artifacts kept as they are. Then, per round, a real ``ForkServer``
(coinlstm/app/runtime/executors/forkclient.py) of that checkout forks one child per pair running
``coinlstm train`` as the market job does: a warm fine-tune of the saved model (the artifacts
are restored before each, so every round does the same work). The child measures itself:
CPU (getrusage: user + system), JAX's compile requests and persistent-cache hits and misses
(``jax.monitoring``) and the functions JAX compiled (``jax_log_compiles``); the driver times
the fork to exit (wall).

The checkouts run alternately (``--iterations`` times ``--rounds`` rounds each), each with
its own code on PYTHONPATH, so they share the machine's load; the first round of each is a
warm-up (it may miss the compile cache) and is not counted. Prints per checkout the CPU and
wall p50 and p95 per pair, the compiles per child, and the CPU difference of each later
checkout from the first, paired by round and pair; ``uptime`` before and after.

    .venv/bin/python bench/warm_child.py /tmp/wc --trees /work/main,/work/wt-x --iterations 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance-1h"
#: What the forked child runs (``python -c``): ``coinlstm train`` with its own measures.
CHILD_CODE = r'''
import json, resource, runpy, sys, time
import jax
from jax import monitoring
counts = {}
def count(name, **_):
    counts[name] = counts.get(name, 0) + 1
monitoring.register_event_listener(count)
jax.config.update("jax_log_compiles", True)
started = time.perf_counter()
out = sys.argv[1]
sys.argv = ["coinlstm", *sys.argv[2:]]
try:
    runpy.run_module("coinlstm", run_name="__main__", alter_sys=True)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(out, "w") as file:
        json.dump({"cpu": usage.ru_utime + usage.ru_stime, "events": counts}, file)
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="working folder (one subfolder per checkout)")
    parser.add_argument("--trees", default=str(Path(__file__).resolve().parents[1]),
                        help="comma-separated checkouts, the first the baseline")
    parser.add_argument("--pairs", default="XRPETH,LTCETH,ADAETH")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per checkout turn")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _rounds(args.work, args.pairs.split(","), args.rounds)
    trees = [Path(tree).resolve() for tree in args.trees.split(",")]
    lines: dict[int, list[dict]] = {n: [] for n in range(len(trees))}
    print(_uptime(), flush=True)
    for iteration in range(args.iterations + 1):  # the first: set-up and warm-up
        for n, tree in enumerate(trees):
            completed = subprocess.run(
                [sys.executable, __file__, str(args.work / str(n)), "--pairs", args.pairs,
                 "--rounds", str(args.rounds if iteration else 1), "--child"],
                cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                text=True, check=True)
            if iteration:
                lines[n] += [json.loads(line) for line in completed.stdout.splitlines()
                             if line.startswith("{")]
        print(_uptime(), flush=True)
    _summary(trees, lines)
    return 0


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _fork_server(env: dict, log: Path):
    """The checkout's fork server, told what a pair's process runs where it takes that."""
    try:
        from coinlstm.app.commands.train import PairTrainTask
        from coinlstm.app.runtime.executors.forkclient import ForkServer
    except ImportError:  # a checkout from before coinlstm/app was split by job
        from coinlstm.app.runtime.executors.forkclient import ForkServer

        return ForkServer("jax", env, log)
    return ForkServer("jax", env, log, (PairTrainTask.__module__,))


def _rounds(work: Path, pairs: list[str], rounds: int) -> int:
    """In a checkout (PYTHONPATH): set up once, then fork ``rounds`` warm children per pair."""
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'db.sqlite'}"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ["PYTHONPATH"],
           "HOME": os.environ.get("HOME", "/tmp"), "COINLSTM_HOME": str(work / "home"),
           "KERAS_BACKEND": "jax", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    ids_file = work / "ids.json"
    if not ids_file.exists():
        _set_up(work, url, env, pairs)
    ids = json.loads(ids_file.read_text())
    server = _fork_server(env, work / "fork-server.log")
    try:
        for _ in range(rounds):
            for symbol in pairs:
                print(json.dumps(_warm_child(server, work, url, env, symbol, ids[symbol])),
                      flush=True)
    finally:
        server.close()
    return 0


def _set_up(work: Path, url: str, env: dict, pairs: list[str]) -> None:
    """Every pair but its newest candle, a full fit, then the newest candle."""
    from coinlstm import db
    from coinlstm.core.klines import parse_kline
    from tests.helpers import read_csv_rows
    from tests.trainkit import load_pair

    ids = {}
    for symbol in pairs:
        rows = read_csv_rows(SHARED / f"{symbol}.csv")
        ids[symbol], _ = load_pair(url, SHARED / f"{symbol}.csv", len(rows) - 1)
        subprocess.run([sys.executable, "-m", "coinlstm", "train", "-id", str(ids[symbol]),
                        "-symbol", symbol, "--db", url, "--artifacts", str(work / "art"),
                        "--backend", "jax"], env=env, check=True, capture_output=True)
        engine = db.open_database(url)
        try:
            with db.transaction(engine) as conn:
                db.insert_candles(conn, [parse_kline(ids[symbol], rows[-1])])
        finally:
            engine.dispose()
    shutil.copytree(work / "art", work / "art-full")
    (work / "ids.json").write_text(json.dumps(ids))


def _warm_child(server, work: Path, url: str, env: dict, symbol: str, coin_id: int) -> dict:
    """One forked warm run of ``symbol`` from the full fit's artifacts: what it measured."""
    shutil.rmtree(work / "art")
    shutil.copytree(work / "art-full", work / "art")
    measured, result, log = (work / f"{symbol}.{kind}" for kind in ("cpu.json", "json", "log"))
    log.write_text("")
    argv = [sys.executable, "-c", CHILD_CODE, str(measured), "train", "-id", str(coin_id),
            "-symbol", symbol, "--db", url, "--artifacts", str(work / "art"),
            "--backend", "jax", "--result-json", str(result)]
    started = time.perf_counter()
    status, _ = server.start(argv, env, log).wait()
    wall = time.perf_counter() - started
    child = json.loads(measured.read_text())
    compiled = [line.split("Compiling ", 1)[1].split(" ", 1)[0]
                for line in log.read_text().splitlines() if "Compiling " in line]
    events = {name.rsplit("/", 1)[-1]: count for name, count in child["events"].items()
              if "compilation_cache" in name}
    return {"pair": symbol, "status": status, "fit": json.loads(result.read_text())["fit"],
            "cpu": child["cpu"], "wall": wall, "compiles": len(compiled),
            "steps": sorted(name for name in compiled if name.endswith("_step)")),
            "cache_hits": events.get("cache_hits", 0),
            "cache_misses": events.get("cache_misses", 0)}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _summary(trees: list[Path], lines: dict[int, list[dict]]) -> None:
    for n, tree in enumerate(trees):
        rows = lines[n]
        cpu, wall = [r["cpu"] for r in rows], [r["wall"] for r in rows]
        fits = sorted({r["fit"] for r in rows})
        print(f"{tree}: {len(rows)} children ({', '.join(fits)}), CPU p50 "
              f"{statistics.median(cpu):.3f} s p95 {_p95(cpu):.3f} s, wall p50 "
              f"{statistics.median(wall):.3f} s p95 {_p95(wall):.3f} s; compiles per child "
              f"{sorted({r['compiles'] for r in rows})} (steps "
              f"{sorted({len(r['steps']) for r in rows})}), cache misses "
              f"{sum(r['cache_misses'] for r in rows)}")
        if n:
            diffs = [b["cpu"] - a["cpu"] for a, b in zip(lines[0], rows, strict=True)]
            print(f"  CPU minus {trees[0].name}'s, paired: median {statistics.median(diffs):+.3f}"
                  f" s, mean {statistics.mean(diffs):+.3f} s, lower in "
                  f"{sum(d < 0 for d in diffs)} of {len(diffs)}")


if __name__ == "__main__":
    sys.exit(main())
