"""The modules package code imports inside the function that needs them, and why.

Everywhere else an import sits at the top of its module. These are the exceptions: each
costs a light command (``coinlstm --help``, ``crawl``, ``import``, ``serve``, the evaluate
driver, the market job's driver, a pair's process that never plots) a measured share of its
start-up if imported at the top, so only the function that uses it pays (the costs:
docs/performance.md and docs/architecture.md, "Imports inside functions"). A test
(tests/unit/test_lazy_imports.py) fails when a function-local import in package code names a
module outside this list.

The fork server (coinlstm/app/runtime/executors/forkserver.py) reads this list: after
importing the modules a task's process runs, it imports the modules of this list that those
import inside their functions (all but the Keras backends: it loads the one its tasks use),
so that no forked child pays them.

Project modules are listed when they import one of the others at their top (noted beside
them), so that importing their package stays light.
"""

from __future__ import annotations

#: The Keras backends and Keras itself: seconds to import; train/backend.py loads the one
#: a process chose. A preloader that is not that backend's process imports none of these.
BACKEND_MODULES: tuple[str, ...] = ("keras", "jax", "jaxlib", "tensorflow", "torch")

#: Module names (a name covers its submodules): imported inside the functions that need them.
HEAVY_MODULES: tuple[str, ...] = (
    *BACKEND_MODULES,
    # statistics (Diebold-Mariano, sign and rank tests)
    "scipy.stats",
    # the plots and evaluate's charts: pyplot chooses and loads its backend (Agg) on import;
    # a command that fails its checks, or stops early, never draws
    "matplotlib",
    # evaluate --sweep's statistics (describe()): evaluate without --sweep, and the market
    # job's driver, never need it
    "pandas",
    # the model files
    "h5py",
    "train.keras_stopping",  # keras
    "train.steps.compiled",  # h5py (train/steps/layout.py)
    "train.finetune",  # train.steps.compiled
    # one pair's job (training, h5py, the compiled steps, predict's writers): the market
    # job's driver only starts the pairs' processes; imported where a pair's task runs in
    # the driver's own process (a Ray worker)
    "coinlstm.app.jobs.pair_job",
    "coinlstm.app.jobs.backfill_pair",  # coinlstm.app.jobs.pair_job
    # the schema revisions (every process that opens a ready database skips them)
    "coinlstm.db.migrations",  # alembic
    # the MySQL driver's prepared cursors (coinlstm/db/bulk.py): the driver itself is loaded
    # by SQLAlchemy with a MySQL database's first connection, and only then
    "mysql.connector",
    # the exchanges' HTTP clients
    "requests", "binance", "ccxt",
    # the Ray executor: an optional extra (pip install '.[ray]'), loaded only by --executor ray
    "ray",
)


def is_heavy(module: str) -> bool:
    """Whether ``module`` is one of :data:`HEAVY_MODULES` or inside one of them."""
    return any(module == name or module.startswith(name + ".") for name in HEAVY_MODULES)


def is_backend(module: str) -> bool:
    """Whether ``module`` is a Keras backend (or Keras) or inside one: a process loads only
    the one it chose (train/backend.py)."""
    return any(module == name or module.startswith(name + ".") for name in BACKEND_MODULES)
