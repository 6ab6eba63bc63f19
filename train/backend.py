"""Choosing Keras' backend before Keras is imported, JAX's compile cache, and seeding.

Keras 3 reads KERAS_BACKEND once, at its first import; so this module never imports Keras at
module level and :func:`prepare` must run before anything imports it. Two fixed costs of a
per-pair process are cut here (docs/benchmarks.md):

- JAX compiles the training step on the first epoch and the predict function on the first
  predict. The persistent compilation cache on disk (``settings.cache_dir / "jax"``), shared by
  every pair's process, turns that into a file read for the second pair of the same shapes.
- ``keras.utils.set_random_seed`` imports TensorFlow whenever it is installed, even under
  JAX (seconds and hundreds of MB per process: docs/performance.md). :func:`seed` does what
  it does for our backends without that import.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import random
import sys
from pathlib import Path

import numpy as np

from coinlstm.core.config import SUPPORTED_BACKENDS
from coinlstm.core.errors import BadInput, CoinlstmError

TORCH_INSTALL_HINT = "pip install -e '.[torch]'"
#: The folder of the warm fine-tune's compiled steps (train/steps) under the
#: settings' cache folder, set by :func:`prepare` for JAX; None: that path is off.
_step_cache: Path | None = None


def prepare(backend: str, cache_dir: Path) -> str:
    """Select ``backend`` for the coming Keras import; BadInput if it cannot be used here."""
    if backend not in SUPPORTED_BACKENDS:
        raise BadInput(f"unknown Keras backend {backend!r}; choose one of "
                       f"{', '.join(SUPPORTED_BACKENDS)}")
    if importlib.util.find_spec(backend) is None:
        hint = TORCH_INSTALL_HINT if backend == "torch" else f"pip install {backend}"
        raise BadInput(f"Keras backend {backend!r} is not installed; install it with: {hint}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise CoinlstmError(f"Keras is already loaded with backend {current!r} in this "
                                f"process; run the {backend!r} training in a fresh process")
    os.environ["KERAS_BACKEND"] = backend
    # TensorFlow's C++ start-up chatter is not ours to print on every pair.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    global _step_cache
    _step_cache = None
    if backend == "jax":
        _enable_jax_cache(cache_dir / "jax")
        _step_cache = cache_dir / "steps"
    return backend


def step_cache_dir() -> Path | None:
    """Where train/steps keeps its executables (None until :func:`prepare` chose
    JAX in this process)."""
    return _step_cache


def _enable_jax_cache(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    # No GPU here: without this JAX probes for CUDA/TPU plugins at start-up.
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if "jax" in sys.modules:  # imported already (tests in one process): configure it live
        import jax

        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def load_keras(backend: str):
    """Import Keras (after :func:`prepare`) and check it runs on the backend asked for."""
    keras = _import_keras_without_sklearn()

    if keras.backend.backend() != backend:
        raise CoinlstmError(f"Keras loaded backend {keras.backend.backend()!r}, not "
                            f"{backend!r}; run in a fresh process")
    if backend != "tensorflow":
        keep_tensorflow_unloaded()
    return keras


def _import_keras_without_sklearn():
    """``import keras``, minus the scikit-learn (and SciPy) import it does for its SKLearn
    wrappers, which coinlstm never uses (a large share of a pair's start: docs/performance.md).

    Keras guards that import with ``try/except ImportError``; a ``None`` in ``sys.modules``
    makes it fail for just the duration of Keras' own import, so the wrappers become stubs and
    a later ``import sklearn`` anywhere in the process works as usual.
    """
    if "keras" in sys.modules or "sklearn" in sys.modules:
        import keras

        return keras
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import keras
    finally:
        del sys.modules["sklearn"]
    return keras


def find_jax_plugins() -> None:
    """Run JAX's search for PJRT plugins now, so that its backend's start later skips it.

    JAX searches once per process, at its backend's first use, and the search reads the entry
    points of every installed distribution (about 8 ms): a short process forked from a server
    that searched before forking is spared it. Searching imports and registers plugins but
    starts no thread and creates no client (the fork server counts its threads before every
    fork all the same). JAX-private, hence guarded: if the function moves, only the saving
    is lost.
    """
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - another JAX layout
        return
    search = getattr(xla_bridge, "_discover_and_register_pjrt_plugins", None)
    if search is not None:
        search()


def skip_jax_teardown() -> None:
    """Drop JAX's atexit teardown from a process about to end with ``os._exit`` (a task
    forked from the fork server, which runs the atexit handlers and then exits at once).

    The teardown clears every backend and every cache of compiled functions (about 10 ms
    once the backend has run), so that an interpreter's finalisation does not meet them half
    torn down; a process that exits without finalising has no use for it. Likewise the
    handler that jaxlib's bindings (nanobind) register to empty ``typing``'s caches (the
    functions in ``typing._cleanups``) before finalisation: in a forked child every entry it
    frees writes to a page the child still shares with its server, a copy each, for nothing
    (about 3 ms a child). Private to JAX and to ``typing``, hence guarded: if either moves,
    only the saving is lost.
    """
    api = sys.modules.get("jax._src.api")
    clean_up = getattr(api, "clean_up", None)
    if callable(clean_up):
        atexit.unregister(clean_up)
    typing_module = sys.modules.get("typing")
    if isinstance(getattr(typing_module, "_cleanups", None), list):
        typing_module._cleanups = []  # what that handler runs; read only at exit


def keep_tensorflow_unloaded() -> None:
    """Stop Keras from importing TensorFlow just to ask ``isinstance(x, tf.TensorShape)``.

    ``model.to_json()`` (keras.src.saving.serialization_lib) evaluates ``tf.available``,
    which imports TensorFlow when it is installed (+4-6 s, +400 MB under JAX). While
    TensorFlow is not imported no object can be a TensorFlow type, so answering "not
    available" changes no result. Keras-private, hence guarded: if the attribute moves, we
    only lose the saving.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        from keras.src.utils import module_utils
    except ImportError:  # pragma: no cover - another Keras layout
        return
    lazy_tf = getattr(module_utils, "tensorflow", None)
    if lazy_tf is not None and getattr(lazy_tf, "_available", False) is None:
        lazy_tf._available = False


def seed(value: int, backend: str) -> None:
    """Seed python, numpy and Keras' global seed generator; TF/torch only on their backend.

    This is ``keras.utils.set_random_seed`` minus its unconditional TensorFlow import: it stores
    the seed in Keras' global state and drops the global SeedGenerator, which Keras recreates
    from python's (now seeded) ``random`` the next time a layer's initializer needs a seed.
    """
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", value)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(value)
    np.random.seed(value)
    if backend == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(value)
    elif backend == "torch":
        import torch

        torch.manual_seed(value)
