"""Training on compiled steps kept on disk (JAX): Keras' own steps without Keras' per-process
tracing or its per-step dispatch.

Why: a warm pair's process fine-tunes a saved network for a few epochs of six batches: a few
milliseconds of arithmetic. Through ``model.fit`` it cost about 0.9 s of CPU in a forked child
(docs/benchmarks.md, "Where a warm forked pair's time goes"): building the Keras network and
its optimizer, loading the weights into it, and, for every step function, Keras' trace and
JAX's lowering, which run in every process even when the executable itself is a hit in JAX's
persistent cache (the hit is looked up by the lowered module's hash). Every pair of a market
runs the same network at the same shapes; so here the step functions are compiled once and
their executables written to disk, and every later process loads them (a few milliseconds
each) and calls them on arrays read straight from the saved ``.weights.h5``: no Keras model
is built on that path. A full fit (:func:`fit`) runs its epochs on the same executables: a
``fit`` epoch calls one jitted step per batch from Python, these scan the batches inside one
call (bench/train_flops.py measured the step at 1.64x numpy's matmul floor through ``fit``
and 1.00x here).

What runs is Keras' own step code: the executables are ``jax.lax.scan`` loops over the JAX
trainer's ``train_step``, ``test_step`` and ``predict_step`` (the functions ``model.fit``
compiles), traced once from a network built by train/models.py. The epoch loop around them is
``fit``'s with :class:`keras.callbacks.EarlyStopping` (train/fit.py's settings: ``min_delta``,
``patience``, best weights restored) and, for a fine-tune, train/finetune.py's rule that the
starting weights are epoch 0. tests/integration/test_compiled_steps.py checks the weights,
optimizer state and figures against Keras' ``fit`` from the same start.

Where it applies (:func:`applies`; elsewhere the callers take the Keras path): the JAX
backend and no dropout (the seed generators' state is not in the ``.weights.h5``: with
dropout a fresh process would draw other masks). An epoch is cut into calls of
:data:`CHUNK` whole batches, of one batch, and of the partial last batch, so that every
pair's epochs share two executables (the part's aside).

The cache (``settings.cache_dir / "steps"``): one folder per network, named by a hash of what
the executables depend on: the network's settings and input shape, the batch size, the
versions of JAX, jaxlib and Keras, the XLA platform, the CPU's instruction set, and the source
of train/models.py and of this module. In it, ``layout.json`` (which variable of the step
functions is which dataset of the ``.weights.h5``) and one file per compiled function and
shape (a SHA-256 of the payload first). Every file is written under a temporary name and
renamed; a file that fails its checksum, does not load or does not run is compiled again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from coinlstm.core.errors import CoinlstmError, one_line
from train.fit import MIN_DELTA, FitOutcome, batch_per_call, whole_batches

if TYPE_CHECKING:
    from train.config import TrainConfig

#: Bumped when the layout or the executables' calling convention changes.
FORMAT = 2
#: Batches per call of a long epoch (a full fit's): one executable for every pair's chunks,
#: the remaining whole batches in one call and a partial last batch in another.
CHUNK = 16
LAYOUT_FILE = "layout.json"
#: The module sources whose code the executables hold.
SOURCES = ("models.py", "compiled_steps.py")


#: Executables loaded in this process, by file: each is loaded once per process. XLA:CPU does
#: not take a second load of an executable while the first lives (its calls then fail with
#: "Function ... not found"), and a process that trains several pairs (tests, ``evaluate``)
#: would otherwise load them again for each.
_LOADED: dict[Path, tuple[object, bool]] = {}  # file -> (executable, read from the file)


class NotCompilable(CoinlstmError):
    """This network cannot run on compiled steps: the caller takes the Keras path."""


# ------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """The step functions' state, in their argument order: trainable variables, non-trainable
    ones, the optimizer's; for each the ``.weights.h5`` dataset holding it, or None (a seed
    generator's state, which Keras does not save) with the value to use instead."""

    paths: list[str | None]
    shapes: list[list[int]]
    dtypes: list[str]
    counts: tuple[int, int, int]
    #: Indices of ``model.weights`` (what EarlyStopping saves and restores).
    weights: list[int]
    unsaved: dict[int, list]
    metrics: list[tuple[list[int], str]]
    #: ``model.to_json()`` of the network (built blank, as a warm start builds it).
    architecture: str

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "paths": self.paths, "shapes": self.shapes,
                           "dtypes": self.dtypes, "counts": list(self.counts),
                           "weights": self.weights,
                           "unsaved": {str(k): v for k, v in self.unsaved.items()},
                           "metrics": self.metrics, "architecture": self.architecture})

    @classmethod
    def from_json(cls, text: str) -> Layout:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError("another format")
        return cls(paths=data["paths"], shapes=data["shapes"], dtypes=data["dtypes"],
                   counts=tuple(data["counts"]), weights=data["weights"],
                   unsaved={int(k): v for k, v in data["unsaved"].items()},
                   metrics=[(shape, dtype) for shape, dtype in data["metrics"]],
                   architecture=data["architecture"])

    def read_state(self, h5_path: str | Path) -> list[np.ndarray]:
        """Every state array from the saved ``.weights.h5`` (ValueError if one is missing or
        has another shape or type)."""
        import h5py

        arrays = []
        with h5py.File(h5_path, "r") as h5:
            for index, path in enumerate(self.paths):
                shape, dtype = tuple(self.shapes[index]), np.dtype(self.dtypes[index])
                if path is None:
                    arrays.append(np.asarray(self.unsaved[index], dtype=dtype).reshape(shape))
                    continue
                value = np.asarray(h5[path][()])
                if value.shape != shape or value.dtype != dtype:
                    raise ValueError(f"{path} holds {value.dtype}{list(value.shape)}, the "
                                     f"network {dtype}{list(shape)}")
                arrays.append(value)
        return arrays


