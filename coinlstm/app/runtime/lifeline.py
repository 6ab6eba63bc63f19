"""A pair's process lives only as long as the market job that started it.

Children run in their own process group (so a timeout can kill a pair's whole group), which
also means a SIGKILLed driver would leave them running, still writing rows after the job's
lock is free. Each child therefore watches its parent and exits when the parent is gone.
"""

from __future__ import annotations

import os
import threading
import time

from coinlstm.core.config import ENV_PARENT_PID


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

