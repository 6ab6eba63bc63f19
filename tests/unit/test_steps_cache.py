"""The compiled steps' store and files (train/steps), without Keras or JAX: the cache key's
sources, the layout's round trip, the checksummed files, the step signatures' file names, an
epoch's calls."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.helpers import REPO
from train.config import TrainConfig
from train.steps import cache, network
from train.steps.executables import StepSignature
from train.steps.layout import Layout, NotCompilable

PARTS = {"format": cache.FORMAT, "versions": ["j", "jl", "k"], "platform": "p", "cpu": "c"}
OPTIONS = TrainConfig(units=8)


def _layout() -> Layout:
    return Layout(paths=["layers/dense/vars/0", None, "optimizer/vars/0"],
                  shapes=[[3, 1], [2], []], dtypes=["float32", "uint32", "int32"],
                  counts=(1, 1, 1), weights=[0], unsaved={1: [7, 9]},
                  metrics=[([], "float32"), ([], "float32")], architecture='{"a": 1}')


def _key(train) -> str:
    return cache.key_of({**PARTS, "sources": cache.source_digests(train)}, OPTIONS, (1, 8))


def test_the_key_hashes_the_networks_and_every_module_of_the_steps():
    names = [p.relative_to(cache.TRAIN).as_posix() for p in cache.sources()]
    assert names[0] == "models.py"
    assert {"steps/cache.py", "steps/layout.py", "steps/executables.py", "steps/network.py",
            "steps/compiled.py", "steps/__init__.py"} <= set(names)
    assert names[1:] == sorted(names[1:])


def test_the_key_changes_with_any_source_and_nothing_else_of_the_tree(tmp_path):
    train = tmp_path / "train"
    shutil.copytree(cache.TRAIN / "steps", train / "steps",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(cache.TRAIN / "models.py", train / "models.py")
    key = _key(cache.TRAIN)
    assert _key(train) == key  # the content counts, not where it lies
    (train / "fit.py").write_text("# not a source of the steps\n")
    (train / "steps" / "notes.txt").write_text("not a module\n")
    assert _key(train) == key
    keys = {key}
    for name in ["models.py", *(f"steps/{p.name}" for p in (train / "steps").glob("*.py"))]:
        original = (train / name).read_bytes()
        (train / name).write_bytes(original + b"\n")
        keys.add(_key(train))
        (train / name).write_bytes(original)
    assert len(keys) == 2 + len(list((train / "steps").glob("*.py")))
    (train / "steps" / "extra.py").write_text("")
    assert _key(train) not in keys
    for other in (TrainConfig(units=16), TrainConfig(units=8, batch_size=64)):
        assert cache.key_of({**PARTS, "sources": cache.source_digests()}, other, (1, 8)) != key
    assert cache.key_of({**PARTS, "sources": cache.source_digests()}, OPTIONS, (2, 8)) != key


def test_the_key_is_the_same_in_every_process():
    code = ("from train.config import TrainConfig; from train.steps import cache; "
            "print(cache.key_of({'sources': cache.source_digests()}, TrainConfig(model='gru', "
            "units=4, l2=0.01, horizon=2, batch_size=32), (3, 5)))")
    keys = {subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, text=True,
                           capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}
                           ).stdout.strip() for seed in ("1", "2")}
    assert len(keys) == 1 and len(keys.pop()) == 32


def test_the_layout_round_trips_and_refuses_another_format():
    layout = _layout()
    assert Layout.from_json(layout.to_json()) == layout
    other = layout.to_json().replace(f'"format": {cache.FORMAT}', '"format": 0')
    with pytest.raises(ValueError):
        Layout.from_json(other)


def test_the_state_is_read_from_the_weights_file_and_checked(tmp_path):
    path = tmp_path / "w.weights.h5"
    with h5py.File(path, "w") as h5:
        h5["layers/dense/vars/0"] = np.arange(3, dtype=np.float32).reshape(3, 1)
        h5["optimizer/vars/0"] = np.int32(12)
    kernel, seed, steps = _layout().read_state(path)
    assert kernel.tolist() == [[0.0], [1.0], [2.0]] and steps == 12
    assert seed.dtype == np.uint32 and seed.tolist() == [7, 9]  # not saved: the layout's
    _layout().write_state(path, [kernel + 1, seed, np.int32(13)])
    assert _layout().read_state(path)[0].tolist() == [[1.0], [2.0], [3.0]]
    with h5py.File(path, "r+") as h5:
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars/0"] = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="layers/dense/vars/0 holds float32"):
        _layout().read_state(path)


def _saved_like_keras(path, **kernel_options) -> None:
    with h5py.File(path, "w") as h5:
        h5.attrs["note"] = "kept"
        h5.create_dataset("layers/dense/vars/0", data=np.arange(3, dtype=np.float32)
                          .reshape(3, 1), **kernel_options)
        h5["optimizer/vars/0"] = np.int32(12)
        h5["other"] = np.float64(1.5)  # not a state variable: kept as it is


class _Cache:
    """What CompiledNetwork asks of its step cache to save its state."""

    input_shape = (1, 1)
    layout = staticmethod(_layout)


def _saved_by_network(tmp_path, source, state, image) -> bytes:
    saved = tmp_path / "saved.weights.h5"
    network.CompiledNetwork(_Cache(), state, source, "{}", image).save_weights(str(saved))
    return saved.read_bytes()


def _saved_by_h5py(tmp_path, source, state) -> bytes:
    saved = tmp_path / "h5py.weights.h5"
    shutil.copyfile(source, saved)
    _layout().write_state(saved, state)
    return saved.read_bytes()


def test_the_state_image_writes_the_bytes_h5py_writes_in_place(tmp_path):
    """A warm run writes its state by replacing the datasets' raw bytes in the file's image
    (layout.StateImage): the very bytes h5py's in-place rewrite of a copy gives."""
    source = tmp_path / "w.weights.h5"
    _saved_like_keras(source)
    state, image = _layout().read(source)
    assert image is not None and [s.tolist() for s in state] == [
        s.tolist() for s in _layout().read_state(source)]
    new_state = [state[0] * 2 + 0.25, state[1], np.int32(13)]
    written = _saved_by_network(tmp_path, source, new_state, image)
    assert written == _saved_by_h5py(tmp_path, source, new_state)
    assert written != source.read_bytes()
    with pytest.raises(ValueError, match="bytes for a dataset of"):
        image.with_state([np.zeros((4, 1), np.float32), state[1], np.int32(13)])


