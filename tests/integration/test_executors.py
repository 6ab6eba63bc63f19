"""The executor protocol: one Outcome schema for whatever a task is and however it ends.

Real processes only: each task here is a tiny Python child started by the subprocess
executor (the market job's and evaluate's default), which answers, fails, crashes, is killed
or hangs, once forked from the fork server (the default) and once as a fresh interpreter. The
same schema for evaluate's own tasks is checked end to end in
tests/integration/test_evaluate.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from coinlstm.app.runtime.executors import (
    EXECUTORS,
    FAILED,
    OK,
    TIMEOUT,
    ExecutorConfig,
    Outcome,
    PairTask,
    make_executor,
)
from coinlstm.core import config
from coinlstm.core.errors import BadInput
from tests.helpers import REPO, alive, parent_of, wait_for

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
class ScriptTask(PairTask):
    """A task defined here, beside the two real ones (a pair's training, an evaluate case)."""

    coin_id: int
    symbol: str
    script: str

    def identity(self) -> dict:
        return {**super().identity(), "model": "script"}

    def argv(self, result_path: Path) -> list[str]:
        return [sys.executable, "-c", self.script, str(result_path)]

    def run_here(self, settings) -> dict:  # pragma: no cover - Ray only
        raise NotImplementedError


def _executor(tmp_path: Path, timeout: float | None = None, workers: int = 3,
              fork: bool = True):
    settings = config.load(db_url=f"sqlite:///{tmp_path / 'x.sqlite'}", env={})
    return make_executor("subprocess", ExecutorConfig(
        settings.with_(fork_server=fork), workers=workers, timeout=timeout,
        logs_dir=tmp_path / "logs"))


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_every_ending_is_one_outcome_of_the_same_schema(tmp_path, fork):
    tasks = [ScriptTask(1, "ANSWER", ANSWER), ScriptTask(2, "REFUSE", REFUSE),
             ScriptTask(3, "CRASH", CRASH), ScriptTask(4, "KILLED", KILLED),
             ScriptTask(5, "HANG", HANG)]
    outcomes = {o.symbol: o for o in _executor(tmp_path, timeout=5, fork=fork).run(tasks)}

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


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "fresh"])
def test_an_abandoned_run_kills_its_running_children(tmp_path, fork):
    executor = _executor(tmp_path, timeout=None, workers=1, fork=fork)
    running = executor.run([ScriptTask(1, "HANG", HANG), ScriptTask(2, "QUEUED", ANSWER)])
    pid_file = tmp_path / "logs" / "HANG.result.json.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    pid = int(pid_file.read_text())
    running.close()  # the driver was interrupted
    deadline = time.monotonic() + 30
    while alive(pid):
        assert time.monotonic() < deadline, "the child outlived its abandoned run"
        time.sleep(0.1)
    assert not (tmp_path / "logs" / "QUEUED.log").exists()  # never started


def test_registry_names_every_kind_and_refuses_others(tmp_path):
    assert list(EXECUTORS) == ["subprocess", "ray"]
    assert _executor(tmp_path).name == "subprocess"
    settings = config.load(env={})
    with pytest.raises(BadInput, match="unknown executor 'slurm'; choose one of subprocess, ray"):
        make_executor("slurm", ExecutorConfig(settings, 1, None, tmp_path))


def test_outcome_of_a_task_that_answered_nothing():
    from coinlstm.app.runtime.executors import outcome_from_result

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


# ---------------------------------------------------------------------- the fork server

#: What a child knows of where it runs.
WHO = """
import json, os, sys
json.dump({"status": "ok", "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
           "lifeline_parent": os.environ.get("COINLSTM_PARENT_PID"),
           "keras_imported": "keras" in sys.modules,
           "mysql_c_extension": getattr(sys.modules.get("mysql.connector"), "HAVE_CEXT", None),
           "os_threads": len(os.listdir("/proc/self/task"))}, open(sys.argv[1], "w"))
"""


def _server_pid(output: str) -> int:
    [pid] = re.findall(r"^fork server ready in [0-9.]+ s \(pid ([0-9]+), jax imported",
                       output, re.MULTILINE)
    return int(pid)


def test_each_task_is_a_forked_child_of_a_server_that_imported_keras(tmp_path, capsys):
    tasks = [ScriptTask(i, f"WHO{i}", WHO) for i in range(4)]
    outcomes = list(_executor(tmp_path, timeout=60, workers=2).run(tasks))
    output = capsys.readouterr().out
    server = _server_pid(output)
    results = [o.result for o in outcomes]
    assert all(o.ok for o in outcomes), [o.reason for o in outcomes]
    assert len({r["pid"] for r in results}) == 4 and server not in {r["pid"] for r in results}
    for result in results:
        assert result["ppid"] == server and result["pgid"] == result["pid"]  # own group
        assert result["lifeline_parent"] == str(server)  # it dies with the server
        assert result["keras_imported"] is True and result["os_threads"] == 1
        assert result["mysql_c_extension"] is True  # the server imported the driver first
    assert "fork server closed: 4 tasks forked" in output
    assert not alive(server)  # the run closed it
    assert (tmp_path / "logs" / "fork-server.log").exists()


