"""The forecasters by name: what ``coinlstm evaluate --models`` accepts, in this order.

``naive`` (the last close), ``static`` and ``ewma`` (the last close with a naive prediction
band, train/forecasters/naive_bands.py), the presets ``reference`` (lstm on the close
target, the tutorial's model) and ``default`` (lstm on the return target, the tool's
default), then every network of the zoo (train/models.py) on the passed --target. A new
forecaster is one module and one :func:`register` line; processes started for a task
import :func:`modules` first, so one registered elsewhere is known there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from coinlstm.core.errors import BadInput
from train.dataset import Dataset
from train.forecasters.base import Forecaster
from train.forecasters.forecast import Forecast
from train.forecasters.keras_model import Network
from train.forecasters.naive import Naive
from train.forecasters.naive_bands import EWMA, STATIC, NaiveBand
from train.models import MODEL_NAMES

if TYPE_CHECKING:
    from train.config import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A registered forecaster: its class, the options it fixes (a zoo name fixes the model,
    a preset the model and the target) and the parameters of its own (``params``)."""

    name: str
    kind: type[Forecaster]
    overrides: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    #: The forecaster class's own flags (train/forecasters/base.py).
    needs_keras = property(attrgetter("kind.needs_keras"))
    seeded = property(attrgetter("kind.seeded"))
    warmable = property(attrgetter("kind.warmable"))

    def configure(self, options: TrainConfig) -> TrainConfig:
        """The options this forecaster runs with: ``options`` with its overrides."""
        return replace(options, **self.overrides) if self.overrides else options

    def network(self, options: TrainConfig) -> str:
        """The cases' "network" column: what was fitted."""
        return self.kind.network(options) or self.name

    def reported_options(self, options: TrainConfig) -> dict:
        """The options that decide this forecaster's figures (evaluate's summary.json)."""
        return self.kind.reported_options(options)

    def prepare_fit(self, seed: int, backend_name: str) -> None:
        """Before each fit of a process: a clean, seeded start."""
        self.kind.prepare_process(seed, backend_name)

    def build(self, options: TrainConfig) -> Forecaster:
        """The forecaster, built with the options it runs with."""
        return self.kind(self.configure(options), self.name, **self.params)

    def forecast(self, dataset: Dataset, options: TrainConfig, start: Any = None
                 ) -> Forecast:
        """Build, fit (from ``start`` when given) and predict: what train_one and evaluate
        call."""
        return self.build(options).fit(dataset, start).predict(dataset)


_REGISTRY: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    """Make ``preset`` known under its name."""
    _REGISTRY[preset.name] = preset
    return preset


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Preset:
    """The forecaster called ``name``; BadInput for an unknown one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInput(f"unknown model {name!r}; choose from {', '.join(_REGISTRY)}") from None


def modules() -> tuple[str, ...]:
    """The modules that define the registered forecasters (for a fresh process to import)."""
    return tuple(dict.fromkeys(each.kind.__module__ for each in _REGISTRY.values()))


register(Preset("naive", Naive))
register(Preset(STATIC, NaiveBand, params={"filtered": False}))
register(Preset(EWMA, NaiveBand, params={"filtered": True}))
register(Preset("reference", Network, {"target": "close", "model": "lstm"}))
register(Preset("default", Network, {"target": "return", "model": "lstm"}))
for _model in MODEL_NAMES:
    register(Preset(_model, Network, {"model": _model}))
