"""The formulations by name: ``--target``, the "target" column and the saved "kind".

A new formulation is one module with one :class:`~train.formulations.base.Formulation`
subclass and one :func:`register` call (a line in :data:`BUILTIN`, or a call from any module
loaded before the name is used). Processes started for a task (``coinlstm evaluate``'s
workers) import :func:`modules` first, so a formulation registered elsewhere is known there
too.
"""

from __future__ import annotations

from coinlstm.core.errors import BadInput
from train.formulations.base import Formulation
from train.formulations.level import Level
from train.formulations.returns import Returns
from train.formulations.window import Window

#: The tool's default: the next close's log return, anchored on the last close.
DEFAULT = Returns.name
#: What a saved scaler without a "kind" is (files older than the return target).
LEGACY_KIND = Level.name

_REGISTRY: dict[str, type[Formulation]] = {}


def register(formulation: type[Formulation]) -> type[Formulation]:
    """Make ``formulation`` known under its name (a class decorator too)."""
    _REGISTRY[formulation.name] = formulation
    return formulation


def names() -> tuple[str, ...]:
    """Every --target value, the built-ins first (default, reference, window)."""
    return tuple(_REGISTRY)


def get(name: str) -> type[Formulation]:
    """The formulation called ``name``; BadInput for an unknown one."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadInput(f"unknown target {name!r}; choose one of {', '.join(_REGISTRY)}") \
            from None


def from_dict(data: dict) -> Formulation:
    """The fitted formulation saved with a model (its scaler JSON)."""
    return get(data.get("kind", LEGACY_KIND)).from_dict(data)


def modules() -> tuple[str, ...]:
    """The modules that define the registered formulations (for a fresh process to import)."""
    return tuple(dict.fromkeys(formulation.__module__ for formulation in _REGISTRY.values()))


BUILTIN: tuple[type[Formulation], ...] = (Returns, Level, Window)
for _formulation in BUILTIN:
    register(_formulation)
