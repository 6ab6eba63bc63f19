"""Faults (and one option) the tests inject into the processes they start, from outside the
package code.

``sitecustomize`` (beside this file) calls :func:`install` at the start of every Python
process a test starts: the CLI, the market job, its fork server and every pair's process. It
patches package functions as their modules are imported, before any importer binds them, and
each patch reads its variable when it is called (a forked child gets its task's environment):

- ``COINLSTM_TEST_STALL=SYM[,SYM]``: a pair's candles load, then its process hangs (the
  market job's timeout, stop and lock tests).
- ``COINLSTM_TEST_CRASH=SYM[,SYM]``: a pair's candles load, then its process kills itself
  with SIGKILL (a crashed pair costs only that pair).
- ``COINLSTM_TEST_SAVE_PAUSE=SECONDS``: storing a run announces itself on stderr
  (:data:`SAVE_PAUSE_MARKER`) and sleeps just before the final rename of the model file (the
  SIGKILL-while-saving tests).
- ``COINLSTM_TEST_FORK_UNSAFE=start|fork``: a thread starts once Keras is loaded (``start``:
  in the fork server, as a library that started one at import would) or after the process's
  first fork (``fork``), so the fork server refuses to fork (the fall-back tests).
- ``COINLSTM_TEST_OPTION=1``: the training configuration (train/config.py ``TrainConfig``)
  gains one field, ``test_depth`` (flag ``--test-depth``), declared once in
  :func:`_add_an_option`: the test that an option added in one place reaches the flags, the
  pair's process and the stored settings.

This folder is on the path of the tests' child processes only; the package knows nothing of it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from importlib.abc import Loader, MetaPathFinder

STALL = "COINLSTM_TEST_STALL"
CRASH = "COINLSTM_TEST_CRASH"
SAVE_PAUSE = "COINLSTM_TEST_SAVE_PAUSE"
SAVE_PAUSE_MARKER = "coinlstm-test: save pause"
FORK_UNSAFE = "COINLSTM_TEST_FORK_UNSAFE"
OPTION = "COINLSTM_TEST_OPTION"
_UNSAFE_THREAD = "coinlstm-test-unsafe"


def _symbols(variable: str) -> set[str]:
    return {s.strip() for s in os.environ.get(variable, "").split(",") if s.strip()}


def _stall_or_crash(symbol: str) -> None:
    if symbol in _symbols(STALL):
        print(f"coinlstm-test: stalling {symbol}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    if symbol in _symbols(CRASH):
        print(f"coinlstm-test: crashing {symbol}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def _pause_before_last_rename() -> None:
    seconds = float(os.environ.get(SAVE_PAUSE) or 0)
    if seconds > 0:
        print(SAVE_PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(seconds)


def _start_unsafe_thread() -> None:
    if not any(thread.name == _UNSAFE_THREAD for thread in threading.enumerate()):
        threading.Thread(target=time.sleep, args=(3600,), name=_UNSAFE_THREAD,
                         daemon=True).start()


def _patch_candles(module) -> None:
    load_candles = module.load_candles

    @functools.wraps(load_candles)
    def loaded_then_faulted(engine, coin_id, symbol, *args, **kwargs):
        candles = load_candles(engine, coin_id, symbol, *args, **kwargs)
        _stall_or_crash(symbol)
        return candles

    module.load_candles = loaded_then_faulted


def _patch_store(module) -> None:
    store_run = module.store_run

    @functools.wraps(store_run)
    def paused_store_run(*args, **kwargs):
        if os.environ.get(SAVE_PAUSE) and kwargs.get("before_last_rename") is None:
            kwargs["before_last_rename"] = _pause_before_last_rename
        return store_run(*args, **kwargs)

    module.store_run = paused_store_run


def _patch_backend(module) -> None:
    load_keras = module.load_keras

    @functools.wraps(load_keras)
    def load_keras_then_thread(*args, **kwargs):
        keras = load_keras(*args, **kwargs)
        if os.environ.get(FORK_UNSAFE) == "start":
            _start_unsafe_thread()
        return keras

    module.load_keras = load_keras_then_thread


def _add_an_option(module) -> None:
    """``TrainConfig`` with one more option, in place of the package's, everywhere: the
    module's name and every default of its functions that named the class."""
    if not os.environ.get(OPTION):
        return
    original = module.TrainConfig

    @dataclasses.dataclass(frozen=True)
    class TrainConfig(original):
        test_depth: int = module.option(3, "a test-only option (default %(default)s)",
                                        parse=int, metavar="N", checks=(module.at_least(1),))

    module.TrainConfig = TrainConfig
    for value in list(vars(module).values()):
        if inspect.isfunction(value) and value.__defaults__:
            value.__defaults__ = tuple(TrainConfig if each is original else each
                                       for each in value.__defaults__)


#: module name -> what is patched in it right after it is executed.
PATCHES: dict[str, Callable] = {
    "train.config": _add_an_option,
    "train.candles": _patch_candles,
    "predict.store": _patch_store,
    "train.backend": _patch_backend,
}


class _PatchingLoader(Loader):
    def __init__(self, loader: Loader, patch: Callable) -> None:
        self.loader, self.patch = loader, patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        self.patch(module)


class _PatchingFinder(MetaPathFinder):
    """Finds a patched module with the other finders and wraps its loader."""

    def find_spec(self, name, path, target=None):
        patch = PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install() -> None:
    if not any(isinstance(finder, _PatchingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchingFinder())
    if os.environ.get(FORK_UNSAFE) == "fork":
        os.register_at_fork(after_in_parent=_start_unsafe_thread)