@pytest.mark.parametrize("options", [{"chunks": (1, 1)}, {"compression": "gzip"}])
def test_a_dataset_not_stored_as_plain_bytes_has_no_state_image(tmp_path, options):
    """Chunked or filtered datasets are not one run of the values' bytes: a network without
    an image writes its state with h5py."""
    source = tmp_path / "w.weights.h5"
    _saved_like_keras(source, **options)
    state, image = _layout().read(source)
    assert image is None and state[0].tolist() == [[0.0], [1.0], [2.0]]
    new_state = [state[0] + 1, state[1], np.int32(5)]
    written = _saved_by_network(tmp_path, source, new_state, image)
    assert written == _saved_by_h5py(tmp_path, source, new_state)


def test_a_cache_file_that_fails_its_checksum_reads_as_missing(tmp_path):
    path = tmp_path / "steps" / "train-1x128x1x8_1x128x1.xla"
    payload = b"an executable" * 100
    cache.write_checked(path, payload)
    assert path.read_bytes()[:32] == hashlib.sha256(payload).digest()
    assert cache.read_checked(path) == payload
    assert list(path.parent.iterdir()) == [path]  # no temporary left
    data = bytearray(path.read_bytes())
    data[40] ^= 1
    path.write_bytes(bytes(data))
    assert cache.read_checked(path) is None
    assert cache.read_checked(tmp_path / "missing.xla") is None


def test_step_file_names_say_the_step_and_its_shapes():
    assert StepSignature.train((6, 128, 1, 8), (6, 128, 1), 26).file_name() == \
        "train-6x128x1x8_6x128x1.xla"
    test = StepSignature.test((4, 128, 1, 8), (4, 128, 1))
    assert test.file_name() == "test-4x128x1x8_4x128x1_4x128.xla" and test.n_outputs == 1
    assert StepSignature.predict((12, 128, 1, 8)).file_name() == "predict-12x128x1x8.xla"


def test_an_epoch_is_cut_into_chunks_single_batches_and_the_part(monkeypatch):
    monkeypatch.setattr(network, "CHUNK", 2)
    assert network.epoch_calls(73, 10) == [(0, 20), (20, 40), (40, 60), (60, 70), (70, 73)]
    assert network.epoch_calls(40, 10) == [(0, 20), (20, 40)]
    assert network.epoch_calls(5, 10) == [(0, 5)]
    assert network.epoch_calls(0, 10) == []
    rows = np.arange(12, dtype=np.float64).reshape(6, 2)
    batches = network.batched(rows, 3)
    assert batches.shape == (2, 3, 2) and batches.dtype == np.float32
    with pytest.raises(NotCompilable, match="5 rows are not whole batches of 3"):
        network.batched(rows[:5], 3)
