"""The fork server: imports numpy, Keras and its backend once, then forks one child per task.

Why: a fresh ``python -m coinlstm train`` pays about 3-4 s of imports (numpy, pandas,
SQLAlchemy, Keras, JAX) before it reads a candle; for a short pair that is most of its
process. The subprocess executor (subprocess.py, through forkclient.py) starts this server
once per job (as ``python -m``, or grown from the command's seed: seed.py); it imports what a
task's process imports and then, for each task, forks a child that runs the very command line
the task would run in a fresh process (``python -m MODULE ARGS`` or ``python -c CODE ARGS``)
and exits after it, so the task's memory still goes back to the OS.

Fork safety: a fork copies only the thread that calls it; a lock held by any other thread
stays locked forever in the child. So the server must never have more than one OS thread when
it forks: it imports modules but never initialises JAX's backend (XLA's thread pools) or runs
any computation, and it runs OpenBLAS single-threaded (its driver passes
``OPENBLAS_NUM_THREADS=1``: numpy's and SciPy's OpenBLAS otherwise each start a worker thread
at import, measured on this machine). Before every fork it counts its threads (forking.py's
``fork_hazard``); if the count is not one it refuses, and the driver starts that task as a
fresh process instead.

The protocol is JSON lines on the server's stdin (requests) and stdout (events):

- ``{"op": "start", "id": N, "argv": [...], "env": {...}, "log": PATH}``: fork a child with
  that environment, its stdout and stderr appended to PATH; answered by ``{"event":
  "started", "id": N, "pid": PID}`` or ``{"event": "refused", "id": N, "reason": LINE}``;
- ``{"event": "exited", "id": N, "status": WAIT_STATUS, "maxrss_kb": K}`` when the child ends
  (its raw wait status and its peak memory, as ``os.wait4`` gives them).

The first event is ``{"event": "ready", "pid": PID, "seconds": S}`` after the imports, or
``{"event": "unsafe", "reason": LINE}`` (and the server exits) if forking is not safe.
End of stdin (the driver closed it, or died) ends the server: its children's process groups
are killed first. Each child is the leader of its own process group (the driver's timeout and
stop kill that group) and watches the server (coinlstm.app.runtime.lifeline), which watches
the driver.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import re
import select
import signal
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

from coinlstm.app.runtime.executors.forking import (
    current_hazard,
    default_signals,
    exit_now,
    max_fd,
    run_entry,
)
from coinlstm.core import config
from coinlstm.core.config import ENV_PARENT_PID
from coinlstm.core.lazy_imports import is_backend, is_heavy
from predict import plots
from train import backend

#: What libraries import on their first use rather than at import, so that no import
#: statement names them: SQLAlchemy's dialects and drivers (on create_engine), matplotlib's
#: Agg canvas and PIL's PNG plugin (on the first saved figure), JAX's (on its first
#: compilation). Importing is all the server does with them; one that is missing is simply
#: imported by the child.
FIRST_USE_IMPORTS = (
    "matplotlib.backends.backend_agg", "PIL.PngImagePlugin",
    "jax.experimental.multihost_utils", "jaxlib.mlir.dialects.mhlo",
)
#: The database drivers, imported before Keras: mysql-connector's C extension fails to load
#: (and the driver falls back to its pure-Python protocol) in a process that loaded the
#: libraries of TensorFlow, PyTorch or matplotlib first (static TLS, the system's libcrypto).
DRIVER_IMPORTS = ("sqlite3", "sqlalchemy.dialects.sqlite",
                  "sqlalchemy.dialects.mysql.mysqlconnector", "mysql.connector")
#: The packages whose modules are read for imports inside functions (the project's own).
FIRST_PARTY = ("coinlstm", "crawl", "train", "predict")

#: The backends whose import is known to leave one thread and whose forked children train
#: like fresh processes (tests/integration/test_forkserver.py). TensorFlow and PyTorch start
#: their runtime's thread pools on first use and document fork after that as unsupported:
#: their tasks start fresh processes.
FORKABLE_BACKENDS = ("jax",)


def entry_of(argv: list[str], executable: str) -> tuple[str, str, list[str]] | None:
    """``("module", NAME, ARGS)`` for ``[executable, "-m", NAME, *ARGS]``, ``("code", CODE,
    ARGS)`` for ``[executable, "-c", CODE, *ARGS]``; None for any other command line (it
    needs a fresh process: another interpreter, interpreter options, a script)."""
    if len(argv) < 3 or argv[0] != executable or argv[1] not in ("-m", "-c"):
        return None
    return ("module" if argv[1] == "-m" else "code"), argv[2], list(argv[3:])


# ---------------------------------------------------------------------------- the child


def _become_child(request: dict, server_pid: int) -> None:
    """In the forked child, before the task: what a fresh process would have."""
    signal.set_wakeup_fd(-1)
    default_signals()
    with contextlib.suppress(OSError):  # the server did it already (no race either way)
        os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, max_fd())  # the server's pipes and files are not the task's
    os.environ.clear()
    os.environ.update(request["env"])
    # The lifeline (coinlstm.app.runtime.lifeline) watches the process that started this one.
    os.environ[ENV_PARENT_PID] = str(server_pid)


def _child(request: dict, entry: tuple[str, str, list[str]], server_pid: int) -> None:
    """The forked child: run the task, end as an interpreter ends (atexit handlers, flushed
    output), exit with its code; never returns."""
    code = 70
    try:
        _become_child(request, server_pid)
        code = run_entry(*entry)
        backend.skip_jax_teardown()  # os._exit follows: no finalisation to protect
        atexit._run_exitfuncs()
    finally:
        exit_now(code)


# ---------------------------------------------------------------------------- the server


class _Server:
    """The loop: requests from stdin, children reaped on SIGCHLD, events to stdout."""

    def __init__(self, requests_fd: int, events_fd: int) -> None:
        self.requests_fd = requests_fd
        self.events_fd = events_fd
        self.children: dict[int, int] = {}  # pid -> request id
        self.driver = os.getppid()
        self.pid = os.getpid()

    def send(self, event: dict) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            data = data[os.write(self.events_fd, data):]

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, _stop_on_signal)  # the finally below kills the children
        pending = b""
        try:
            while True:
                ready, _, _ = select.select([self.requests_fd, wake_r], [], [], 1.0)
                if wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 4096)
                self.reap()
                if os.getppid() != self.driver:
                    return  # the driver died (its stdin end may live on elsewhere)
                if self.requests_fd not in ready:
                    continue
                data = os.read(self.requests_fd, 65536)
                if not data:
                    return  # the driver closed our stdin, or died
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.handle(json.loads(line))
        finally:
            self.kill_children()

    def handle(self, request: dict) -> None:
        if request.get("op") != "start":
            return
        entry = entry_of(request["argv"], sys.executable)
        hazard = ("not a `python -m` or `python -c` command line" if entry is None
                  else current_hazard())
        if hazard is not None:
            self.send({"event": "refused", "id": request["id"], "reason": hazard})
            return
        for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
            stream.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; measured by the executor tests
            _child(request, entry, self.pid)
        with contextlib.suppress(OSError):  # also in the child: whichever runs first
            os.setpgid(pid, pid)
        self.children[pid] = request["id"]
        self.send({"event": "started", "id": request["id"], "pid": pid})

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            request_id = self.children.pop(pid, None)
            if request_id is not None:
                self.send({"event": "exited", "id": request_id, "status": status,
                           "maxrss_kb": usage.ru_maxrss})

    def kill_children(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.children.clear()


def _stop_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def _preload(backend_name: str, task_modules: Iterable[str]) -> None:
    """Keras on ``backend_name``, the modules the tasks' processes run (``task_modules``) and
    every module those import (:func:`import_with_lazy_imports`), then the warm-ups of
    :func:`_warm_up`: no computation of the backend's (its backend is never initialised)."""
    settings = config.load()
    _import_present(DRIVER_IMPORTS)
    backend.prepare(backend_name, settings.cache_dir)
    backend.load_keras(backend_name)
    import_with_lazy_imports(task_modules)
    _import_present(FIRST_USE_IMPORTS)
    _warm_up()


