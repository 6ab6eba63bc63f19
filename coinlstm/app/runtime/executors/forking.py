"""What the fork server and its seed share about forking: when a fork is safe, and how a
forked child starts and ends as a fresh interpreter would.

Light on purpose (the standard library only): the CLI imports it, through seed.py, before any
command, so it must not import what the fork server loads.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import runpy
import signal
import sys
import threading
import traceback
from collections.abc import Sequence


def os_threads() -> int:
    """Threads of this process as the kernel sees them (Python's and every library's)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: unknown, so not safe
        return 0


def fork_hazard(os_thread_count: int, python_threads: list[str],
                jax_initialised: bool) -> str | None:
    """Why forking this process now is unsafe, in one line; None when it is safe."""
    if os_thread_count != 1:
        what = "unknown (no /proc/self/task)" if os_thread_count == 0 else os_thread_count
        return f"the server has {what} OS threads, not 1"
    if len(python_threads) != 1:
        return f"the server runs Python threads: {', '.join(python_threads)}"
    if jax_initialised:
        return "JAX's backend is initialised in the server"
    return None


def current_hazard() -> str | None:
    """:func:`fork_hazard` of this process as it is now."""
    bridge = sys.modules.get("jax._src.xla_bridge")  # asked only when JAX is loaded
    jax_initialised = bridge is not None and bridge.backends_are_initialized()
    return fork_hazard(os_threads(), [t.name for t in threading.enumerate()], jax_initialised)


def max_fd() -> int:
    """The highest descriptor number a process may have, plus one."""
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):  # pragma: no cover
        return 4096


def default_signals() -> None:
    """The signal handlers a fresh interpreter starts with (a fork inherits its parent's)."""
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_entry(kind: str, target: str, args: Sequence[str]) -> int:
    """Run a command line's work in this (forked) process as ``python`` would: ``python -m
    target args`` (``kind`` "module") or ``python -c target args`` ("code"); its exit code."""
    try:
        if kind == "module":
            # `python -m X` runs X as __main__ without X itself in sys.modules.
            sys.modules.pop(target, None)
            sys.argv = [target, *args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *args]
            exec(compile(target, "<string>", "exec"),  # noqa: S102 - `python -c` does this
                 {"__name__": "__main__", "__builtins__": builtins})
        return 0
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught error
        traceback.print_exc()
        return 1


def _exit_code(code) -> int:
    """The process exit code of ``sys.exit(code)``, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def exit_now(code: int) -> None:
    """End a forked child: its output flushed, then ``os._exit`` (never back into the code
    that forked it); never returns."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