@pytest.mark.slow
def test_warm_up_starts_the_server_before_the_tasks_and_close_ends_it(tmp_path, capsys):
    """The market job warms the executor up before its crawl: the server imports meanwhile,
    the tasks then fork from that same server, and close() ends it even if no task ran."""
    executor = _executor(tmp_path, timeout=60)
    executor.warm_up()
    executor.close()  # nothing to train after all
    output = capsys.readouterr().out
    assert not alive(_server_pid(output))
    assert "fork server closed: 0 tasks forked" in output
    executor = _executor(tmp_path, timeout=60)
    executor.warm_up()
    wait_for(lambda: (tmp_path / "logs" / "fork-server.log").exists())
    outcomes = list(executor.run([ScriptTask(1, "WHO1", WHO), ScriptTask(2, "WHO2", WHO)]))
    executor.close()
    output = capsys.readouterr().out
    assert [o.result["ppid"] for o in outcomes] == [_server_pid(output)] * 2
    assert output.count("fork server closed") == 1 and "2 tasks forked" in output


def test_fresh_processes_when_asked(tmp_path, capsys):
    [outcome] = _executor(tmp_path, timeout=60, fork=False).run([ScriptTask(1, "WHO", WHO)])
    assert outcome.ok, outcome.reason
    assert outcome.result["ppid"] == os.getpid()
    assert outcome.result["lifeline_parent"] == str(os.getpid())
    assert outcome.result["keras_imported"] is False
    assert "fork server" not in capsys.readouterr().out


@pytest.mark.parametrize("moment", ["start", "fork"])
def test_a_server_with_threads_never_forks_and_the_tasks_run_fresh(tmp_path, capsys,
                                                                   monkeypatch, moment):
    """A thread in the server (here a test hook's, at start-up or after its first fork) stops
    the forking: one line says why, and the tasks still run, as fresh processes."""
    monkeypatch.setenv("COINLSTM_TEST_FORK_UNSAFE", moment)
    tasks = [ScriptTask(i, f"WHO{i}", WHO) for i in range(3)]
    outcomes = {o.symbol: o for o in _executor(tmp_path, timeout=60, workers=1).run(tasks)}
    output = capsys.readouterr().out
    assert all(o.ok for o in outcomes.values()), [o.reason for o in outcomes.values()]
    fresh = [s for s, o in outcomes.items() if o.result["ppid"] == os.getpid()]
    if moment == "start":
        assert fresh == ["WHO0", "WHO1", "WHO2"]
        [line] = [x for x in output.splitlines() if x.startswith("fork server")]
        assert line == ("fork server not used (the server has 2 OS threads, not 1); every "
                        "task starts a fresh process")
    else:
        assert outcomes["WHO0"].result["ppid"] != os.getpid()  # forked before the thread
        assert fresh == ["WHO1", "WHO2"]
        [line] = [x for x in output.splitlines() if "not used any more" in x]
        assert line == ("fork server not used any more (the server has 2 OS threads, not 1);"
                        " the remaining tasks start fresh processes")


#: HANG with the lifeline every real task's process keeps (coinlstm.app.runtime.lifeline).
HANG_WITH_LIFELINE = """
from coinlstm.app.runtime.lifeline import exit_with_parent
exit_with_parent(poll_seconds=0.2)
""" + HANG


def test_a_dead_server_costs_its_running_task_only(tmp_path, capsys):
    """The server SIGKILLed while a task runs: that task fails in one line, its child dies with
    the server (lifeline), and the next task runs as a fresh process."""
    executor = _executor(tmp_path, timeout=None, workers=1)
    running = executor.run([ScriptTask(1, "HANG", HANG_WITH_LIFELINE),
                            ScriptTask(2, "AFTER", WHO)])
    pid_file = tmp_path / "logs" / "HANG.result.json.pid"
    wait_for(lambda: pid_file.exists() and pid_file.read_text())
    child = int(pid_file.read_text())
    os.kill(_server_pid(capsys.readouterr().out), signal.SIGKILL)
    outcomes = {o.symbol: o for o in running}
    assert outcomes["HANG"].status == FAILED
    assert outcomes["HANG"].reason == ("the fork server ended (killed by signal SIGKILL), "
                                       "while the task ran")
    wait_for(lambda: not alive(child))
    assert outcomes["AFTER"].ok and outcomes["AFTER"].result["ppid"] == os.getpid()
    assert "the remaining tasks start fresh processes" in capsys.readouterr().out


DRIVER = """
import sys
from pathlib import Path
from coinlstm.app.runtime.executors import ExecutorConfig, make_executor
from coinlstm.core import config
from tests.integration.test_executors import HANG, ScriptTask
settings = config.load(db_url="sqlite:///" + sys.argv[1] + "/x.sqlite", env={})
executor = make_executor("subprocess", ExecutorConfig(settings, workers=1, timeout=None,
                                                      logs_dir=Path(sys.argv[1]) / "logs"))
list(executor.run([ScriptTask(1, "HANG", HANG)]))
"""


def test_a_killed_driver_takes_the_server_and_its_children_along(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        pid_file = tmp_path / "logs" / "HANG.result.json.pid"
        wait_for(lambda: pid_file.exists() and pid_file.read_text()
                  or driver.poll() is not None)
        assert driver.poll() is None, driver.stdout.read()
        child = int(pid_file.read_text())
        server = parent_of(child)
        assert server != driver.pid and parent_of(server) == driver.pid
        driver.kill()
        driver.wait()
        wait_for(lambda: not alive(server) and not alive(child))
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait()
