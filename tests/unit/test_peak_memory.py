"""A process's own peak memory (coinlstm/app/runtime/peak_memory.py), not its launcher's: the
figure the job's and the backfill's reports give as the driver's peak."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: The probe's own peak by peak_rss_mb, then what ru_maxrss says, in MB.
PROBE = ("import resource\n"
         "from coinlstm.app.runtime.peak_memory import peak_rss_mb\n"
         "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
BALLAST_MB = 400


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux's /proc")
def test_a_process_started_by_a_big_one_reports_its_own_peak():
    ballast = bytearray(BALLAST_MB * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # every page resident
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True, timeout=120)
    own, inherited = map(float, done.stdout.split())
    assert inherited >= BALLAST_MB  # ru_maxrss: the launcher's high-water mark, kept by exec
    assert 5 < own < BALLAST_MB / 4
    del ballast
