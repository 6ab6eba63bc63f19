"""The project's exceptions, each carrying the exit code the CLI turns it into.

Every entry point catches :class:`CoinlstmError` once (in ``coinlstm.app.cli``) and prints its
message as a single line, so the modules below raise with a message a user can act on.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_SOME_PAIRS_FAILED = 3


def one_line(exc: BaseException) -> str:
    """What a user sees of a failure: our own message, or an unexpected error's type and
    first line (tracebacks go to ``-v``)."""
    if isinstance(exc, CoinlstmError):
        return str(exc)
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


class CoinlstmError(Exception):
    """A failure that the user should see as one line; exit code 1."""

    exit_code = EXIT_FAILURE


class BadInput(CoinlstmError):
    """The user's input (flags, ids, symbols, files, data) cannot be used; exit code 2."""

    exit_code = EXIT_BAD_INPUT


class DatabaseUnavailable(CoinlstmError):
    """The database cannot be reached or the URL is wrong.

    ``transient``: the failure may pass by itself (server restarting, lost connection, lock
    wait timeout, deadlock), so coinlstm.db.retry waits it out within its budget.
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ExchangeUnavailable(CoinlstmError):
    """The exchange (or the replay server) cannot be reached or keeps failing."""


class LockHeld(CoinlstmError):
    """Another job of the exchange holds the job lock."""


class LockLost(CoinlstmError):
    """The running job lost its job lock (database restart) and could not retake it."""


class EveryTaskFailed(CoinlstmError):
    """Every pair (task) of a ``run`` or ``evaluate`` failed on its own: exit code 3, as when
    some failed (each failure is on its own line above), with no figures to report."""

    exit_code = EXIT_SOME_PAIRS_FAILED
