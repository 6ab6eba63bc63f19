"""Every bad input of ``coinlstm train``: its exit code, one clear line, nothing changed.

Each case runs the real CLI against a real database (SQLite and MySQL) holding SYNTHETIC SYNTH1ETH
candles and an artifacts folder holding a previous model's files; afterwards the database's
row counts and every artifact byte must be as they were.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import fingerprint
from tests.trainkit import folder_snapshot, load_pair

ROWS = 300


def _nan_in_ignore(rows: list[list[str]]) -> None:
    rows[150][11] = "NaN"


def _gap_before_newest(rows: list[list[str]]) -> None:
    del rows[-2]  # the newest 3 candles are no longer consecutive hours


#: name -> (edit of the stored candles, flags, exit code, words the error line must hold)
CASES = {
    "unknown id": (None, ["-id", "999", "-symbol", "SYNTH1ETH"], 2, "no coin with id 999"),
    "id and symbol disagree": (None, ["-id", "{id}", "-symbol", "SYNTH3ETH"], 2,
                               "is SYNTH1ETH, not SYNTH3ETH"),
    "symbol with a slash": (None, ["-id", "{id}", "-symbol", "ADA/ETH"], 2, "invalid symbol"),
    "symbol with dots": (None, ["-id", "{id}", "-symbol", "..SYNTH1ETH"], 2, "invalid symbol"),
    "too few candles": (None, ["-id", "{id}", "-symbol", "SYNTH1ETH", "--test-size", "250"], 2,
                        f"has {ROWS} candles, needs at least 324"),
    "NaN in the data": (_nan_in_ignore, ["-id", "{id}", "-symbol", "SYNTH1ETH"], 2,
                        "no finite ignore"),
    "gap in the newest window": (_gap_before_newest,
                                 ["-id", "{id}", "-symbol", "SYNTH1ETH", "--window", "3"], 2,
                                 "newest candles have a gap"),
    "torch not installed": (None, ["-id", "{id}", "-symbol", "SYNTH1ETH", "--backend", "torch"],
                            2, "pip install -e '.[torch]'"),
    "zero epochs": (None, ["-id", "{id}", "-symbol", "SYNTH1ETH", "--epochs", "0"], 2,
                    "--epochs must be at least 1"),
    "history shorter than needed": (None, ["-id", "{id}", "-symbol", "SYNTH1ETH", "--history",
                                           "50"], 2, "--history 50 is too short"),
}


#: Hides torch from a child process whether or not it is installed (the Makefile installs it):
#: importlib.util.find_spec answers None for a module whose sys.modules entry is None.
_HIDE_TORCH = "import sys\nsys.modules['torch'] = None\n"


def _env_for(case: str, tmp_path) -> dict[str, str] | None:
    if case != "torch not installed":
        return None
    hide = tmp_path / "hide-torch"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(_HIDE_TORCH)
    return {"PYTHONPATH": str(hide)}


def _previous_model(art) -> None:
    """The files a previous run left: they must survive every failed run byte for byte."""
    for relative, content in (("weights/weight_SYNTH1ETH.weights.h5", b"previous weights"),
                              ("weights/scaler_SYNTH1ETH.json", b"{}"),
                              ("models/model_SYNTH1ETH.json", b"{}"),
                              ("plots/SYNTH1ETH.png", b"png")):
        (art / relative).parent.mkdir(parents=True, exist_ok=True)
        (art / relative).write_bytes(content)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_with_one_line_and_changes_nothing(synthetic_candles, db_url, tmp_path,
                                                           case, cli):
    edit, flags, exit_code, words = CASES[case]
    coin_id, _ = load_pair(db_url, synthetic_candles / "SYNTH1ETH.csv", ROWS, tail=True, edit=edit)
    art = tmp_path / "art"
    _previous_model(art)
    files_before, rows_before = folder_snapshot(art), fingerprint(db_url)
    result_path = tmp_path / "result.json"
    done = cli("train", *[f.format(id=coin_id) for f in flags], "--db", db_url,
                   "--artifacts", str(art), "--result-json", str(result_path),
                   env=_env_for(case, tmp_path))
    assert done.returncode == exit_code, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert lines[0].startswith("coinlstm train: error: ")
    assert folder_snapshot(art) == files_before
    assert fingerprint(db_url) == rows_before
    result = json.loads(result_path.read_text())
    assert (result["status"], result["exit_code"], result["predicted_close"]) == (
        "failed", exit_code, None)
    assert words in result["error"]


def test_usage_errors_exit_2(tmp_path, cli):
    missing = cli("train", "-id", "1", "--artifacts", str(tmp_path / "art"))
    assert missing.returncode == 2
    assert "the following arguments are required: -symbol" in missing.stderr
    not_a_number = cli("train", "-id", "one", "-symbol", "SYNTH1ETH")
    assert not_a_number.returncode == 2 and "invalid int value" in not_a_number.stderr
    assert not (tmp_path / "art").exists()


def test_unreachable_database_exits_1(tmp_path, cli):
    art = tmp_path / "art"
    done = cli("train", "-id", "1", "-symbol", "SYNTH1ETH", "--db",
                   "mysql+mysqlconnector://root@127.0.0.1:9/coinlstm", "--artifacts", str(art))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot use database" in lines[0]
    assert folder_snapshot(art) == {}