def _import_present(modules: Iterable[str]) -> None:
    """Import ``modules``; one that is missing is simply imported by the child."""
    for module in modules:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def import_with_lazy_imports(modules: Iterable[str]) -> list[str]:
    """Import ``modules``, then the heavy modules (coinlstm.core.lazy_imports) that any of
    the project's modules now loaded imports inside a function, until no new one comes: what
    a task's process would import as it runs. Returns the heavy modules imported."""
    for module in modules:
        importlib.import_module(module)
    read: set[str] = set()
    imported: list[str] = []
    while True:
        unread = [name for name in list(sys.modules)
                  if name.partition(".")[0] in FIRST_PARTY and name not in read]
        if not unread:
            return imported
        for name in unread:
            read.add(name)
            for heavy in lazy_heavy_imports(sys.modules[name]):
                with contextlib.suppress(ImportError):  # an optional extra not installed
                    importlib.import_module(heavy)
                    imported.append(heavy)


#: An import statement indented under a ``def`` (or an ``if``/``try``, which costs nothing to
#: follow): ``import A[, B]`` or ``from A import ...``.
_INDENTED_IMPORT = re.compile(r"^[ \t]+(?:import[ \t]+([\w., \t]+)|from[ \t]+([\w.]+)[ \t]+import)",
                              re.MULTILINE)


