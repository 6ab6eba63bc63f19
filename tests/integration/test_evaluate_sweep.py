"""``coinlstm evaluate --sweep``: a study of a training option as one command.

Real parts only: the SYNTHETIC SYNTH1ETH candles of tests/synthetic.py in SQLite, the real
CLI in a fresh process, real Keras training (1 epoch) in the command's own task processes.
"""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers import fingerprint
from tests.trainkit import load_pair

ROWS = 700
FAST = ["--epochs", "1", "--val-size", "48", "--calibration-size", "0", "--units", "8",
        "--folds", "1", "--fold-size", "48", "--workers", "1"]


@pytest.mark.slow
def test_a_sweep_runs_every_value_and_summarises_skill_per_value(synthetic_candles,
                                                                 sqlite_url, tmp_path, cli):
    load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", ROWS)
    out = tmp_path / "out"
    done = cli("evaluate", "--db", sqlite_url, "--market", "ETH", "--only", "SYNTH1ETH",
               "--models", "naive,default", "--sweep", "bias_l1=0,0.01", "--out", str(out),
               *FAST)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skill per value of bias_l1" in done.stdout

    with (out / "cases.csv").open() as handle:
        cases = list(csv.DictReader(handle))
    assert "bias_l1" in cases[0] and "repeat" in cases[0]
    # The network once per value; naive, which no bias penalty changes, once without one.
    assert sorted((case["model"], case["bias_l1"]) for case in cases) == [
        ("default", "0.0"), ("default", "0.01"), ("naive", "")]
    by_value = {case["bias_l1"]: float(case["skill"]) for case in cases
                if case["model"] == "default"}

    summary = json.loads((out / "summary.json").read_text())
    assert summary["sweep"]["options"] == {"bias_l1": [0.0, 0.01]}
    rows = summary["sweep"]["per_value"]["bias_l1"]
    assert [(row["value"], row["model"], row["count"]) for row in rows] == [
        (0.0, "default", 1), (0.01, "default", 1)]
    for row in rows:  # one case per value: every statistic is its skill, std undefined
        skill = by_value[str(row["value"])]
        assert row["mean"] == pytest.approx(skill) and row["50%"] == pytest.approx(skill)
        assert row["min"] == row["max"] == pytest.approx(skill) and row["std"] is None
    assert (out / "sweep-bias_l1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The tasks' logs are one per (model, value): none overwrote another.
    assert {path.name for path in (out / "logs").glob("*.log")} >= {
        "SYNTH1ETH-default-0-bias_l1=0.0.log", "SYNTH1ETH-default-0-bias_l1=0.01.log"}


@pytest.mark.parametrize(("sweep", "words"), [
    ("nope=1,2", "unknown training option 'nope'"),
    ("bias_l1=0,x", "--bias-l1: invalid value 'x'"),
    ("bias_l1=-1", "--bias-l1 must be a finite number, 0 or more, got -1.0"),
    ("layers=2,5", "--layers must be between 1 and 4, got 5"),
    ("bias_l1", "expected NAME=V1,V2,..."),
    ("interval=1h,4h", "one evaluate run holds it fixed"),
    ("bias_l1=0,0.1 --schedule full,warm", "--sweep runs one schedule at a time"),
])
def test_a_bad_sweep_is_one_line_exit_2_and_writes_nothing(synthetic_candles, sqlite_url,
                                                           tmp_path, capsys, sweep, words):
    from coinlstm.app.cli import main

    load_pair(sqlite_url, synthetic_candles / "SYNTH1ETH.csv", 300)
    before = fingerprint(sqlite_url)
    out = tmp_path / "out"
    capsys.readouterr()
    sweep, *more = sweep.split()
    code = main(["evaluate", "--db", sqlite_url, "--market", "ETH", "--sweep", sweep,
                 "--out", str(out), *more])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coinlstm evaluate: error: "), err
    assert words in lines[0]
    assert fingerprint(sqlite_url) == before and not out.exists()