def _layout_of(model) -> Layout:
    """Which dataset of ``save_weights``' file holds which variable: every variable set to
    its own index + 1, the file written and read back (Keras' public API only)."""
    import h5py

    variables = _state_variables(model)
    initial = [np.asarray(v.value) for v in variables]
    for index, variable in enumerate(variables):
        variable.assign(np.full(variable.shape, index + 1, dtype=variable.dtype))
    paths: list[str | None] = [None] * len(variables)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "layout.weights.h5"
        model.save_weights(str(file))

        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                values = np.unique(np.asarray(item[()]))
                if len(values) != 1 or not 1 <= int(values[0]) <= len(variables) \
                        or paths[int(values[0]) - 1] is not None:
                    raise NotCompilable(f"cannot tell which variable {name} holds")
                paths[int(values[0]) - 1] = name

        with h5py.File(file, "r") as h5:
            h5.visititems(visit)
    for variable, value in zip(variables, initial, strict=True):
        variable.assign(value)
    n_trainable = len(model.trainable_variables)
    n_non_trainable = len(model.non_trainable_variables)
    if None in paths[:n_trainable] or None in paths[n_trainable + n_non_trainable:]:
        raise NotCompilable("a trainable or optimizer variable is not in the weights file")
    index_of = {id(v): i for i, v in enumerate(variables)}
    return Layout(
        paths=paths, shapes=[list(v.shape) for v in variables],
        dtypes=[str(np.dtype(v.dtype)) for v in variables],
        counts=(n_trainable, n_non_trainable, len(model.optimizer.variables)),
        weights=[index_of[id(w)] for w in model.weights],
        unsaved={i: initial[i].tolist() for i, p in enumerate(paths) if p is None},
        metrics=[(list(v.shape), str(np.dtype(v.dtype))) for v in model.metrics_variables],
        architecture=model.to_json())


# ------------------------------------------------------------------------- the cache


