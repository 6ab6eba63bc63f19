"""A pair's model on disk: written atomically, loaded from one self-contained file.

Layout (under ``settings.artifacts``, one pair per file, names as the tutorial's):

- ``weights/weight_SYMBOL.weights.h5``: the weights, plus root attributes holding the
  architecture JSON, the fitted scaler JSON and the metadata (window, features, backend, run
  id, trained_at). This file is the single source of truth: :func:`load_model` reads nothing
  else.
- ``models/model_SYMBOL.json`` and ``weights/scaler_SYMBOL.json``: readable copies of the
  architecture and the scaler, for people and older tools; never read back.

Why a kill can never leave a broken or mismatched model: every file is first written under a
temporary name in its own folder (flushed and fsync'd), and only then ``os.replace``d over
the old one; the .h5 is replaced last. A rename within one folder is atomic, so at any
instant the .h5 is either the complete old model or the complete new one, with its own
architecture and scaler inside it. A kill between renames can at worst leave the readable
copies one model ahead of the .h5; the loader does not read them. Temporary files of a killed
run are removed by the next save of the same pair.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS, level_label
from coinlstm.core.config import Settings
from coinlstm.core.errors import CoinlstmError
from coinlstm.core.exchanges import exchange
from train.backend import keep_tensorflow_unloaded
from train.dataset import Dataset
from train.forecasters import Forecast
from train.warmstart import Saved, split_sizes
from train.withpairs import raw_names

ARCHITECTURE_ATTR = "coinlstm_architecture"
SCALER_ATTR = "coinlstm_scaler"
META_ATTR = "coinlstm_meta"
TEMP_MARK = ".tmp-"


@dataclass(frozen=True)
class ArtifactPaths:
    """Where one pair's files live."""

    weights: Path
    architecture: Path
    scaler: Path
    plot: Path


def artifact_paths(settings: Settings, symbol: str) -> ArtifactPaths:
    """The pair's file names; the symbol is checked first (its exchange's form, none of which
    holds a '/' or starts with '.' or '-'), so no name escapes its folder."""
    exchange(settings.exchange).check_symbol(symbol)
    return ArtifactPaths(
        weights=settings.weights_dir / f"weight_{symbol}.weights.h5",
        architecture=settings.models_dir / f"model_{symbol}.json",
        scaler=settings.weights_dir / f"scaler_{symbol}.json",
        plot=settings.plots_dir / f"{symbol}.png",
    )


