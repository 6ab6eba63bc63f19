"""The rules about a task's local process, whichever way it was started (a fresh interpreter
or a child forked from the fork server): how it is killed, what its end is called, how its
result file is read. One implementation each, for subprocess.py and forkclient.py.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (the task's process and anything it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def read_json(path: Path) -> dict | None:
    """A task's result file, or None when it wrote none (or half of one)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def exit_reason(returncode: int, log_path: Path) -> str:
    """How a process ended, in one line: its exit code or signal, then its log's last line."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        what = f"killed by signal {name}"
    else:
        what = f"exit code {returncode}"
    return f"{what}: {last_line(log_path)}".rstrip(": ")


def last_line(path: Path) -> str:
    """The last non-blank line of a log, at most 300 characters; "" for none."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
