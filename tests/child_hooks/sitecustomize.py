"""Loaded by every Python process the tests start (tests/conftest.py puts this folder on
PYTHONPATH): installs the fault hooks of :mod:`coinlstm_faults`, which do nothing unless a
test sets their environment variables, then runs the ``sitecustomize`` this one hides, if the
interpreter has one further down its path."""

import importlib.util
import os
import sys

import coinlstm_faults

coinlstm_faults.install()

_HERE = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    _candidate = os.path.join(_entry or os.curdir, "sitecustomize.py")
    if os.path.abspath(_entry or os.curdir) != _HERE and os.path.isfile(_candidate):
        _spec = importlib.util.spec_from_file_location("_hidden_sitecustomize", _candidate)
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