def lazy_heavy_imports(module) -> list[str]:
    """The heavy modules (coinlstm.core.lazy_imports) ``module`` imports inside its
    functions, but the Keras backends (the server loads its own), read from its source (a
    pattern, not a parse: a parse of every module loaded
    would take the server most of a second)."""
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return []
    names: list[str] = []
    for imported, source in _INDENTED_IMPORT.findall(Path(path).read_text()):
        names += [part.split()[0] for part in imported.split(",") if part.strip()]
        names += [source] if source else []
    return [name for name in dict.fromkeys(names) if is_heavy(name) and not is_backend(name)]


def _warm_up() -> None:
    """Work every child would otherwise do first, done once here and inherited by each fork.

    Only what starts no thread and touches no backend (the fork hazard is checked before every
    fork all the same). Today: one throwaway plot (predict.plots.warm_up: fonts, the mathtext
    parser, PIL's plugins), which halved a pair's plot (docs/architecture.md, "The fork
    server"), and JAX's search for backend plugins (train.backend.find_jax_plugins). A
    warm-up that fails costs only its saving: the children do that work themselves, as
    before.
    """
    try:
        plots.warm_up()
        backend.find_jax_plugins()
    except Exception:  # noqa: BLE001 - an optimisation, never a reason not to serve
        traceback.print_exc()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coinlstm.app.runtime.executors.forkserver")
    parser.add_argument("--backend", required=True, choices=FORKABLE_BACKENDS)
    parser.add_argument("--preload", nargs="*", default=[], metavar="MODULE",
                        help="the modules the tasks' processes run")
    args = parser.parse_args(argv)
    # The protocol keeps its own descriptors; fd 0 and 1 get /dev/null and stderr, so a stray
    # print of an imported module can never corrupt an event.
    requests_fd, events_fd = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    server = _Server(requests_fd, events_fd)
    started = time.perf_counter()
    try:
        _preload(args.backend, args.preload)
    except Exception as exc:  # noqa: BLE001 - the driver reads the one line, then goes on
        server.send({"event": "unsafe", "reason": f"imports failed: {exc}"})
        return 1
    hazard = current_hazard()
    if hazard is not None:
        server.send({"event": "unsafe", "reason": hazard})
        return 1
    server.send({"event": "ready", "pid": server.pid,
                 "seconds": round(time.perf_counter() - started, 3)})
    server.serve()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
