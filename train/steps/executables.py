"""Keras' own train, test and predict steps, stepped over batches, compiled once per network
and shape and kept on disk as serialised executables.

What runs is Keras' code: each executable steps the JAX trainer's ``train_step``,
``test_step`` or ``predict_step`` (the functions ``model.fit``, ``evaluate`` and ``predict``
compile) over its batches (:func:`over_batches`), traced once from a network built by
train/models.py. Each is a pure function of flat arrays (the state in
:class:`~train.steps.layout.Layout`'s order, the loss tracker's variables, then the batches),
so its argument and result trees are known without tracing, and a later process loads the
file (``jax.experimental.serialize_executable``) and calls it without building the Keras
network.

:class:`StepCache` is one network's folder of the store (train/steps/cache.py): its layout and
its executables by :class:`StepSignature`, each compiled (from a Keras network built on
demand) where missing, and again where its file does not load or does not run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from train.models import build_model
from train.steps.cache import read_checked, write_atomically, write_checked
from train.steps.layout import Layout, layout_of

if TYPE_CHECKING:
    from train.config import TrainConfig

LAYOUT_FILE = "layout.json"

#: Executables loaded in this process, by file: each is loaded once per process. XLA:CPU does
#: not take a second load of an executable while the first lives (its calls then fail with
#: "Function ... not found"), and a process that trains several pairs (tests, ``evaluate``)
#: would otherwise load them again for each.
_LOADED: dict[Path, tuple[object, bool]] = {}  # file -> (executable, read from the file)


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
        """The outputs of batched inputs."""
        return cls("predict", ((inputs, "float32"),), 1)


def scan_steps(model, name: str, counts: tuple[int, int, int]):
    """The pure function compiled for ``name`` ("train", "test", "predict"): Keras' own step
    of ``model`` over the batches (axis 0 of each data argument; :func:`over_batches`); flat
    arrays in, a flat tuple out. ``counts``: the trainable, non-trainable and optimizer
    arrays."""
    n_t, n_n, n_o = counts
    unrolled = name == "train" and has_convolution(model)

    def train(*args):
        state = (list(args[:n_t]), list(args[n_t:n_t + n_n]),
                 list(args[n_t + n_n:n_t + n_n + n_o]), list(args[n_t + n_n + n_o:-2]))

        def step(state, batch):
            logs, state = model.train_step(state, batch)
            return state, logs["loss"]

        state, losses = over_batches(step, state, args[-2:], unrolled)
        return (*state[0], *state[1], *state[2], *state[3], losses[-1])

    def test(*args):
        state = (list(args[:n_t]), list(args[n_t:n_t + n_n]), list(args[n_t + n_n:-3]))

        def step(state, batch):
            logs, state = model.test_step(state, batch)
            return state, logs["loss"]

        _, losses = over_batches(step, state, args[-3:])
        return (losses[-1],)

    def predict(*args):
        def step(state, batch):
            outputs, _ = model.predict_step(state, batch)
            return state, outputs

        _, outputs = over_batches(step, (list(args[:n_t]), list(args[n_t:n_t + n_n])),
                                  args[-1:])
        return (outputs,)

    return {"train": train, "test": test, "predict": predict}[name]


def over_batches(step, carry, batches: tuple, unrolled: bool = False):
    """``step(carry, batch) -> (carry, output)`` over axis 0 of ``batches``: the final carry
    and the outputs stacked, as ``jax.lax.scan`` returns them.

    A single batch is one traced step (no loop: about a quarter less to compile, and no
    slower to run). Several are a ``jax.lax.scan``, unless ``unrolled``: then one traced step
    per batch. XLA's CPU backend compiles a convolution's gradient inside a loop to a plain
    loop nest, tens of times slower than the same step outside one, so a convolutional
    network's train step is unrolled (more to compile, once, for far less to run);
    a recurrent network's is not (its steps compile several times longer unrolled and run
    no faster)."""
    import jax  # see StepCache.executable()

    count = batches[0].shape[0]
    if count > 1 and not unrolled:
        return jax.lax.scan(step, carry, batches)
    outputs = []
    for index in range(count):
        carry, output = step(carry, tuple(batch[index] for batch in batches))
        outputs.append(output)
    return carry, jax.numpy.stack(outputs)


#: Keras' convolution layers (keras.layers), each a convolution in the step's graph.
CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
                "DepthwiseConv2D")


def has_convolution(model) -> bool:
    """Whether a layer of ``model``, or of a model inside it, is a convolution (see
    :func:`over_batches`)."""
    import keras  # loaded already: ``model`` is a Keras network

    kinds = tuple(getattr(keras.layers, name) for name in CONVOLUTIONS)
    return any(isinstance(layer, kinds) or (hasattr(layer, "layers") and has_convolution(layer))
               for layer in model.layers)


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
        """The layout from its file, else found from the Keras network and written
        (NotCompilable if it cannot be found)."""
        if self._layout is None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self._layout = Layout.from_json((self.folder / LAYOUT_FILE).read_text())
            if self._layout is None:
                self._layout = layout_of(self._keras_model())
                with contextlib.suppress(OSError):  # a read-only cache: found again next time
                    write_atomically(self.folder / LAYOUT_FILE,
                                     self._layout.to_json().encode())
        return self._layout

    def has(self, signature: StepSignature) -> bool:
        """Whether ``signature``'s file is in the folder (loadable or not)."""
        return (self.folder / signature.file_name()).is_file()

    def call(self, signature: StepSignature, *args) -> list:
        """Run ``signature``'s executable on ``args`` (numpy or JAX arrays): its outputs as
        JAX arrays, computed (a failure shows here, not where they are read). They stay
        JAX arrays so that the next step takes them as they are: converting a network's
        state to numpy after every step and back before the next was most of a fine-tune's
        time. An executable loaded from disk that fails to run (a file of another build that
        passed its checksum) is compiled again, once."""
        import jax  # see executable()

        def run(fresh: bool) -> list:
            return jax.block_until_ready(list(self.executable(signature, fresh)(*args)))

        try:
            return run(fresh=False)
        except (jax.errors.JaxRuntimeError, TypeError, ValueError):
            if not _LOADED[self.folder / signature.file_name()][1]:
                raise
        return run(fresh=True)

    def executable(self, signature: StepSignature, fresh: bool = False):
        """The loaded executable of ``signature``: loaded already in this process, else from
        its file, else (or when ``fresh``) compiled and its file written."""
        path = self.folder / signature.file_name()
        if path in _LOADED and not fresh:
            return _LOADED[path][0]
        # JAX costs seconds to import: this module is imported without it (for the cache's
        # file names, and by processes that never train on these steps).
        import jax
        from jax.experimental import serialize_executable

        specs = self._specs(signature)
        in_tree = jax.tree.structure((tuple(range(len(specs))), {}))
        out_tree = jax.tree.structure(tuple(range(signature.n_outputs)))
        payload = None if fresh else read_checked(path)
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
                write_checked(path, payload)
        _LOADED[path] = (executable, from_file)
        return executable

    def _specs(self, signature: StepSignature) -> list:
        """The shapes and types of the step's arguments: the state it reads (the optimizer's
        for a train step only), the loss tracker's (not for predict), then its data."""
        import jax  # see executable()

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
        that cache hands back serialises without its code (its calls then fail with
        "Function ... not found" in the process that loads it)."""
        import jax  # see executable()
        from jax.experimental.compilation_cache import compilation_cache

        model = self._keras_model()
        lowered = jax.jit(scan_steps(model, signature.name, self.layout().counts)).lower(
            *specs)
        # JAX decides once per process whether it uses its cache: the flag alone is not read
        # again until the cache is reset (with the flag alone, the test and predict steps
        # still came from that cache, and every child that loaded them compiled them again).
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
            model = build_model(self.options.model, self.input_shape, self.options,
                                blank=True)
            model.optimizer.build(model.trainable_variables)
            self._model = model
        return self._model
