"""The CLI and run_all.py, run the way the hourly job runs a pair: in a child forked from a
server that has imported the package once (coinlstm/app/runtime/executors/forkserver.py).

Why: the integration tier runs ``python -m coinlstm`` several hundred times, and a fresh
interpreter spends most of a short command importing (numpy, pandas, SQLAlchemy and, for
``train``, Keras on JAX). The forked child runs the same entry (``python -m coinlstm ARGS``,
``python run_all.py ARGS``) with the test's environment, working folder and separate stdout
and stderr, and ends as an interpreter ends; only the imports are inherited.

A command line goes to a fresh process instead (:func:`forkable`) when what it asks for is
decided at import time: another Keras backend, an environment that changes what the server
imported (a Python path, a backend, JAX's or XLA's settings, the test option that adds a
training flag, the fork-safety fault), or ``COINLSTM_TEST_FRESH_CLI=1`` (every run fresh, to
compare). A server that cannot start or fork (its log: ``TEST_HOME/logs/cli-fork-server.log``)
sends every run to a fresh process too.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from coinlstm.app.cli import COMMANDS
from coinlstm.app.runtime.executors.forkclient import ForkServer, ForkUnavailable

#: Set to 1 to run every CLI command of the tests in a fresh interpreter.
FRESH_CLI = "COINLSTM_TEST_FRESH_CLI"
#: Variables whose value the server's imports depend on: a run that sets one is not forked.
IMPORT_TIME_VARIABLES = ("PYTHONPATH", "KERAS_BACKEND", "COINLSTM_TEST_OPTION",
                         "COINLSTM_TEST_FORK_UNSAFE", "OPENBLAS_NUM_THREADS")
IMPORT_TIME_PREFIXES = ("JAX_", "XLA_", "TF_")
#: Arguments that name a backend other than the server's.
OTHER_BACKENDS = ("tensorflow", "torch")

#: What the forked child runs (``python -c``): the test's stdout, stderr and working folder,
#: then ``python -m MODULE ARGS`` or ``python SCRIPT ARGS``.
CHILD_CODE = """\
import os, runpy, sys
kind, target, out, err, cwd, *args = sys.argv[1:]
for fd, path in ((1, out), (2, err)):
    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
os.chdir(cwd)
sys.argv = [target, *args]
if kind == "module":
    sys.path[0] = cwd
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.path[0] = os.path.dirname(target)
    runpy.run_path(target, run_name="__main__")
"""

_lock = threading.Lock()
_server: ForkServer | None = None
_unavailable = False


def forkable(args: tuple[str, ...], env: dict | None) -> bool:
    """Whether ``python -m coinlstm ARGS`` with the overrides ``env`` may run forked."""
    if os.environ.get(FRESH_CLI) == "1" or _unavailable:
        return False
    if any(name in OTHER_BACKENDS for arg in args for name in arg.replace("=", ",").split(",")):
        return False
    return not any(key in IMPORT_TIME_VARIABLES or key.startswith(IMPORT_TIME_PREFIXES)
                   for key in env or {})


def _the_server(log_folder: Path) -> ForkServer | None:
    """This process's server, started on first use; None once it failed to start."""
    global _server, _unavailable
    with _lock:
        if _server is None and not _unavailable:
            log_folder.mkdir(parents=True, exist_ok=True)
            preload = sorted({module for module, _ in COMMANDS.values()})
            try:
                _server = ForkServer("jax", dict(os.environ), log_folder / "cli-fork-server.log",
                                     preload=preload)
                atexit.register(_server.close)
            except ForkUnavailable:
                _unavailable = True
        return _server


def run_forked(argv: list[str], full_env: dict[str, str], cwd: Path, timeout: float,
               log_folder: Path) -> subprocess.CompletedProcess | None:
    """``argv`` (``[python, "-m", MODULE, *ARGS]`` or ``[python, SCRIPT, *ARGS]``) in a forked
    child, as ``subprocess.run(argv, capture_output=True, text=True)`` reports it; None when
    the server cannot fork it (run it fresh)."""
    server = _the_server(log_folder)
    if server is None:
        return None
    kind, target, args = (("module", argv[2], argv[3:]) if argv[1] == "-m"
                          else ("script", argv[1], argv[2:]))
    with tempfile.TemporaryDirectory(prefix="forked-cli-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        child_argv = [sys.executable, "-c", CHILD_CODE, kind, target, str(out), str(err),
                      str(cwd), *args]
        try:
            child = server.start(child_argv, full_env, Path(os.devnull))
        except ForkUnavailable:
            return None
        try:
            code, _ = child.wait(timeout=timeout)
        except TimeoutError:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise subprocess.TimeoutExpired(argv, timeout, _read(out), _read(err)) from None
        return subprocess.CompletedProcess(argv, code, _read(out), _read(err))


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
