"""The modules package code imports inside the function that needs them, and why.

Everywhere else an import sits at the top of its module. These are the exceptions: each
costs a light command (``coinlstm --help``, ``crawl``, ``import``, ``serve``, the evaluate
driver, a pair's process that never plots) a noticeable part of its start-up if imported at
the top, so only the function that uses it pays (the costs: docs/performance.md). A test
(tests/unit/test_lazy_imports.py) fails when a function-local import in package code names
a module outside this list; a process that will use these anyway (the fork server) can
preload them from here.

Project modules are listed when they import one of the others at their top (noted beside
them), so that importing their package stays light.
"""

from __future__ import annotations

#: The Keras backends and Keras itself: seconds to import; train/backend.py loads the one
#: a process chose. A preloader that is not that backend's process imports none of these.
BACKEND_MODULES: tuple[str, ...] = ("keras", "jax", "jaxlib", "tensorflow", "torch")

HEAVY_MODULES: tuple[str, ...] = (
    *BACKEND_MODULES,
    # statistics (Diebold-Mariano, sign and rank tests) and the plots
    "scipy.stats",
    "matplotlib.backends.backend_agg", "matplotlib.figure", "matplotlib.ticker",
    # the model files
    "h5py",
    "train.keras_stopping",  # keras
    "train.steps.compiled",  # h5py (train/steps/layout.py)
    "train.finetune",  # train.steps.compiled
    # the schema revisions (every process that opens a ready database skips them)
    "coinlstm.db.migrations",  # alembic
    # the exchanges' HTTP clients
    "requests", "binance", "ccxt",
    # the Ray executor
    "ray",
)


def is_heavy(module: str) -> bool:
    """Whether ``module`` is one of :data:`HEAVY_MODULES` or inside one of them."""
    return any(module == name or module.startswith(name + ".") for name in HEAVY_MODULES)
