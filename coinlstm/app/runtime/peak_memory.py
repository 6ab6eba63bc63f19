"""This process's own peak resident memory, for the reports' ``peak_rss_mb`` figures.

``getrusage(RUSAGE_SELF).ru_maxrss`` is not it for a process started by exec: Linux carries
the launcher's high-water mark through the exec (``subprocess`` starts a program from a
vfork of its caller), so a job started by a 300 MB process reports at least 300 MB whatever
it uses itself. The kernel's ``VmHWM`` (/proc/self/status) is the high-water mark of the
process's own address space, which an exec starts afresh. Where /proc is missing (macOS),
ru_maxrss is the figure there is (in bytes there, in kB on Linux).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float:
    """The peak resident set of this process's own address space, in MB."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)
