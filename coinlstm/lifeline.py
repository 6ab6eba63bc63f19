"""A pair's process lives only as long as the market job that started it.

Children run in their own process group (so a timeout can kill a pair's whole group), which
also means a SIGKILLed driver would leave them running, still writing rows after the job's
lock is free. Each child therefore watches its parent and exits when the parent is gone.
"""

from __future__ import annotations

import os
import threading
import time

from coinlstm.config import ENV_PARENT_PID, ENV_TEST_STALL


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """If started by the market job, exit as soon as the job's driver has died."""
    parent = os.environ.get(ENV_PARENT_PID)
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def stall_if_asked(symbol: str, seconds: float = 600.0) -> None:
    """Test hook (COINLSTM_TEST_STALL=SYMBOL): behave like a hung training of that pair.

    Lets the tests exercise the job's real timeout and process-group kill; never set it in
    production.
    """
    if os.environ.get(ENV_TEST_STALL) == symbol:
        time.sleep(seconds)
