# The two commands of the README's first screen: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch: the optional --backend torch, installed here so that `make test` (and CI) covers it.
EXTRAS ?= dev,ray,torch
# pytest-xdist workers of the integration tier (0: serial, in one process). More workers than
# cores: much of the tier waits (processes starting, servers, sleeps, timeouts) rather than
# computes. docs/development.md has the measured times.
TEST_WORKERS ?= 4

.PHONY: install test demo screenshot lint bench clean-demo

install: $(VENV)/.installed-$(EXTRAS)

# pip byte-compiles what it installs one file after another; compileall does it on every core
# (docs/development.md has the times). A file that is not Python 3.11 (one of torch's own tests)
# is skipped, as pip skips it.
$(VENV)/.installed-$(EXTRAS): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -e '.[$(EXTRAS)]'
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null || true
	touch $@

# Lint and the import contract (layers import only downward) first, then the unit tier (no
# database server, no training, no ../shared: seconds), then the integration tier (real
# MySQL/MariaDB, loopback HTTP, Keras training, a headless browser) on TEST_WORKERS workers,
# handed one test at a time (--maxschedchunk 1), slowest first (tests/conftest.py); the 15
# slowest are listed at the end, so that a log shows where the tier's time goes.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(PY) -m pytest tests/unit
	bash deploy/ensure-mysql.sh
	RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 $(PY) -m pytest tests/integration -n $(TEST_WORKERS) --maxschedchunk 1 --durations 15

demo: install
	$(PY) -m coinlstm.app.demo

# The README's screenshot (docs/demo-market.png): the demo in a fresh home, its market page in
# headless chromium (apt-get install chromium chromium-driver).
screenshot: install
	$(PY) docs/screenshot.py

lint: install
	$(VENV)/bin/ruff check .
