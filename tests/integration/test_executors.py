"""The executor protocol: one Outcome schema for whatever a task is and however it ends.

Real processes only: each task here is a tiny Python child started by the subprocess
executor (the market job's and evaluate's default), which answers, fails, crashes, is killed
or hangs. The same schema for evaluate's own tasks is checked end to end in
tests/integration/test_evaluate.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from coinlstm.app.executors import (
    EXECUTORS,
    FAILED,
    OK,
    TIMEOUT,
    ExecutorConfig,
    Outcome,
    make_executor,
)
from coinlstm.core import config
from coinlstm.core.errors import BadInput

#: The keys of every outcome (Outcome.to_dict) after the task's own identity keys.
OUTCOME_KEYS = ["status", "seconds", "reason", "result", "peak_rss_mb", "log", "attempts"]

ANSWER = """
import json, sys
json.dump({"status": "ok", "exit_code": 0, "value": 42}, open(sys.argv[1], "w"))
print("answered")
"""
REFUSE = """
import json, sys
json.dump({"status": "failed", "exit_code": 2, "error": "too few candles"},
          open(sys.argv[1], "w"))
sys.exit(2)
"""
CRASH = """
import sys
print("something broke badly", file=sys.stderr)
sys.exit(7)
"""
KILLED = """
import os, signal
print("about to die")
os.kill(os.getpid(), signal.SIGKILL)
"""
HANG = """
import os, sys, time
open(sys.argv[1] + ".pid", "w").write(str(os.getpid()))
time.sleep(600)
"""


@dataclass(frozen=True)
class ScriptTask:
    """A task defined here, beside the two real ones (a pair's training, an evaluate case)."""

    coin_id: int
    symbol: str
    script: str

    @property
    def name(self) -> str:
        return self.symbol

    def identity(self) -> dict:
        return {"coin_id": self.coin_id, "symbol": self.symbol, "model": "script"}

    def argv(self, result_path: Path) -> list[str]:
        return [sys.executable, "-c", self.script, str(result_path)]

    def run_here(self, settings) -> dict:  # pragma: no cover - Ray only
        raise NotImplementedError


def _executor(tmp_path: Path, timeout: float | None = None, workers: int = 3):
    settings = config.load(db_url=f"sqlite:///{tmp_path / 'x.sqlite'}", env={})
    return make_executor("subprocess", ExecutorConfig(
        settings, workers=workers, timeout=timeout, logs_dir=tmp_path / "logs"))


def test_every_ending_is_one_outcome_of_the_same_schema(tmp_path):
    tasks = [ScriptTask(1, "ANSWER", ANSWER), ScriptTask(2, "REFUSE", REFUSE),
             ScriptTask(3, "CRASH", CRASH), ScriptTask(4, "KILLED", KILLED),
             ScriptTask(5, "HANG", HANG)]
    outcomes = {o.symbol: o for o in _executor(tmp_path, timeout=5).run(tasks)}

    assert set(outcomes) == {task.symbol for task in tasks}
    for task in tasks:
        outcome = outcomes[task.symbol]
        record = outcome.to_dict()
        assert list(record) == ["coin_id", "symbol", "model", *OUTCOME_KEYS]
        assert (record["coin_id"], record["symbol"]) == (task.coin_id, task.symbol)
        assert json.loads(json.dumps(record)) == record  # what the reports write
        assert Path(record["log"]).name == f"{task.symbol}.log" and record["peak_rss_mb"] > 0
    assert outcomes["ANSWER"].ok and outcomes["ANSWER"].reason is None
    assert outcomes["ANSWER"].result["value"] == 42
    assert "answered" in Path(outcomes["ANSWER"].log).read_text()
    assert (outcomes["REFUSE"].status, outcomes["REFUSE"].reason) == (FAILED, "too few candles")
    assert outcomes["REFUSE"].result["exit_code"] == 2
    assert (outcomes["CRASH"].status, outcomes["CRASH"].reason) == (
        FAILED, "exit code 7: something broke badly")
    assert (outcomes["KILLED"].status, outcomes["KILLED"].reason) == (
        FAILED, "killed by signal SIGKILL: about to die")
    assert outcomes["HANG"].status == TIMEOUT
    assert outcomes["HANG"].reason == "timed out after 5 s; process group killed"
    assert 5 <= outcomes["HANG"].seconds < 60


def test_an_abandoned_run_kills_its_running_children(tmp_path):
    executor = _executor(tmp_path, timeout=None, workers=1)
    running = executor.run([ScriptTask(1, "HANG", HANG), ScriptTask(2, "QUEUED", ANSWER)])
    pid_file = tmp_path / "logs" / "HANG.result.json.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    running.close()  # the driver was interrupted
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, "the child outlived its abandoned run"
        time.sleep(0.1)
    assert not (tmp_path / "logs" / "QUEUED.log").exists()  # never started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_registry_names_every_kind_and_refuses_others(tmp_path):
    assert list(EXECUTORS) == ["subprocess", "ray"]
    assert _executor(tmp_path).name == "subprocess"
    settings = config.load(env={})
    with pytest.raises(BadInput, match="unknown executor 'slurm'; choose one of subprocess, ray"):
        make_executor("slurm", ExecutorConfig(settings, 1, None, tmp_path))


def test_outcome_of_a_task_that_answered_nothing():
    from coinlstm.app.executors import outcome_from_result

    task = ScriptTask(9, "NONE", "")
    assert outcome_from_result(task, None, 1.0, None) == Outcome(
        task, FAILED, 1.0, "failed without a reason", {})
    assert outcome_from_result(task, {"status": OK}, 1.0, "ignored").ok


SETTINGS = """
import json, sys
from coinlstm.core import config
settings = config.load()
json.dump({"status": "ok", "db_url": settings.db_url, "schema_ready": settings.schema_ready},
          open(sys.argv[1], "w"))
"""


@pytest.mark.parametrize("ready", [True, False])
def test_children_skip_the_schema_check_only_when_the_driver_ensured_it(tmp_path, ready):
    """The market job and evaluate ensure the schema once; their children open the database
    without checking it again. A hand-run command (no driver) still checks it."""
    settings = config.load(db_url=f"sqlite:///{tmp_path / 'x.sqlite'}", env={})
    assert settings.schema_ready is False
    executor = make_executor("subprocess", ExecutorConfig(
        settings.with_(schema_ready=ready), workers=1, timeout=60, logs_dir=tmp_path / "logs"))
    [outcome] = executor.run([ScriptTask(1, "SETTINGS", SETTINGS)])
    assert outcome.ok, outcome.reason
    assert outcome.result["schema_ready"] is ready
    assert outcome.result["db_url"] == settings.db_url  # through the environment, not argv
