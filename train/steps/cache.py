"""The compiled steps' store on disk: one folder per network, named by a hash of everything the
executables depend on, its files written atomically and checked on read.

The key (:func:`network_key`) holds the network's settings (every option the graph depends
on: ``TrainConfig.network_settings``), input shape and batch size, the
versions of JAX, jaxlib and Keras, the XLA platform, the CPU's instruction set, and the source
of train/models.py and of every module of this package (:data:`SOURCES`): an executable holds
machine code traced from that source for that CPU, so a change to any of them compiles anew.
Nothing else goes into it (no time, no process id, no hash seed), so every process of a market
finds the same folder.

Every file is written under a temporary name and renamed (:func:`write_atomically`); a data
file starts with a SHA-256 of its payload (:func:`write_checked`, :func:`read_checked`), so a
torn or damaged file reads as missing and is made again.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from train.config import TrainConfig

#: Bumped when the layout's file or the executables' calling convention changes.
FORMAT = 2
#: The folder of train/.
TRAIN = Path(__file__).resolve().parent.parent


def sources(train: Path = TRAIN) -> list[Path]:
    """The module files whose code the executables hold: train/models.py (the networks) and
    every module of train/steps (the steps, their layout and the key itself), in a fixed
    order."""
    return [train / "models.py", *sorted((train / "steps").glob("*.py"))]


def source_digests(train: Path = TRAIN) -> list[list[str]]:
    """Each source's path under ``train`` and the SHA-256 of its bytes."""
    return [[path.relative_to(train).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()]
            for path in sources(train)]


def network_key(options: TrainConfig, input_shape: tuple[int, ...]) -> str:
    """The cache folder's name for the network of ``options`` on inputs of ``input_shape``:
    a hash of everything the executables depend on (module doc)."""
    return key_of(_build_parts(), options, input_shape)


def key_of(build_parts: dict, options: TrainConfig, input_shape: tuple[int, ...]) -> str:
    """The key of ``options``' network on ``input_shape`` under ``build_parts`` (what holds
    for the whole process: :func:`_build_parts`)."""
    parts = {
        **build_parts,
        "network": [options.network_settings(), list(input_shape), options.batch_size],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@functools.cache
def _build_parts() -> dict:
    """The key's parts that hold for the whole process (read once: a full fit asks twice)."""
    # Imported here: JAX and Keras cost seconds to import, and the key is asked for only
    # where the compiled steps apply.
    import jax
    import jaxlib
    import keras

    return {
        "format": FORMAT,
        "versions": [jax.__version__, jaxlib.__version__, keras.__version__],
        "platform": jax.devices()[0].client.platform_version,
        "cpu": _cpu_flags(),
        "sources": source_digests(),
    }


def _cpu_flags() -> str:
    """The instruction set XLA compiled for: executables hold machine code for this CPU."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return hashlib.sha256(line.encode()).hexdigest()
    return platform.processor() or platform.machine()


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through a temporary name in the same folder and a rename: a
    reader sees the old file or the whole new one. OSError if it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_checked(path: Path, payload: bytes) -> None:
    """``payload`` behind its SHA-256, written atomically (what :func:`read_checked` reads)."""
    write_atomically(path, hashlib.sha256(payload).digest() + payload)


def read_checked(path: Path) -> bytes | None:
    """The payload of a file :func:`write_checked` wrote, or None when it is missing or fails
    its checksum."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    digest, payload = data[:32], data[32:]
    return payload if hashlib.sha256(payload).digest() == digest else None