def network_key(options: TrainConfig, input_shape: tuple[int, ...]) -> str:
    """The cache folder's name: a hash of everything the executables depend on (module doc)."""
    parts = {
        **_build_parts(),
        "network": [options.network_settings(), list(input_shape), options.batch_size],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@functools.cache
def _build_parts() -> dict:
    """The key's parts that hold for the whole process (read once: a full fit asks twice)."""
    import jax
    import jaxlib
    import keras

    here = Path(__file__).parent
    return {
        "format": FORMAT,
        "versions": [jax.__version__, jaxlib.__version__, keras.__version__],
        "platform": jax.devices()[0].client.platform_version,
        "cpu": _cpu_flags(),
        "sources": [hashlib.sha256((here / name).read_bytes()).hexdigest()
                    for name in SOURCES],
    }


def _cpu_flags() -> str:
    """The instruction set XLA compiled for: executables hold machine code for this CPU."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return hashlib.sha256(line.encode()).hexdigest()
    import platform

    return platform.processor() or platform.machine()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _read_checked(path: Path) -> bytes | None:
    """The payload of a cache file, or None when it is missing or fails its checksum."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, payload = data[:32], data[32:]
    return payload if hashlib.sha256(payload).digest() == digest else None


# ------------------------------------------------------------------------- the steps


def _scan_steps(model, name: str, counts: tuple[int, int, int]):
    """The pure function compiled for ``name`` ("train", "test", "predict"): Keras' own step
    scanned over the batches (axis 0 of each data argument); flat arrays in, a flat tuple
    out, so that its argument and result trees are known without tracing."""
    import jax

    n_t, n_n, n_o = counts

    if name == "train":
        def run(*args):
            trainable, non_trainable = list(args[:n_t]), list(args[n_t:n_t + n_n])
            optimizer = list(args[n_t + n_n:n_t + n_n + n_o])
            metrics, (xs, ys) = list(args[n_t + n_n + n_o:-2]), args[-2:]

            def step(state, batch):
                logs, state = model.train_step(state, batch)
                return state, logs["loss"]

            state, losses = jax.lax.scan(step, (trainable, non_trainable, optimizer, metrics),
                                         (xs, ys))
            return (*state[0], *state[1], *state[2], *state[3], losses[-1])
    elif name == "test":
        def run(*args):
            trainable, non_trainable = list(args[:n_t]), list(args[n_t:n_t + n_n])
            metrics, (xs, ys, ws) = list(args[n_t + n_n:-3]), args[-3:]

            def step(state, batch):
                logs, state = model.test_step(state, batch)
                return state, logs["loss"]

            _, losses = jax.lax.scan(step, (trainable, non_trainable, metrics), (xs, ys, ws))
            return (losses[-1],)
    else:
        def run(*args):
            trainable, non_trainable, xs = list(args[:n_t]), list(args[n_t:n_t + n_n]), args[-1]

            def step(state, x):
                outputs, _ = model.predict_step(state, (x,))
                return state, outputs

            _, outputs = jax.lax.scan(step, (trainable, non_trainable), xs)
            return (outputs,)
    return run


@dataclass(frozen=True)
class StepSignature:
    """One compiled function: its name and the shapes of its data arguments (batches first)."""

    name: str
    data: tuple[tuple[tuple[int, ...], str], ...]
    n_outputs: int

    def file_name(self) -> str:
        shapes = "_".join("x".join(map(str, shape)) for shape, _ in self.data)
        return f"{self.name}-{shapes}.xla"

    @classmethod
    def train(cls, inputs: tuple[int, ...], targets: tuple[int, ...],
              n_state: int) -> StepSignature:
        """Steps over batched ``inputs`` and ``targets`` (batches, batch size, ...): the state
        and the loss tracker's variables (``n_state`` in all) and the epoch's loss so far
        out."""
        return cls("train", ((inputs, "float32"), (targets, "float32")), n_state + 1)

    @classmethod
    def test(cls, inputs: tuple[int, ...], targets: tuple[int, ...]) -> StepSignature:
        """The loss of batched inputs, targets and sample weights (the weights: the first
        two dimensions)."""
        return cls("test", ((inputs, "float32"), (targets, "float32"),
                            (targets[:2], "float32")), 1)

    @classmethod
    def predict(cls, inputs: tuple[int, ...]) -> StepSignature:
        return cls("predict", ((inputs, "float32"),), 1)


class StepCache:
    """The network's folder of the cache: its layout, and its executables by signature,
    compiled (from a Keras network built on demand) when missing."""

    def __init__(self, folder: Path, options: TrainConfig, input_shape: tuple[int, ...]) -> None:
        self.folder = folder
        self.options = options
        self.input_shape = input_shape
        self._model = None
        self._layout: Layout | None = None

    def layout(self) -> Layout:
        if self._layout is None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._layout = Layout.from_json((self.folder / LAYOUT_FILE).read_text())
            if self._layout is None:
                self._layout = _layout_of(self._keras_model())
                with contextlib.suppress(OSError):  # a read-only cache: found again next time
                    _write_atomically(self.folder / LAYOUT_FILE,
                                      self._layout.to_json().encode())
        return self._layout

    def call(self, signature: StepSignature, *args) -> list[np.ndarray]:
        """Run ``signature``'s executable on ``args``: its outputs as numpy arrays. An
        executable loaded from disk that fails to run (a file of another build that passed
        its checksum) is compiled again, once."""
        import jax

        try:
            return [np.asarray(out) for out in self.executable(signature)(*args)]
        except (jax.errors.JaxRuntimeError, TypeError, ValueError):
            if not _LOADED[self.folder / signature.file_name()][1]:
                raise
        return [np.asarray(out) for out in self.executable(signature, fresh=True)(*args)]

    def executable(self, signature: StepSignature, fresh: bool = False):
        """The loaded executable of ``signature``: loaded already in this process, else from
        its file, else (or when ``fresh``) compiled and its file written."""
        path = self.folder / signature.file_name()
        if path in _LOADED and not fresh:
            return _LOADED[path][0]
        import jax
        from jax.experimental import serialize_executable

        specs = self._specs(signature)
        in_tree = jax.tree.structure((tuple(range(len(specs))), {}))
        out_tree = jax.tree.structure(tuple(range(signature.n_outputs)))
        payload = None if fresh else _read_checked(path)
        executable = None
        if payload is not None:
            with contextlib.suppress(Exception):  # stale or foreign: compiled again below
                executable = serialize_executable.deserialize_and_load(payload, in_tree,
                                                                       out_tree)
        from_file = executable is not None
        if executable is None:
            executable = self._compile(signature, specs)
            payload, _, _ = serialize_executable.serialize(executable)
            with contextlib.suppress(OSError):  # a read-only cache: compiled again next time
                _write_atomically(path, hashlib.sha256(payload).digest() + payload)
        _LOADED[path] = (executable, from_file)
        return executable

    def _specs(self, signature: StepSignature) -> list:
        """The shapes and types of the step's arguments: the state it reads (the optimizer's
        for a train step only), the loss tracker's (not for predict), then its data."""
        import jax

        layout = self.layout()
        n_t, n_n, n_o = layout.counts
        count = n_t + n_n + (n_o if signature.name == "train" else 0)
        arguments = list(zip(layout.shapes[:count], layout.dtypes[:count], strict=True))
        if signature.name != "predict":
            arguments += layout.metrics
        arguments += signature.data
        return [jax.ShapeDtypeStruct(tuple(shape), dtype) for shape, dtype in arguments]

    def _compile(self, signature: StepSignature, specs: list):
        """Trace Keras' step and compile it, bypassing JAX's persistent cache: an executable
        that cache hands back re-serializes without its code (measured: its calls then fail
        with "Function ... not found" in the process that loads it)."""
        import jax

        model = self._keras_model()
        lowered = jax.jit(_scan_steps(model, signature.name, self.layout().counts)).lower(
            *specs)
        # JAX decides once per process whether it uses its cache: the flag alone is not read
        # again until the cache is reset (measured: with the flag alone, the test and predict
        # steps still came from that cache, and every child that loaded them compiled them
        # again).
        from jax.experimental.compilation_cache import compilation_cache

        enabled = jax.config.jax_enable_compilation_cache
        jax.config.update("jax_enable_compilation_cache", False)
        compilation_cache.reset_cache()
        try:
            return lowered.compile()
        finally:
            jax.config.update("jax_enable_compilation_cache", enabled)
            compilation_cache.reset_cache()
    def _keras_model(self):
        """The network whose steps are compiled (built once per process, on a miss only)."""
        if self._model is None:
            from train.models import build_model

            model = build_model(self.options.model, self.input_shape, self.options,
                                blank=True)
            model.optimizer.build(model.trainable_variables)
            self._model = model
        return self._model


# ------------------------------------------------------------------------- the network


def _calls(rows: int, batch_size: int) -> list[tuple[int, int]]:
    """The row ranges of an epoch's executable calls: chunks of :data:`CHUNK` whole batches,
    then one call per whole batch left, then the partial last batch. Three executables serve
    every epoch of a network (a chunk, one batch, the part), the part's shape aside: a call
    of the few batches left would need one executable per count."""
    whole = rows // batch_size * batch_size
    chunked = whole - whole % (CHUNK * batch_size)
    calls = [(a, a + CHUNK * batch_size) for a in range(0, chunked, CHUNK * batch_size)]
    calls += [(a, a + batch_size) for a in range(chunked, whole, batch_size)]
    return calls + ([(whole, rows)] if rows > whole else [])


def _batched(array: np.ndarray, batch_size: int) -> np.ndarray:
    """``array`` as float32 batches (batches, ``batch_size``, ...): whole batches only."""
    if len(array) % batch_size:
        raise NotCompilable(f"{len(array)} rows are not whole batches of {batch_size}")
    return np.ascontiguousarray(array, dtype=np.float32).reshape(
        len(array) // batch_size, batch_size, *array.shape[1:])


class CompiledNetwork:
    """A saved network's state as arrays, stepped by :class:`StepCache`'s executables.

    It answers what the pipeline asks of a Keras model after a fine-tune (``predict``,
    ``to_json``, ``save_weights``, ``input_shape``), so the forecast, the artifacts and the
    rows are made by the same code either way.
    """

    def __init__(self, cache: StepCache, state: list[np.ndarray], source: Path,
                 architecture: str) -> None:
        # The architecture is the blank network's, as the Keras path's warm start saves it.
        self.cache = cache
        self.state = state
        self.source = source
        self.architecture = architecture
        self.input_shape = (None, *cache.input_shape)

    # What the pipeline reads.
    def to_json(self) -> str:
        return self.architecture

    def save_weights(self, path: str) -> None:
        """The source file with every saved variable replaced: the same datasets and
        attributes ``model.save_weights`` would write for this network."""
        import h5py

        shutil.copyfile(self.source, path)
        layout = self.cache.layout()
        with h5py.File(path, "r+") as h5:
            for index, dataset in enumerate(layout.paths):
                if dataset is not None:
                    h5[dataset][...] = self.state[index]

    def predict(self, inputs: np.ndarray, batch_size: int, verbose: int = 0) -> np.ndarray:
        """Outputs of ``inputs`` (whole batches: train/fit.py pads them)."""
        batches = _batched(inputs, batch_size)
        signature = StepSignature.predict(batches.shape)
        n_t, n_n, _ = self.cache.layout().counts
        (outputs,) = self.cache.call(signature, *self.state[:n_t + n_n], batches)
        return outputs.reshape(len(inputs), *outputs.shape[2:])

    # What the fine-tune does.
    def weights(self) -> list[np.ndarray]:
        return [self.state[i] for i in self.cache.layout().weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        for index, value in zip(self.cache.layout().weights, weights, strict=True):
            self.state[index] = value

    def train_epoch(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> float:
        """One epoch in order (shuffle off), a partial last batch included, as ``fit`` runs
        it: Keras' loss figure of the epoch (its loss tracker, carried from call to call)."""
        metrics = self._metrics()
        n_state = len(self.state)
        loss = float("nan")
        for start, stop in _calls(len(inputs), batch_size):
            size = min(batch_size, stop - start)
            xs, ys = _batched(inputs[start:stop], size), _batched(targets[start:stop], size)
            signature = StepSignature.train(xs.shape, ys.shape, n_state + len(metrics))
            *state, loss = self.cache.call(signature, *self.state, *metrics, xs, ys)
            self.state, metrics = state[:n_state], state[n_state:]
        return float(loss)

    def evaluate(self, inputs: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                 batch_size: int) -> float:
        """Keras' ``evaluate`` figure of whole batches with sample weights."""
        xs, ys = _batched(inputs, batch_size), _batched(targets, batch_size)
        ws = _batched(weights, batch_size)
        signature = StepSignature.test(xs.shape, ys.shape)
        n_t, n_n, _ = self.cache.layout().counts
        (loss,) = self.cache.call(signature, *self.state[:n_t + n_n], *self._metrics(),
                                  xs, ys, ws)
        return float(loss)

    def _metrics(self) -> list[np.ndarray]:
        """The loss tracker reset, as Keras resets it before every epoch and evaluate."""
        return [np.zeros(shape, dtype=dtype) for shape, dtype in self.cache.layout().metrics]



def applies(options: TrainConfig, cache_root: Path | None) -> bool:
    """Whether this network trains on compiled steps (module doc). The executables' files
    need ``jax.experimental.serialize_executable``: a JAX without it trains with Keras."""
    import importlib.util

    import keras

    return (cache_root is not None and keras.backend.backend() == "jax" and not options.dropout
            and importlib.util.find_spec("jax.experimental.serialize_executable") is not None)


def prepare(input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path | None,
            val_rows: int, predict_rows: int) -> list[str]:
    """Compile now, where missing, the steps the next warm runs of this network will load:
    a fine-tune of ``options.warm_samples``, a validation slice of ``val_rows`` and a predict
    call of ``predict_rows`` (both padded to whole batches, as train/fit.py pads them). A full
    fit calls it, so that the first warm hour of a market loads its steps instead of
    compiling them in every worker. The names of the files compiled."""
    if not applies(options, cache_root):
        return []
    try:
        return _prepare(input_shape, options, cache_root, val_rows, predict_rows)
    except Exception as exc:  # noqa: BLE001 - a saving only: the warm run compiles instead
        print(f"warm steps not compiled ahead: {one_line(exc)}", file=sys.stderr)
        return []


def _prepare(input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path,
             val_rows: int, predict_rows: int) -> list[str]:
    batch = options.batch_size
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)

    def batched(rows: int, *shape: int, size: int = batch) -> tuple[int, ...]:
        return (-(-rows // size), size, *shape)

    n_state = sum(cache.layout().counts) + len(cache.layout().metrics)
    train_calls = {(stop - start, min(batch, stop - start))
                   for start, stop in _calls(options.warm_samples, batch)}
    signatures = [
        *(StepSignature.train(batched(rows, *input_shape, size=size),
                              batched(rows, options.horizon, size=size), n_state)
          for rows, size in sorted(train_calls)),
        StepSignature.test(batched(val_rows, *input_shape), batched(val_rows, options.horizon)),
        StepSignature.predict(batched(predict_rows, *input_shape))]
    missing = [s for s in signatures if not (cache.folder / s.file_name()).is_file()]
    for signature in missing:
        cache.executable(signature)
    return [signature.file_name() for signature in missing]


def load(start, input_shape: tuple[int, ...], options: TrainConfig, cache_root: Path | None,
         train_rows: int) -> CompiledNetwork | None:
    """The saved network ``start`` on compiled steps, or None where they do not apply (module
    doc). ValueError, KeyError or OSError if the weights file does not hold this network."""
    if not isinstance(start, str | Path) or not applies(options, cache_root) or not train_rows:
        return None
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)
    try:
        layout = cache.layout()
    except NotCompilable:
        return None
    return CompiledNetwork(cache, layout.read_state(start), Path(start), layout.architecture)


def _fit_epochs(network: CompiledNetwork, train_inputs: np.ndarray,
                train_targets: np.ndarray, validation, epochs: int, batch_size: int,
                patience: int) -> tuple[list[float], list[float]]:
    """``fit_model``'s loop (train/fit.py): at most ``epochs`` epochs in order, the validation
    slice's loss after each, stopped and the best epoch's weights restored by Keras'
    EarlyStopping rule (``min_delta`` :data:`MIN_DELTA` on Keras' figure of the padded slice,
    ``patience``; the model's weights restored, not the optimizer's state). The epochs'
    losses and (unpadded) validation losses."""
    loss, val_loss = [], []
    best, best_weights, wait = None, None, 0
    for epoch in range(epochs):
        loss.append(network.train_epoch(train_inputs, train_targets, batch_size))
        current = network.evaluate(validation.inputs, validation.targets, validation.weights,
                                   batch_size)
        val_loss.append(validation.loss(current))
        if best_weights is None:
            best_weights = network.weights()
        wait += 1
        if best is None or current + MIN_DELTA < best:
            best, best_weights, wait = current, network.weights(), 0
        elif wait >= patience and epoch > 0:
            break
    if best_weights is not None:
        network.set_weights(best_weights)
    return loss, val_loss


def fit(model, train_inputs: np.ndarray, train_targets: np.ndarray, val_inputs: np.ndarray,
        val_targets: np.ndarray, options: TrainConfig, cache_root: Path | None
        ) -> FitOutcome | None:
    """``fit_model`` (train/fit.py) of a built Keras ``model`` on compiled steps, its state
    written back into the model; None where the steps do not apply (the caller fits with
    Keras). Keras' ``fit`` builds the optimizer before its first step: so does this."""
    if not applies(options, cache_root) or not len(train_inputs):
        return None
    input_shape = tuple(train_inputs.shape[1:])
    cache = StepCache(cache_root / network_key(options, input_shape), options, input_shape)
    try:
        layout = cache.layout()
    except NotCompilable:
        return None
    model.optimizer.build(model.trainable_variables)
    variables = _state_variables(model)
    if [list(v.shape) for v in variables] != layout.shapes:
        return None
    # As fit_model sets it: Keras makes its predict and train functions for the model's
    # steps_per_execution of that moment, and a fine-tune of this model in memory (evaluate's
    # warm schedule) goes on with fit_model's.
    batch_per_call(model)
    started = time.perf_counter()
    network = CompiledNetwork(cache, [np.asarray(v.value) for v in variables], Path(),
                              layout.architecture)
    validation = whole_batches(val_inputs, val_targets, options.batch_size)
    loss, val_loss = _fit_epochs(network, train_inputs, train_targets, validation,
                                 options.epochs, options.batch_size, options.patience)
    for variable, value in zip(variables, network.state, strict=True):
        variable.assign(value)
    return FitOutcome(epochs_run=len(loss),
                      best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else len(loss),
                      train_seconds=time.perf_counter() - started, loss=loss,
                      val_loss=val_loss)


def _state_variables(model) -> list:
    """The model's variables in the steps' argument order (:class:`Layout`)."""
    return [*model.trainable_variables, *model.non_trainable_variables,
            *model.optimizer.variables]


def fine_tune(network: CompiledNetwork, dataset, options: TrainConfig) -> FitOutcome:
    """train/finetune.py's fine-tune on compiled steps: the starting weights' validation loss
    (epoch 0), then at most ``options.fine_tune_epochs`` epochs of :func:`_fit_epochs`, and the
    starting weights put back when no epoch beats them."""
    split, batch = dataset.split, options.batch_size
    started = time.perf_counter()
    validation = whole_batches(dataset.inputs(split.val), dataset.scaled_targets(split.val),
                               batch)
    start_weights = network.weights()
    start_loss = validation.loss(network.evaluate(validation.inputs, validation.targets,
                                                  validation.weights, batch))
    loss, val_loss = _fit_epochs(network, dataset.inputs(split.train),
                                 dataset.scaled_targets(split.train), validation,
                                 options.fine_tune_epochs, batch, options.patience)
    outcome = FitOutcome(epochs_run=len(loss),
                         best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else len(loss),
                         train_seconds=0.0, loss=loss, val_loss=val_loss,
                         start_val_loss=start_loss)
    if not (val_loss and min(val_loss) < start_loss):
        network.set_weights(start_weights)
        outcome.best_epoch = 0
    outcome.train_seconds = time.perf_counter() - started
    return outcome
