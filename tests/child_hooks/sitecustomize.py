"""Loaded by every Python process the tests start (tests/conftest.py puts this folder on
PYTHONPATH): installs the fault hooks of :mod:`coinlstm_faults`, which do nothing unless a
test sets their environment variables."""

import coinlstm_faults

coinlstm_faults.install()
