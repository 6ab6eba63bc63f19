"""The tests' CLI launcher (tests/forked_cli.py): a command forked from the server reports
what the same command reports in a fresh interpreter, and is really forked."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests import forked_cli
from tests.helpers import REPO, TEST_HOME, cli_env, run_cli, run_job


def _fresh(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coinlstm", *args], capture_output=True,
                          text=True, env=cli_env(env, cwd), cwd=str(cwd or REPO), timeout=300)


@pytest.mark.parametrize("args", [
    ("pairs", "--db", "sqlite:///{tmp}/empty.sqlite"),  # a new database: creates, lists none
    ("train", "-id", "1", "-symbol", "ADAETH", "--epochs", "0"),  # bad input: one line, 2
    ("crawl", "--market", "ETH", "--exchange", "nowhere"),  # argparse's own refusal
    ("evaluate", "--help"),
])
def test_a_forked_command_reports_what_a_fresh_one_does(args, tmp_path):
    args = tuple(arg.replace("{tmp}", str(tmp_path)) for arg in args)
    forked_before = forked_cli._the_server(TEST_HOME / "logs").forked
    forked = run_cli(*args, cwd=tmp_path)
    assert forked_cli._the_server(TEST_HOME / "logs").forked == forked_before + 1
    if "pairs" in args:  # the same new database again
        (tmp_path / "empty.sqlite").unlink()
    fresh = _fresh(*args, cwd=tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_forked_job_reports_what_a_fresh_one_does(tmp_path):
    """run_all.py (a script, not a module) refusing a bad flag."""
    args = ("--market", "ETH", "--skip-crawl", "--workers", "0", "--db",
            f"sqlite:///{tmp_path}/job.sqlite")
    forked_before = forked_cli._the_server(TEST_HOME / "logs").forked
    forked = run_job(*args)
    assert forked_cli._the_server(TEST_HOME / "logs").forked == forked_before + 1
    fresh = subprocess.run([sys.executable, str(REPO / "run_all.py"), *args],
                           capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=300)
    assert forked.returncode == fresh.returncode == 2
    assert (forked.stdout, forked.stderr) == (fresh.stdout, fresh.stderr)
    assert len(forked.stderr.splitlines()) == 1, forked.stderr


def test_import_time_settings_and_other_backends_run_fresh():
    assert forked_cli.forkable(("pairs",), None)
    assert forked_cli.forkable(("pairs",), {"COINLSTM_TEST_STALL": "ADAETH"})
    for env in ({"COINLSTM_TEST_OPTION": "1"}, {"KERAS_BACKEND": "torch"},
                {"JAX_PLATFORMS": "cpu"}, {"PYTHONPATH": "/elsewhere"}):
        assert not forked_cli.forkable(("pairs",), env), env
    for args in (("train", "--backend", "tensorflow"), ("evaluate", "--backend=torch"),
                 ("evaluate", "--models", "naive,torch")):
        assert not forked_cli.forkable(args, None), args


def test_a_forked_command_past_its_timeout_is_killed(synthetic_candles):
    """replay-server serves until stopped: the launcher kills the child's process group at
    the timeout and raises as subprocess.run does."""
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as raised:
        run_cli("replay-server", str(synthetic_candles), "--port", "0", timeout=5)
    assert time.monotonic() - started < 60
    assert raised.value.timeout == 5
    server = forked_cli._the_server(TEST_HOME / "logs")
    assert not server.process.poll()  # the server lives on and forks the next command
    assert run_cli("evaluate", "--help").returncode == 0
    # No child of the server is left running.
    assert _children(server.pid) == []


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found
