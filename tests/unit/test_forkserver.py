"""The fork server's pure rules: which command lines it can run, when forking is unsafe, and
how it runs a command line's work as the interpreter would (exit codes included)."""

from __future__ import annotations

import sys
import types

import pytest

from coinlstm.app.jobs import evaluate_charts
from coinlstm.app.runtime.executors.forkclient import forkable
from coinlstm.app.runtime.executors.forking import fork_hazard, run_entry
from coinlstm.app.runtime.executors.forkserver import entry_of, lazy_heavy_imports

PY = "/usr/bin/python3"


def test_only_python_dash_m_and_dash_c_command_lines_are_forked():
    assert entry_of([PY, "-m", "coinlstm", "train", "-id", "1"], PY) == (
        "module", "coinlstm", ["train", "-id", "1"])
    assert entry_of([PY, "-c", "print(1)", "a"], PY) == ("code", "print(1)", ["a"])
    assert entry_of([PY, "-m", "coinlstm"], PY) == ("module", "coinlstm", [])
    assert entry_of(["/other/python", "-m", "coinlstm"], PY) is None  # another interpreter
    assert entry_of([PY, "-X", "importtime", "-m", "coinlstm"], PY) is None  # options
    assert entry_of([PY, "script.py"], PY) is None
    assert entry_of([PY, "-m"], PY) is None
    assert forkable([sys.executable, "-m", "coinlstm.app.jobs.evaluate_tasks", "--task", "{}"])
    assert not forkable(["/bin/true"])


def test_forking_is_safe_only_with_one_thread_and_jax_uninitialised():
    assert fork_hazard(1, ["MainThread"], False) is None
    assert fork_hazard(2, ["MainThread"], False) == "the server has 2 OS threads, not 1"
    assert fork_hazard(0, ["MainThread"], False) == (
        "the server has unknown (no /proc/self/task) OS threads, not 1")
    assert fork_hazard(1, ["MainThread", "watcher"], False) == (
        "the server runs Python threads: MainThread, watcher")
    assert fork_hazard(1, ["MainThread"], True) == "JAX's backend is initialised in the server"


@pytest.fixture
def saved_argv():
    argv = list(sys.argv)
    yield
    sys.argv[:] = argv


@pytest.mark.parametrize(("code", "expected"), [
    ("x = 1", 0),
    ("import sys; sys.exit()", 0),
    ("import sys; sys.exit(3)", 3),
    ("import sys; sys.exit(256 + 2)", 2),
    ("import sys; sys.exit('bad input')", 1),
    ("raise ValueError('boom')", 1),
])
def test_code_runs_with_the_interpreters_exit_code(code, expected, saved_argv, capsys):
    assert run_entry("code", code, ["arg"]) == expected
    err = capsys.readouterr().err
    if "ValueError" in code:
        assert "ValueError: boom" in err
    if "bad input" in code:
        assert err == "bad input\n"


def test_a_module_runs_as_main_with_its_arguments(saved_argv, capsys):
    assert run_entry("module", "json.tool", ["--help"]) == 0
    assert "json.tool" in capsys.readouterr().out
    assert run_entry("code", "import sys; print(sys.argv)", ["a", "b"]) == 0
    assert capsys.readouterr().out == "['-c', 'a', 'b']\n"


def test_the_plot_warm_up_starts_no_thread_and_changes_no_later_plot(tmp_path):
    """The fork server draws a throwaway plot before forking (forkserver._warm_up): it must
    leave the process forkable (no thread started) and a pair's plot byte for byte as it
    would have been without it."""
    import threading

    import numpy as np

    from coinlstm.app.runtime.executors.forking import os_threads
    from predict import plots
    from train.prediction_bands import Band

    closes = np.array([1.0, 1.1, 1.05, 1.2])

    def draw(path):
        plots.draw(path, "ADAETH", [i * 3_600_000 for i in range(4)], closes, closes * 1.01,
                   closes * 0.99, [0.5, 0.2, 0.1], [0.6, 0.3, 0.2], "skill +0.010",
                   bands=[Band(0.8, closes - 0.1, closes + 0.1)])

    draw(tmp_path / "before.png")
    threads, python_threads = os_threads(), threading.active_count()
    plots.warm_up()
    assert (os_threads(), threading.active_count()) == (threads, python_threads)
    draw(tmp_path / "after.png")
    assert (tmp_path / "after.png").read_bytes() == (tmp_path / "before.png").read_bytes()


def test_the_heavy_modules_a_module_imports_in_its_functions_are_read_from_its_source(tmp_path):
    """The fork server's preload beyond the task's own modules: the heavy modules
    (coinlstm.core.lazy_imports) imported under a def, however the statement is written, and
    no other module: no Keras backend either (the server loads its own, and only it)."""
    source = tmp_path / "task.py"
    source.write_text(
        "import json\n"
        "from matplotlib import ticker\n"  # at the top: imported with the module anyway
        "def draw():\n"
        "    import matplotlib.pyplot as plt, json\n"
        "    from jax.experimental import compilation_cache\n"
        "    from coinlstm.core import config\n"
        "    import sqlalchemy\n"
        "class Runner:\n"
        "    def start(self):\n"
        "        import ray\n")
    module = types.ModuleType("task")
    module.__file__ = str(source)
    assert lazy_heavy_imports(module) == ["matplotlib.pyplot", "ray"]
    assert lazy_heavy_imports(types.ModuleType("builtin_like")) == []
    assert "matplotlib.pyplot" in lazy_heavy_imports(evaluate_charts)
