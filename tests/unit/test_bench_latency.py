"""bench/latency.py's arithmetic and its market builder: the FLOP count of a training step,
the percentiles, the tutorial's extrapolation by pair length, and the built market's database
and served files. (The figures themselves are measured by running the bench, never here.)"""

from __future__ import annotations

import random
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # last: bench/crawl.py must not shadow the crawl package

import latency  # noqa: E402
import latency_markets as markets  # noqa: E402
from train_flops import step_flops  # noqa: E402


def test_a_training_step_counts_three_times_the_gate_matmuls():
    # layer 1 [128, 8 + 64] @ [72, 256], layer 2 [128, 128] @ [128, 256], Dense [128, 64] @ [64, 1]
    forward = 2 * 128 * 72 * 256 + 2 * 128 * 128 * 256 + 2 * 128 * 64
    assert step_flops(128, 1, 8, 64) == 3 * forward == 39_370_752
    # a window of 24 runs both LSTM layers' gates 24 times, the Dense layer once
    assert step_flops(128, 24, 8, 64) == 3 * (24 * (forward - 2 * 128 * 64) + 2 * 128 * 64)


def test_percentiles_are_numpys_linear_ones():
    rng = random.Random(3)
    for size in (1, 2, 7, 30):
        values = [rng.uniform(1, 20) for _ in range(size)]
        for q in (50, 95):
            assert latency.percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert latency.percentile([], 50) is None


def test_unmeasured_pairs_are_estimated_from_pairs_of_their_length():
    samples = {19_692: [18.0, 20.0], 8_400: [11.0]}
    assert latency.estimate_seconds(samples, 19_692) == 19.0
    # between the measured lengths: on the line through them
    assert latency.estimate_seconds(samples, 14_046) == pytest.approx(15.0)
    assert latency.estimate_seconds({8_760: [10.0, 12.0]}, 19_692) == 11.0


def test_the_tutorial_sample_takes_every_pair_length_in_turn():
    pairs = tuple([markets.Pair(f"R{n}ETH", 19_692, False) for n in range(9)]
                  + [markets.Pair(f"SYN{n:02d}ETH", 8_400, True) for n in range(21)])
    sample = latency.sample_pairs(pairs, 3)
    assert [pair.symbol for pair in sample] == ["R0ETH", "SYN00ETH", "R1ETH"]
    assert len(latency.sample_pairs(pairs[:2], 5)) == 2


def test_the_cold_path_forces_full_refits_and_fresh_processes_where_the_job_can():
    cold, env, warm, notes = latency.path_flags(
        "  --refit-every N  full refit every N hours\n  --fresh-processes  no fork server")
    assert cold == ["--refit-every", "0", "--fresh-processes"] and warm == [] and not notes
    assert env == {"COINLSTM_FORK_SERVER": "0"}
    cold, _, _, notes = latency.path_flags("  --workers WORKERS")
    assert cold == [] and len(notes) == 2


def test_a_built_market_holds_all_but_the_newest_candles_and_serves_the_tail(tmp_path):
    pairs = [markets.Pair("SYN01ETH", 60, True), markets.Pair("SYN02ETH", 40, True)]
    market = markets.build("tiny", pairs, tmp_path / "tiny")
    assert market.describe().startswith("tiny: 2 pairs (2 SYNTHETIC pairs")
    with sqlite3.connect(market.base_db) as conn:
        rows = dict(conn.execute(
            "SELECT c.symbol, COUNT(*) FROM candlestick_data d JOIN coin_info c "
            "ON c.id = d.idCoin GROUP BY c.symbol").fetchall())
        newest = conn.execute("SELECT MAX(openTime) FROM candlestick_data").fetchone()[0]
        statuses = {s for (s,) in conn.execute("SELECT status FROM coin_info")}
    assert rows == {"SYN01ETH": 60 - markets.FRESH, "SYN02ETH": 40 - markets.FRESH}
    assert newest == markets.LAST_OPEN_MS - markets.FRESH * markets.HOUR_MS
    assert statuses == {"TRADING"}
    served = (market.serve_dir / "SYN01ETH.csv").read_text().splitlines()
    assert len(served) == min(60, markets.SERVE_TAIL)
    assert int(served[-1].split(",")[0]) == markets.LAST_OPEN_MS
    # the same spec again: the kept build is reused, not rebuilt
    stamp = market.base_db.stat().st_mtime_ns
    again = markets.build("tiny", pairs, tmp_path / "tiny")
    assert again.pairs == market.pairs and market.base_db.stat().st_mtime_ns == stamp
