"""Target formulations (one module each) behind one protocol (base.py) and one registry."""

from train.formulations.base import CLOSE_INDEX, UNCALIBRATED, Calibration, Formulation
from train.formulations.registry import DEFAULT, from_dict, get, modules, names, register

__all__ = ["CLOSE_INDEX", "DEFAULT", "UNCALIBRATED", "Calibration", "Formulation",
           "from_dict", "get", "modules", "names", "register"]
