"""The forecasters by name: what ``coinlstm evaluate --models`` accepts, in this order.

``naive`` (the last close), ``static`` and ``ewma`` (the last close with a naive prediction
band, train/forecasters/naive_bands.py), the presets ``reference`` (lstm on the close
target, the tutorial's model) and ``default`` (lstm on the return target, the tool's
default), then every network of the zoo (train/models.py) on the passed --target. A new
forecaster is one module and one :func:`register` line; processes started for a task
import :func:`modules` first, so one registered elsewhere is known there too.
"""

from __future__ import annotations

from coinlstm.core.errors import BadInput
from train.forecasters.base import Forecaster
from train.forecasters.keras_model import Network
from train.forecasters.naive import Naive
from train.forecasters.naive_bands import EWMA, STATIC
from train.models import MODEL_NAMES

_REGISTRY: dict[str, Forecaster] = {}


def register(forecaster: Forecaster) -> Forecaster:
    """Make ``forecaster`` known under its name."""
    _REGISTRY[forecaster.name] = forecaster
    return forecaster


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Forecaster:
    """The forecaster called ``name``; BadInput for an unknown one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInput(f"unknown model {name!r}; choose from {', '.join(_REGISTRY)}") from None


def modules() -> tuple[str, ...]:
    """The modules that define the registered forecasters (for a fresh process to import)."""
    return tuple(dict.fromkeys(type(each).__module__ for each in _REGISTRY.values()))


register(Naive())
register(STATIC)
register(EWMA)
register(Network("reference", {"target": "close", "model": "lstm"}))
register(Network("default", {"target": "return", "model": "lstm"}))
for _model in MODEL_NAMES:
    register(Network(_model, {"model": _model}))
