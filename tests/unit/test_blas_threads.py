"""Importing coinlstm caps OpenBLAS at one thread (coinlstm/__init__.py says why), and an
operator's own setting wins."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO

PROBE = ("import coinlstm, numpy, threadpoolctl; "
         "print(sorted({i['num_threads'] for i in threadpoolctl.threadpool_info() "
         "if i['internal_api'] == 'openblas'}))")


def _openblas_threads(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env=env, cwd=REPO, check=True)
    return done.stdout.strip()


def test_openblas_runs_one_thread_unless_the_environment_says_otherwise():
    assert _openblas_threads({"PATH": "/usr/bin:/bin"}) == "[1]"
    assert _openblas_threads({"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "2"}) == "[2]"
