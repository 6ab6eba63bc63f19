"""Forecasters (a Keras network, the naive baseline) behind one protocol and one registry."""

from train.forecasters.base import Forecaster
from train.forecasters.forecast import Forecast
from train.forecasters.registry import Preset, get, modules, names, register

__all__ = ["Forecast", "Forecaster", "Preset", "get", "modules", "names", "register"]
