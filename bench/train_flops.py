"""Training throughput of the default model in GFLOP/s, beside numpy's float32 matmul at the
same shapes, measured in one process one after the other.

FLOPs are counted analytically: a training step of the default network (LSTM(64,
return_sequences) -> LSTM(64) -> Dense(1) at window 1, batch 128, the return target's 8 input
features) is dominated by each LSTM layer's gate matmul per time step,
[batch, inputs + units] @ [inputs + units, 4 units], 2 FLOPs per multiply-add; the backward
pass does two matmuls of the same size per forward one (gradients of the inputs and of the
weights), so a step is 3x the forward matmul FLOPs (the Dense layer counted alike; the gates'
elementwise work and Adam's update are left out, a few per cent at these shapes).

The step time is measured on the project's own model: through Keras' ``fit`` with the fit
settings of train/fit.py (``steps_per_execution``; the path of the TensorFlow and PyTorch
backends and of ``--dropout``), and on JAX also on the compiled steps every JAX full fit and
warm run trains on (train/steps: the epoch's batches scanned in one executable
call): one epoch to compile, then timed epochs over random data, divided by the steps per
epoch. The matmul floor is numpy running exactly the step's matmuls (forward and both
backward ones of every layer and time step) in rounds of as many steps. Epochs and numpy
rounds are taken in turn and the best of each is kept, because the machine is shared; the
ratio says how far the training step is from the floor.

    .venv/bin/python bench/train_flops.py            # a table
    .venv/bin/python bench/train_flops.py --json     # one JSON line (bench/latency.py reads it)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: The return target's inputs per candle (train/formulations/returns.py, RETURN_FEATURES).
DEFAULT_FEATURES = 8


def step_matmuls(batch: int, window: int, features: int, units: int,
                 outputs: int = 1) -> list[tuple[int, int, int]]:
    """(m, k, n) of every forward matmul of one step: each LSTM layer's gates per time step,
    then the Dense layer."""
    shapes = [(batch, features + units, 4 * units)] * window      # layer 1, every time step
    shapes += [(batch, units + units, 4 * units)] * window        # layer 2
    shapes.append((batch, units, outputs))                        # Dense on the last output
    return shapes


def step_flops(batch: int, window: int, features: int, units: int, outputs: int = 1) -> int:
    """Forward matmul FLOPs x 3 (forward, input gradient, weight gradient)."""
    return 3 * sum(2 * m * k * n for m, k, n in step_matmuls(batch, window, features, units,
                                                              outputs))


def numpy_round(shapes: list[tuple[int, int, int]], steps: int) -> Callable[[], float]:
    """A function timing ``steps`` steps' matmuls in numpy float32: for each forward (m, k, n)
    the forward product and the two backward ones ([m, n] @ [n, k] and [k, m] @ [m, n])."""
    import numpy as np

    rng = np.random.default_rng(0)
    operands = []
    for m, k, n in shapes:
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        g = rng.standard_normal((m, n), dtype=np.float32)
        # the products land in buffers allocated once, as a compiled step's do
        operands.append((x, w, g, x.T.copy(), w.T.copy(), np.empty((m, n), np.float32),
                         np.empty((m, k), np.float32), np.empty((k, n), np.float32)))

    def one_round() -> float:
        started = time.perf_counter()
        for _ in range(steps):
            for x, w, g, x_t, w_t, y, dx, dw in operands:
                np.matmul(x, w, out=y)
                np.matmul(g, w_t, out=dx)
                np.matmul(x_t, g, out=dw)
        return time.perf_counter() - started

    return one_round


def keras_epoch(backend: str, cache: Path, batch: int, window: int, features: int,
                units: int, steps: int) -> Callable[[], float]:
    """A function timing one epoch of ``steps`` batches of the project's default model
    (train.models), fitted the way train/fit.py fits it (steps_per_execution, shuffle off),
    on random data, without validation; the fit's set-up is outside the time."""
    from coinlstm.app.jobs.pair_job import TrainOptions
    from train import backend as backends
    from train.fit import STEPS_PER_EXECUTION
    from train.models import build_model

    backends.prepare(backend, cache)
    keras = backends.load_keras(backend)
    backends.seed(42, backend)
    import numpy as np

    options = TrainOptions(units=units, batch_size=batch, window=window)
    model = build_model(options.model, (window, features), options)
    if keras.backend.backend() != "torch":
        model.steps_per_execution = STEPS_PER_EXECUTION
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((steps * batch, window, features), dtype=np.float32)
    targets = rng.standard_normal((steps * batch, 1), dtype=np.float32)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.started)

    def one_epoch() -> float:
        model.fit(inputs, targets, epochs=1, batch_size=batch, shuffle=False, verbose=0,
                  callbacks=[Timer()])
        return times[-1]

    return one_epoch


