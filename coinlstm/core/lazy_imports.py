"""The modules package code may import inside a function instead of at the top of its module.

Everything else is imported at the top. A module is here when importing it costs a process a
measured share of its start-up that some of its paths never need (the figures are in
docs/architecture.md, "Imports inside functions"); a function-local import of any other module
is a defect.

The fork server (coinlstm/app/runtime/executors/forkserver.py) reads this list: after importing
the modules a task's process runs, it imports the modules of this list that those import
inside their functions, so that no forked child pays them.
"""

from __future__ import annotations

#: Module names (a name covers its submodules): imported inside the functions that need them.
HEAVY_MODULES: tuple[str, ...] = (
    # evaluate's charts: pyplot chooses and loads its backend (Agg) on import; a command that
    # fails its checks, or stops early, never draws
    "matplotlib",
    # evaluate --sweep's statistics (describe()): about 0.4 s that evaluate without --sweep,
    # and the market job's driver, never need
    "pandas",
    # one pair's job (training, h5py, the compiled steps, predict's writers): about 1 s of
    # the market job's driver, which only starts the pairs' processes; imported where a
    # pair's task runs in the driver's own process (a Ray worker)
    "coinlstm.app.jobs.pair_job",
    # the fork server asks JAX whether its backend is initialised only when JAX is loaded
    # already: the driver, which imports the fork server's module, never loads JAX
    "jax",
    # the Ray executor: an optional extra (pip install '.[ray]'), loaded only by --executor ray
    "ray",
)


def is_heavy(module: str) -> bool:
    """Whether ``module`` is one of :data:`HEAVY_MODULES` or inside one."""
    return any(module == heavy or module.startswith(heavy + ".") for heavy in HEAVY_MODULES)
