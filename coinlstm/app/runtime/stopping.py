"""SIGTERM and SIGHUP end the market job the way a fault does: closed, reported, one line.

Left to their default, they end the process on the spot: no summary, no report, and a
``job_runs`` row left ``running``. Raised as an exception in the main thread instead, they
unwind the job like any failure (the executor kills its pairs' process groups on the way).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from coinlstm.core.errors import CoinlstmError


class JobStopped(CoinlstmError):
    """SIGTERM or SIGHUP (a shutdown, cron's kill) ended the job; exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")
        self.exit_code = 128 + signum


@contextmanager
def signals_raise():
    """SIGTERM and SIGHUP raise JobStopped in the main thread (so the job closes its row,
    kills its pairs and reports) instead of ending the process on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise JobStopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