def _temp_path(final: Path) -> Path:
    # Keras insists that a weights file ends in ".weights.h5": keep the final suffix.
    suffix = ".weights.h5" if final.name.endswith(".weights.h5") else final.suffix
    stem = final.name[: -len(suffix)]
    return final.with_name(f".{stem}{TEMP_MARK}{os.getpid()}-{time.time_ns()}{suffix}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(final: Path) -> None:
    """Temporaries a killed run of the same pair left behind (never another pair's)."""
    suffix = ".weights.h5" if final.name.endswith(".weights.h5") else final.suffix
    prefix = f".{final.name[: -len(suffix)]}{TEMP_MARK}"
    if final.parent.is_dir():
        for leftover in final.parent.glob(prefix + "*"):
            leftover.unlink(missing_ok=True)


@dataclass
class StagedFiles:
    """Files written under temporary names, waiting to replace their final names together.

    ``commit`` renames them in the order they were staged (stage the .h5 last); ``discard``
    deletes the temporaries and replaces nothing. ``durable=False`` leaves out the fsyncs:
    the renames stay atomic and a killed process loses nothing (the kernel holds its
    writes), only an operating system's crash may; for files whose loss costs a recomputation,
    never a model a live job relies on (the backfill's scratch chain).
    """

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    before_last_rename: Callable[[], None] | None = None
    durable: bool = True

    def stage(self, final: Path, write: Callable[[Path], None]) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(final)
        temp = _temp_path(final)
        self.pairs.append((temp, final))
        write(temp)
        if self.durable:
            _fsync(temp)
        return temp

    def stage_bytes(self, final: Path, data: bytes) -> Path | None:
        """Stage ``data`` for ``final``, unless ``final`` holds those bytes already (a
        model's architecture every hour, its scaler between full fits): then nothing is
        written, synced or renamed, and None is returned."""
        with contextlib.suppress(OSError):
            if final.read_bytes() == data:
                _remove_stale_temps(final)
                return None
        return self.stage(final, lambda path: path.write_bytes(data))

    def commit(self) -> None:
        for index, (temp, final) in enumerate(self.pairs):
            if index == len(self.pairs) - 1 and self.before_last_rename is not None:
                self.before_last_rename()
            os.replace(temp, final)
        for folder in {final.parent for _, final in self.pairs} if self.durable else ():
            _fsync(folder)
        self.pairs.clear()

    def discard(self) -> None:
        for temp, _ in self.pairs:
            temp.unlink(missing_ok=True)
        self.pairs.clear()


def stage_model(staged: StagedFiles, paths: ArtifactPaths, model, scaler_dict: dict,
                meta: dict) -> None:
    """Stage the readable copies (where they changed), then the self-contained .h5 (so it
    is renamed last)."""
    import h5py

    architecture = model.to_json()
    scaler_json = json.dumps(scaler_dict, indent=1)
    meta_json = json.dumps(meta, sort_keys=True)
    staged.stage_bytes(paths.architecture, architecture.encode())
    staged.stage_bytes(paths.scaler, scaler_json.encode())

    def write_weights(path: Path) -> None:
        model.save_weights(str(path))
        with h5py.File(path, "a") as h5:
            h5.attrs[ARCHITECTURE_ATTR] = architecture
            h5.attrs[SCALER_ATTR] = scaler_json
            h5.attrs[META_ATTR] = meta_json

    staged.stage(paths.weights, write_weights)


@dataclass
class LoadedModel:
    """A saved model with the scaler and metadata it was trained with."""

    model: object
    scaler: dict
    meta: dict


def read_attributes(settings: Settings, symbol: str) -> tuple[str, dict, dict]:
    """(architecture JSON, scaler dict, metadata dict) from the .h5, without Keras."""
    import h5py

    path = artifact_paths(settings, symbol).weights
    if not path.is_file():
        raise CoinlstmError(f"no saved model for {symbol} at {path}; train it first")
    try:
        with h5py.File(path, "r") as h5:
            architecture = _text(h5.attrs[ARCHITECTURE_ATTR])
            scaler = json.loads(_text(h5.attrs[SCALER_ATTR]))
            meta = json.loads(_text(h5.attrs[META_ATTR]))
    except (OSError, KeyError, ValueError) as exc:
        raise CoinlstmError(f"saved model {path} is not a coinlstm model: {exc}") from None
    return architecture, scaler, meta


def saved_fit(settings: Settings, symbol: str) -> tuple[Saved | None, str | None]:
    """What the warm-start decision (train/warmstart.py) needs of the pair's saved model:
    (its metadata and scaler, None); (None, None) when there is none; (None, why) when the
    file cannot be read. Every weight array is read too, so a corrupt file is found here,
    before a run relies on it, and costs a full fit rather than the run."""
    import h5py

    path = artifact_paths(settings, symbol).weights
    if not path.is_file():
        return None, None
    try:
        _, scaler, meta = read_attributes(settings, symbol)
        with h5py.File(path, "r") as h5:
            h5.visititems(_read_dataset)
    except (CoinlstmError, OSError, KeyError, ValueError, RuntimeError) as exc:
        return None, _reason(exc)
    return Saved(meta=meta, scaler=scaler), None


def _read_dataset(name: str, item) -> None:
    import h5py

    if isinstance(item, h5py.Dataset):
        item[()]


def _reason(exc: BaseException) -> str:
    """One line of why a saved model cannot be read."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


def _without_compile_config(architecture: str) -> str:
    """The architecture minus its training set-up: a forecast needs layers and weights only.

    The compile config names the optimizer class of the backend that trained the model; under
    torch that is ``keras.src.backend.torch.optimizers.torch_adam``, whose import would pull
    torch into a JAX process (or fail where torch is not installed).
    """
    config = json.loads(architecture)
    config.pop("compile_config", None)
    return json.dumps(config)


def load_model(settings: Settings, symbol: str) -> LoadedModel:
    """The pair's model from its .h5 alone (any backend: the file is backend-neutral)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        keep_tensorflow_unloaded()
    architecture, scaler, meta = read_attributes(settings, symbol)
    model = keras.models.model_from_json(_without_compile_config(architecture))
    model.load_weights(str(artifact_paths(settings, symbol).weights))
    return LoadedModel(model=model, scaler=scaler, meta=meta)


def model_meta(symbol: str, coin_id: int, run_id: str | None, backend_name: str,
               keras_version: str, settings: dict, dataset: Dataset,
               forecast: Forecast, full_fit_open_time: int | None = None) -> dict:
    """The metadata saved inside the .h5: what the model reads and what it said when saved.

    ``shrinkage`` is the formulation's calibration factor (None without one): the forecast of
    a saved model applies it (predict/forecast.py). ``bands`` holds how the prediction bands
    were made (the conformal bounds, None for a naive band) and the next closes' bands, so a
    saved model's forecast gets its bands too.

    Warm start (train/warmstart.py): ``fit`` (``settings["fit"]``: full or warm),
    ``full_fit_openTime`` (the newest candle of the last full fit: this run's own for a full
    fit, ``full_fit_open_time`` carried over for a warm one; data time, never the wall clock)
    and ``split`` (the slice sizes a warm run keeps); ``fine_tune`` says how a warm run's
    fine-tune went (the validation loss it started from; best epoch 0: the saved weights were
    kept).
    """
    return {"symbol": symbol, "id_coin": coin_id, "model": settings["model"],
            "window": dataset.window,
            "features": [*FEATURE_COLUMNS, *raw_names(dataset.with_pairs)],
            "backend": backend_name, "keras": keras_version, "run_id": run_id,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "openTime_last": int(dataset.open_times[-1]), "interval": settings["interval"],
            "options": settings, "target": dataset.target, "shrinkage": forecast.factor,
            "predicted_close": forecast.next_close, "horizon": dataset.horizon,
            "with": list(dataset.with_pairs),
            "predicted_closes": [float(v) for v in forecast.next_closes],
            "bands": _bands_meta(forecast), "fit": settings.get("fit"),
            "full_fit_openTime": (int(dataset.open_times[-1]) if full_fit_open_time is None
                                  else full_fit_open_time),
            "split": split_sizes(dataset.split), "fine_tune": _fine_tune_meta(forecast)}


def _fine_tune_meta(forecast: Forecast) -> dict | None:
    outcome = forecast.outcome
    if outcome is None or outcome.start_val_loss is None:
        return None
    return {"start_val_loss": outcome.start_val_loss, "epochs_run": outcome.epochs_run,
            "best_epoch": outcome.best_epoch,
            "best_val_loss": min([outcome.start_val_loss, *outcome.val_loss])}


def _bands_meta(forecast: Forecast) -> dict | None:
    bands = forecast.bands
    if bands is None:
        return None
    return {"method": bands.method,
            "calibration": None if bands.calibration is None else bands.calibration.to_dict(),
            "next": {level_label(band.level): {"lower": band.lower[0].tolist(),
                                               "upper": band.upper[0].tolist()}
                     for band in bands.next}}
