"""Hooks the test-suite uses to stop a training process at a known moment.

The one place outside coinlstm.core.config that reads the environment, on purpose: these are not
settings a user has, and they do nothing unless a test sets them.

- ``COINLSTM_TEST_STALL=SYM[,SYM]``: training of these pairs hangs after loading its candles
  (the market job's timeout and lock tests).
- ``COINLSTM_TEST_SAVE_PAUSE=SECONDS``: the save phase announces itself on stderr and sleeps
  just before the final rename of the model file (the SIGKILL-while-saving test).
- ``COINLSTM_TEST_CRASH=SYM[,SYM]``: training of these pairs kills its own process (SIGKILL)
  after loading its candles (a crashed pair costs only that pair).
- ``COINLSTM_TEST_FORK_UNSAFE=start|fork``: the fork server starts a thread after its imports
  (``start``) or after its first fork (``fork``), as a library that started one would: the
  fall-back-to-fresh-processes tests.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

STALL = "COINLSTM_TEST_STALL"
SAVE_PAUSE = "COINLSTM_TEST_SAVE_PAUSE"
SAVE_PAUSE_MARKER = "coinlstm-test: save pause"
CRASH = "COINLSTM_TEST_CRASH"
FORK_UNSAFE = "COINLSTM_TEST_FORK_UNSAFE"
_UNSAFE_THREAD = "coinlstm-test-unsafe"


def _symbols(variable: str) -> set[str]:
    return {s.strip() for s in os.environ.get(variable, "").split(",") if s.strip()}


def stall_if_asked(symbol: str) -> None:
    if symbol in _symbols(STALL):
        print(f"coinlstm-test: stalling {symbol}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def crash_if_asked(symbol: str) -> None:
    if symbol in _symbols(CRASH):
        print(f"coinlstm-test: crashing {symbol}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def break_fork_safety_if_asked(moment: str) -> None:
    """In the fork server at ``moment`` ("start" or "fork"): start a thread if asked."""
    if os.environ.get(FORK_UNSAFE) != moment:
        return
    if not any(thread.name == _UNSAFE_THREAD for thread in threading.enumerate()):
        threading.Thread(target=time.sleep, args=(3600,), name=_UNSAFE_THREAD,
                         daemon=True).start()


def pause_before_last_rename() -> None:
    seconds = float(os.environ.get(SAVE_PAUSE) or 0)
    if seconds > 0:
        print(SAVE_PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(seconds)