def compiled_epoch(cache: Path, batch: int, window: int, features: int, units: int,
                   steps: int) -> Callable[[], float]:
    """A function timing one epoch of ``steps`` batches on the warm path's compiled train
    step (train/steps: Keras' train_step scanned over the epoch, one executable
    call), from the default model's saved weights; JAX only. Call after :func:`keras_epoch`
    (which prepares the backend)."""
    import numpy as np

    from coinlstm.app.jobs.pair_job import TrainOptions
    from train.models import build_model
    from train.steps import compiled

    options = TrainOptions(units=units, batch_size=batch, window=window)
    model = build_model(options.model, (window, features), options)
    model.optimizer.build(model.trainable_variables)
    weights = cache / "start.weights.h5"
    model.save_weights(str(weights))
    network = compiled.load(weights, (window, features), options, cache / "steps",
                            steps * batch)
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((steps * batch, window, features), dtype=np.float32)
    targets = rng.standard_normal((steps * batch, 1), dtype=np.float32)

    def one_epoch() -> float:
        started = time.perf_counter()
        network.train_epoch(inputs, targets, batch)
        return time.perf_counter() - started

    return one_epoch


def measure(backend: str = "jax", batch: int = 128, window: int = 1,
            features: int = DEFAULT_FEATURES, units: int = 64, steps: int = 160,
            rounds: int = 30) -> dict:
    """Numpy rounds (with the BLAS's own threads, and with one thread) and training epochs of
    ``steps`` steps, taken in turn (the machine is shared: all see the same load), after one
    of each to warm up and compile; the best of ``rounds`` each. The floor is the faster
    numpy: at these small shapes a threaded BLAS can lose to one thread, and on a loaded
    machine its threads wait for each other."""
    from threadpoolctl import threadpool_limits

    shapes = step_matmuls(batch, window, features, units)
    flops = step_flops(batch, window, features, units)
    with tempfile.TemporaryDirectory(prefix="coinlstm-flops-") as cache:
        numpy_time = numpy_round(shapes, steps)
        train_time = keras_epoch(backend, Path(cache), batch, window, features, units, steps)

        def numpy_one_thread() -> float:
            with threadpool_limits(limits=1, user_api="blas"):
                return numpy_time()

        timers = {"numpy": numpy_time, "numpy_1": numpy_one_thread, "train": train_time}
        if backend == "jax":
            timers["compiled"] = compiled_epoch(Path(cache), batch, window, features, units,
                                                steps)
        best = {name: float("inf") for name in timers}
        for round_number in range(rounds + 1):
            for name, timer in timers.items():
                seconds = timer()
                if round_number:  # round 0 warms up and compiles
                    best[name] = min(best[name], seconds)
    step_seconds = best["train"] / steps
    numpy_seconds = min(best["numpy"], best["numpy_1"]) / steps
    return {
        "backend": backend, "batch": batch, "window": window, "features": features,
        "units": units, "shapes": [list(shape) for shape in shapes],
        "step_mflop": flops / 1e6, "step_ms": step_seconds * 1e3,
        "train_gflops": flops / step_seconds / 1e9,
        "numpy_step_ms": numpy_seconds * 1e3, "numpy_gflops": flops / numpy_seconds / 1e9,
        "numpy_threaded_gflops": flops / (best["numpy"] / steps) / 1e9,
        "numpy_one_thread_gflops": flops / (best["numpy_1"] / steps) / 1e9,
        "floor_ratio": step_seconds / numpy_seconds,
        **({"compiled_step_ms": best["compiled"] / steps * 1e3,
            "compiled_gflops": flops / (best["compiled"] / steps) / 1e9,
            "compiled_floor_ratio": best["compiled"] / steps / numpy_seconds}
           if "compiled" in best else {}),
        "load": os.getloadavg()[0],
    }


def describe(result: dict) -> str:
    shapes = ", ".join(f"{m}x{k} @ {k}x{n}" for m, k, n in dict.fromkeys(
        tuple(shape) for shape in result["shapes"]))
    return (f"training step through Keras' fit ({result['backend']}, batch "
            f"{result['batch']}, window {result['window']}, {result['features']} features, "
            f"{result['units']} units; "
            f"{result['step_mflop']:.1f} MFLOP counted): {result['step_ms']:.3f} ms = "
            f"{result['train_gflops']:.1f} GFLOP/s; numpy float32 matmul at the same shapes "
            f"({shapes}, forward and both backward products): {result['numpy_step_ms']:.3f} ms "
            f"= {result['numpy_gflops']:.1f} GFLOP/s (BLAS threads "
            f"{result['numpy_threaded_gflops']:.1f}, one thread "
            f"{result['numpy_one_thread_gflops']:.1f}); the step takes "
            f"{result['floor_ratio']:.2f}x the matmul floor"
            + (f"; on compiled steps (JAX's full fits and warm runs, one call per epoch): "
               f"{result['compiled_step_ms']:.3f} ms = {result['compiled_gflops']:.1f} GFLOP/s,"
               f" {result['compiled_floor_ratio']:.2f}x the floor"
               if "compiled_step_ms" in result else "")
            + f" (load {result['load']:.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="jax", choices=("jax", "tensorflow", "torch"))
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--features", type=int, default=DEFAULT_FEATURES)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    result = measure(args.backend, window=args.window, features=args.features)
    print(json.dumps(result) if args.json else describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
