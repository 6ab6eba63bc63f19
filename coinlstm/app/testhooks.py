"""Hooks the test-suite uses to stop a training process at a known moment.

The one place outside coinlstm.core.config that reads the environment, on purpose: these are not
settings a user has, and they do nothing unless a test sets them.

- ``COINLSTM_TEST_STALL=SYM[,SYM]``: training of these pairs hangs after loading its candles
  (the market job's timeout and lock tests).
- ``COINLSTM_TEST_SAVE_PAUSE=SECONDS``: the save phase announces itself on stderr and sleeps
  just before the final rename of the model file (the SIGKILL-while-saving test).
"""

from __future__ import annotations

import os
import sys
import time

STALL = "COINLSTM_TEST_STALL"
SAVE_PAUSE = "COINLSTM_TEST_SAVE_PAUSE"
SAVE_PAUSE_MARKER = "coinlstm-test: save pause"


def stall_if_asked(symbol: str) -> None:
    stalled = {s.strip() for s in os.environ.get(STALL, "").split(",") if s.strip()}
    if symbol in stalled:
        print(f"coinlstm-test: stalling {symbol}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def pause_before_last_rename() -> None:
    seconds = float(os.environ.get(SAVE_PAUSE) or 0)
    if seconds > 0:
        print(SAVE_PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(seconds)
